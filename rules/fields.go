package rules

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
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
// length, so that no value can run into the next. In a key an address is
// written in binary (appendAddrKey), short enough for most keys to fit in
// a table slot; values turns it back into text.
type fieldSet struct {
	names []string
	get   []getter // the values as text
	key   []getter // the values as a key holds them
	dec   []func(string) string
}

func newFieldSet(names []string, v6Bits int) fieldSet {
	fs := fieldSet{names: names}
	for _, n := range names {
		g := newGetter(n, v6Bits)
		fs.get = append(fs.get, g)
		if f, ok := eventFieldMap[n]; ok && f.Type == addrType {
			off := f.Offset
			fs.key = append(fs.key, func(dst []byte, ev *event.Event) []byte {
				return appendAddrKey(dst, event.GroupAddr(*(*netip.Addr)(unsafe.Add(unsafe.Pointer(ev), off)), v6Bits))
			})
			fs.dec = append(fs.dec, addrKeyText)
			continue
		}
		fs.key = append(fs.key, g)
		fs.dec = append(fs.dec, nil)
	}
	return fs
}

// appendAddrKey appends the binary form of a grouped address: nothing when
// it is not valid, 4 and the four bytes of an IPv4 address, or 6, the
// prefix length and the bytes the prefix covers of an IPv6 one.
func appendAddrKey(dst []byte, g netip.Prefix) []byte {
	switch {
	case !g.IsValid():
		return dst
	case g.Addr().Is4():
		a := g.Addr().As4()
		return append(append(dst, 4), a[:]...)
	}
	a := g.Addr().As16()
	return append(append(dst, 6, byte(g.Bits())), a[:(g.Bits()+7)/8]...)
}

// addrKeyText turns the binary form of appendAddrKey into the text that
// the getter of the field writes.
func addrKeyText(k string) string {
	switch {
	case len(k) == 5 && k[0] == 4:
		return netip.AddrFrom4([4]byte([]byte(k[1:]))).String()
	case len(k) >= 2 && k[0] == 6 && int(k[1]) <= 128 && len(k)-2 == (int(k[1])+7)/8:
		var a [16]byte
		copy(a[:], k[2:])
		return netip.PrefixFrom(netip.AddrFrom16(a), int(k[1])).String()
	}
	return k
}

// appendKey appends the encoded values of ev to dst.
func (fs fieldSet) appendKey(dst []byte, ev *event.Event) []byte {
	for _, g := range fs.key {
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
	for i, name := range fs.names {
		if len(key) < 2 {
			return ""
		}
		n := int(binary.BigEndian.Uint16([]byte(key[:2])))
		key = key[2:]
		if n > len(key) {
			n = len(key)
		}
		m[name] = key[:n]
		if fs.dec[i] != nil {
			m[name] = fs.dec[i](key[:n])
		}
		key = key[n:]
	}
	return key
}

// copier copies a set of event fields from one event to another: the
// fields that an alert built later from a remembered event reads, so that
// remembering it need not copy the whole event. Strings, the commonest,
// are copied by offset without a call each.
type copier struct {
	strs  []uintptr // offsets of string fields
	other []func(dst, src *event.Event)
}

// alertFields are the event fields an alert reads from the event that
// fired it, besides those its summary names (Raw is kept apart).
var alertFields = []string{"ts", "src_ip", "user", "host", "geo_country"}

// newCopier returns the copier of the named fields. attrs and raw are
// never copied.
func newCopier(names []string) copier {
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	var cp copier
	for _, name := range names {
		f, ok := eventFieldMap[name]
		if !ok || name == "attrs" || name == "raw" {
			continue
		}
		off := f.Offset
		at := func(ev *event.Event) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(ev), off) }
		switch {
		case f.Type == timeType:
			cp.other = append(cp.other, func(dst, src *event.Event) { *(*time.Time)(at(dst)) = *(*time.Time)(at(src)) })
		case f.Type == addrType:
			cp.other = append(cp.other, func(dst, src *event.Event) { *(*netip.Addr)(at(dst)) = *(*netip.Addr)(at(src)) })
		case f.Type.Kind() == reflect.String:
			cp.strs = append(cp.strs, off)
		default:
			cp.other = append(cp.other, func(dst, src *event.Event) {
				reflect.NewAt(f.Type, at(dst)).Elem().Set(reflect.NewAt(f.Type, at(src)).Elem())
			})
		}
	}
	return cp
}

// copy copies the fields of src to dst.
func (cp *copier) copy(dst, src *event.Event) {
	d, s := unsafe.Pointer(dst), unsafe.Pointer(src)
	for _, off := range cp.strs {
		*(*string)(unsafe.Add(d, off)) = *(*string)(unsafe.Add(s, off))
	}
	for _, fn := range cp.other {
		fn(dst, src)
	}
}
