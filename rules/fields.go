package rules

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"github.com/vigil-sec/vigil/internal/event"
)

// getter appends the text of one event field to dst: the value a group or
// a first_seen tuple holds. src_ip (and any address field) is grouped by
// event.GroupAddr: an IPv4 address is written as itself, an IPv6 address
// as its prefix.
type getter func(dst []byte, ev *event.Event) []byte

func newGetter(name string, v6Bits int) getter {
	if attr, ok := strings.CutPrefix(name, "attrs."); ok {
		return func(dst []byte, ev *event.Event) []byte { return append(dst, ev.Attrs[attr]...) }
	}
	f := eventFieldMap[name]
	off := f.Offset
	p := func(ev *event.Event) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(ev), off) }
	switch {
	case f.Type == addrType:
		return func(dst []byte, ev *event.Event) []byte {
			g := event.GroupAddr(*(*netip.Addr)(p(ev)), v6Bits)
			switch {
			case !g.IsValid():
				return dst
			case g.Addr().Is4():
				return g.Addr().AppendTo(dst)
			}
			return g.AppendTo(dst)
		}
	case f.Type == reflect.TypeFor[event.ID]():
		return func(dst []byte, ev *event.Event) []byte { return append(dst, ev.EventID.String()...) }
	}
	switch f.Type.Kind() {
	case reflect.String:
		return func(dst []byte, ev *event.Event) []byte { return append(dst, *(*string)(p(ev))...) }
	case reflect.Bool:
		return func(dst []byte, ev *event.Event) []byte { return strconv.AppendBool(dst, *(*bool)(p(ev))) }
	case reflect.Uint16:
		return func(dst []byte, ev *event.Event) []byte {
			return strconv.AppendUint(dst, uint64(*(*uint16)(p(ev))), 10)
		}
	case reflect.Uint32:
		return func(dst []byte, ev *event.Event) []byte {
			return strconv.AppendUint(dst, uint64(*(*uint32)(p(ev))), 10)
		}
	case reflect.Uint64:
		return func(dst []byte, ev *event.Event) []byte { return strconv.AppendUint(dst, *(*uint64)(p(ev)), 10) }
	case reflect.Float64:
		return func(dst []byte, ev *event.Event) []byte {
			return strconv.AppendFloat(dst, *(*float64)(p(ev)), 'g', -1, 64)
		}
	}
	return func(dst []byte, _ *event.Event) []byte { return dst }
}

// fieldSet extracts several fields as one key: each value prefixed by its
// length, so that no value can run into the next.
type fieldSet struct {
	names []string
	get   []getter
}

func newFieldSet(names []string, v6Bits int) fieldSet {
	fs := fieldSet{names: names}
	for _, n := range names {
		fs.get = append(fs.get, newGetter(n, v6Bits))
	}
	return fs
}

// appendKey appends the encoded values of ev to dst.
func (fs fieldSet) appendKey(dst []byte, ev *event.Event) []byte {
	for _, g := range fs.get {
		at := len(dst)
		dst = append(dst, 0, 0)
		dst = g(dst, ev)
		n := len(dst) - at - 2
		if n > 0xffff {
			dst = dst[:at+2+0xffff]
			n = 0xffff
		}
		binary.BigEndian.PutUint16(dst[at:], uint16(n))
	}
	return dst
}

// values decodes key (as made by appendKey, possibly after other fields)
// into the map m, and returns what follows.
func (fs fieldSet) values(key string, m map[string]string) string {
	for _, name := range fs.names {
		if len(key) < 2 {
			return ""
		}
		n := int(binary.BigEndian.Uint16([]byte(key[:2])))
		key = key[2:]
		if n > len(key) {
			n = len(key)
		}
		m[name] = key[:n]
		key = key[n:]
	}
	return key
}
