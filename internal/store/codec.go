package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// The spool stores a batch of events as one record payload:
//
//	u32 count | u8 version | count × event
//
// An event is its fields in struct order: strings as uvarint length +
// bytes, integers as uvarints, the time as varint seconds + uvarint
// nanoseconds (zero time: seconds = math.MinInt64), floats as 8 bytes, the
// address as a length byte (0, 4 or 16) + bytes, attributes as a uvarint
// count + key/value strings in key order, the ID as 16 bytes.
const codecVersion = 1

var errShort = errors.New("record truncated")

func appendBatch(dst []byte, evs []event.Event) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(evs)))
	dst = append(dst, codecVersion)
	for i := range evs {
		dst = appendEvent(dst, &evs[i])
	}
	return dst
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendEvent(b []byte, e *event.Event) []byte {
	if e.Ts.IsZero() {
		b = binary.AppendVarint(b, math.MinInt64)
	} else {
		b = binary.AppendVarint(b, e.Ts.Unix())
		b = binary.AppendUvarint(b, uint64(e.Ts.Nanosecond()))
	}
	for _, s := range []string{e.Host, string(e.Kind), e.Source, e.Parser, e.Program} {
		b = appendStr(b, s)
	}
	b = binary.AppendUvarint(b, uint64(e.PID))
	for _, s := range []string{e.Action, string(e.Outcome), e.Reason, e.AuthMethod, e.MFA, e.User,
		string(e.UserRole), e.TargetUser, e.SessionID} {
		b = appendStr(b, s)
	}
	switch {
	case !e.SrcIP.IsValid():
		b = append(b, 0)
	case e.SrcIP.Is4():
		a := e.SrcIP.As4()
		b = append(append(b, 4), a[:]...)
	default:
		a := e.SrcIP.As16()
		b = append(append(b, 16), a[:]...)
	}
	b = binary.AppendUvarint(b, uint64(e.SrcPort))
	b = appendStr(b, e.SrcHost)
	if e.SrcHostVerified {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, s := range []string{string(e.SrcZone), e.GeoCountry, e.GeoCity} {
		b = appendStr(b, s)
	}
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.GeoLat))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.GeoLon))
	b = binary.AppendUvarint(b, uint64(e.GeoAccuracyKm))
	b = binary.AppendUvarint(b, uint64(e.ASN))
	for _, s := range []string{e.ASOrg, e.HTTPMethod, e.HTTPHost, e.HTTPPath, e.HTTPQuery} {
		b = appendStr(b, s)
	}
	b = binary.AppendUvarint(b, uint64(e.HTTPStatus))
	b = binary.AppendUvarint(b, e.HTTPBytes)
	for _, s := range []string{e.HTTPReferer, e.UserAgent, e.Severity, e.Message} {
		b = appendStr(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Attrs)))
	if len(e.Attrs) > 0 {
		keys := make([]string, 0, len(e.Attrs))
		for k := range e.Attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = appendStr(appendStr(b, k), e.Attrs[k])
		}
	}
	b = appendStr(b, e.Raw)
	return append(b, e.EventID[:]...)
}

// decoder reads a payload; the first error sticks. Strings are slices of
// one copy of the payload (s), so a batch costs one string allocation, not
// one per field.
type decoder struct {
	b   []byte // what is left to read
	s   string // the whole payload, as a string
	n   int    // len(s)
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = errShort
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errShort
		return ""
	}
	if n == 0 {
		return ""
	}
	start := d.n - len(d.b)
	d.b = d.b[n:]
	return d.s[start : start+int(n)]
}

func (d *decoder) u8() byte {
	b := d.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) f64() float64 {
	b := d.bytes(8)
	if b == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

// small returns a uvarint that must fit in bits.
func (d *decoder) small(bits int) uint64 {
	v := d.uvarint()
	if v>>bits != 0 && d.err == nil {
		d.err = fmt.Errorf("value %d out of range", v)
	}
	return v
}

// decodeBatch appends the events of a payload to dst.
func decodeBatch(dst []event.Event, p []byte) ([]event.Event, error) {
	if len(p) < 5 {
		return dst, errShort
	}
	n := binary.LittleEndian.Uint32(p)
	if p[4] != codecVersion {
		return dst, fmt.Errorf("record version %d, want %d", p[4], codecVersion)
	}
	if uint64(n) > uint64(len(p)) { // every event takes more than one byte
		return dst, fmt.Errorf("record claims %d events in %d bytes", n, len(p))
	}
	body := string(p[5:])
	d := decoder{b: p[5:], s: body, n: len(body)}
	dst = slices.Grow(dst, int(n))
	for range n {
		var e event.Event
		d.event(&e)
		if d.err != nil {
			return dst, d.err
		}
		dst = append(dst, e)
	}
	if len(d.b) != 0 {
		return dst, fmt.Errorf("%d bytes after the last event", len(d.b))
	}
	return dst, nil
}

func (d *decoder) event(e *event.Event) {
	if sec := d.varint(); sec != math.MinInt64 {
		e.Ts = time.Unix(sec, int64(d.small(30))).UTC()
	}
	e.Host, e.Kind, e.Source, e.Parser, e.Program = d.str(), event.Kind(d.str()), d.str(), d.str(), d.str()
	e.PID = uint32(d.small(32))
	e.Action, e.Outcome, e.Reason, e.AuthMethod, e.MFA, e.User = d.str(), event.Outcome(d.str()), d.str(), d.str(), d.str(), d.str()
	e.UserRole, e.TargetUser, e.SessionID = event.Role(d.str()), d.str(), d.str()
	switch n := d.u8(); n {
	case 0:
	case 4:
		if b := d.bytes(4); b != nil {
			e.SrcIP = netip.AddrFrom4([4]byte(b))
		}
	case 16:
		if b := d.bytes(16); b != nil {
			e.SrcIP = netip.AddrFrom16([16]byte(b))
		}
	default:
		if d.err == nil {
			d.err = fmt.Errorf("address length %d", n)
		}
		return
	}
	if d.err != nil {
		return
	}
	e.SrcPort = uint16(d.small(16))
	e.SrcHost = d.str()
	e.SrcHostVerified = d.u8() == 1
	e.SrcZone, e.GeoCountry, e.GeoCity = event.Zone(d.str()), d.str(), d.str()
	e.GeoLat, e.GeoLon = d.f64(), d.f64()
	e.GeoAccuracyKm = uint16(d.small(16))
	e.ASN = uint32(d.small(32))
	e.ASOrg, e.HTTPMethod, e.HTTPHost, e.HTTPPath, e.HTTPQuery = d.str(), d.str(), d.str(), d.str(), d.str()
	e.HTTPStatus = uint16(d.small(16))
	e.HTTPBytes = d.uvarint()
	e.HTTPReferer, e.UserAgent, e.Severity, e.Message = d.str(), d.str(), d.str(), d.str()
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)) {
			d.err = errShort
			return
		}
		e.Attrs = make(map[string]string, n)
		for range n {
			k := d.str()
			e.Attrs[k] = d.str()
		}
	}
	e.Raw = d.str()
	if id := d.bytes(16); id != nil {
		e.EventID = event.ID(id)
	}
}
