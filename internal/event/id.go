package event

import (
	"encoding/hex"
	"fmt"
)

// ID identifies an event deterministically: the same line read from the
// same file at the same offset always gets the same ID, so an event written
// twice after a crash is recognisable as a duplicate. It is 16 bytes, stored
// as FixedString(16) in ClickHouse and written as 32 hex digits in JSON.
type ID [16]byte

// FileID identifies a file independently of its name, so that a rotated file
// keeps its identity. Dev and Inode are zero for stdin.
type FileID struct {
	Dev   uint64 `json:"dev"`
	Inode uint64 `json:"inode"`
}

// NewID returns the ID of the n-th event (counting from 0) parsed from the
// line that starts at offset in the file identified by file, read by the
// named source. A line that yields several events ("message repeated 3
// times") gives each its own n.
//
// The hash is two independent 64-bit FNV-1a passes over the same input. It is
// not cryptographic: IDs only need to be stable and practically unique.
func NewID(source string, file FileID, offset int64, n int) ID {
	const (
		prime  = 1099511628211
		basisA = 14695981039346656037
		basisB = 0x6c62272e07bb0142 // FNV-1a 64 of "vigil", an arbitrary second basis
	)
	a, b := uint64(basisA), uint64(basisB)
	mix := func(c byte) {
		a ^= uint64(c)
		a *= prime
		b ^= uint64(c)
		b *= prime
		b ^= b >> 29
	}
	for i := 0; i < len(source); i++ {
		mix(source[i])
	}
	mix(0)
	for _, v := range [...]uint64{file.Dev, file.Inode, uint64(offset), uint64(n)} {
		for s := 0; s < 64; s += 8 {
			mix(byte(v >> s))
		}
	}
	var id ID
	for i := range 8 {
		id[i] = byte(a >> (8 * i))
		id[8+i] = byte(b >> (8 * i))
	}
	return id
}

// IsZero reports whether id is unset.
func (id ID) IsZero() bool { return id == ID{} }

// String returns id as 32 lower-case hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) {
	out := make([]byte, 32)
	hex.Encode(out, id[:])
	return out, nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	if len(b) != 32 {
		return fmt.Errorf("event id: want 32 hex digits, got %d characters", len(b))
	}
	_, err := hex.Decode(id[:], b)
	if err != nil {
		return fmt.Errorf("event id: %w", err)
	}
	return nil
}
