package source

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
)

// position is where reading of a path resumes: the file that was at the path
// and the offset just past the last line the pipeline committed from it.
type position struct {
	File   event.FileID
	Offset int64
	Head   head // the start of the file, to tell it from another with a reused inode
}

// head identifies the start of a file: the length and SHA-256 of its first
// bytes (at most headBytes).
type head struct {
	Len int
	Sum [sha256.Size]byte
}

func newHead(b []byte) head { return head{Len: len(b), Sum: sha256.Sum256(b)} }

// matches reports whether f starts with the bytes h was made of. A zero h
// matches every file.
func (h head) matches(f *os.File) bool {
	if h.Len == 0 {
		return true
	}
	buf := make([]byte, h.Len)
	n, _ := f.ReadAt(buf, 0)
	return n == h.Len && sha256.Sum256(buf) == h.Sum
}

// offsetFile is the JSON document that holds the positions of one source.
type offsetFile struct {
	Version int           `json:"version"`
	Source  string        `json:"source"`
	Files   []offsetEntry `json:"files"`
}

type offsetEntry struct {
	Path    string `json:"path"`
	Dev     uint64 `json:"dev"`
	Inode   uint64 `json:"inode"`
	Offset  int64  `json:"offset"`
	HeadLen int    `json:"head_len,omitempty"`
	HeadSum string `json:"head_sha256,omitempty"`
}

// offsetPath returns the file that holds the positions of source name.
func offsetPath(dir, name string) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
	return filepath.Join(dir, "offsets-"+safe+".json")
}

// loadOffsets reads the positions saved in path. A missing file gives none.
func loadOffsets(path string) (map[string]position, error) {
	m := make(map[string]position)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	var doc offsetFile
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if doc.Version != 1 {
		return nil, fmt.Errorf("%s: unknown version %d", path, doc.Version)
	}
	for _, e := range doc.Files {
		pos := position{File: event.FileID{Dev: e.Dev, Inode: e.Inode}, Offset: e.Offset}
		if e.HeadLen > 0 {
			sum, err := hex.DecodeString(e.HeadSum)
			if err != nil || len(sum) != sha256.Size {
				return nil, fmt.Errorf("%s: %s: bad head_sha256", path, e.Path)
			}
			pos.Head.Len = e.HeadLen
			copy(pos.Head.Sum[:], sum)
		}
		m[e.Path] = pos
	}
	return m, nil
}

// saveOffsets writes the positions to path atomically: a temporary file in
// the same directory, fsynced, renamed over path, then the directory fsynced.
func saveOffsets(path, source string, m map[string]position) error {
	doc := offsetFile{Version: 1, Source: source, Files: make([]offsetEntry, 0, len(m))}
	for p, pos := range m {
		e := offsetEntry{Path: p, Dev: pos.File.Dev, Inode: pos.File.Inode, Offset: pos.Offset}
		if pos.Head.Len > 0 {
			e.HeadLen, e.HeadSum = pos.Head.Len, hex.EncodeToString(pos.Head.Sum[:])
		}
		doc.Files = append(doc.Files, e)
	}
	slices.SortFunc(doc.Files, func(a, b offsetEntry) int { return strings.Compare(a.Path, b.Path) })
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
