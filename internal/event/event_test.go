package event

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
)

func TestNewIDDeterministicAndDistinct(t *testing.T) {
	f := FileID{Dev: 2049, Inode: 131077}
	a := NewID("auth", f, 1024, 0)
	if a != NewID("auth", f, 1024, 0) {
		t.Fatal("NewID is not deterministic")
	}
	others := []ID{
		NewID("web", f, 1024, 0),
		NewID("auth", FileID{Dev: 2049, Inode: 131078}, 1024, 0),
		NewID("auth", f, 1025, 0),
		NewID("auth", f, 1024, 1),
		NewID("aut", f, 1024, 0),
	}
	for i, o := range others {
		if o == a {
			t.Errorf("variant %d collides with the base ID %s", i, a)
		}
	}
	seen := make(map[ID]int64, 100000)
	for off := range int64(100000) {
		id := NewID("auth", f, off*80, 0)
		if prev, dup := seen[id]; dup {
			t.Fatalf("offsets %d and %d share ID %s", prev, off*80, id)
		}
		seen[id] = off * 80
	}
}

func TestIDText(t *testing.T) {
	id := NewID("auth", FileID{}, 7, 0)
	b, err := id.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back ID
	if err := back.UnmarshalText(b); err != nil {
		t.Fatal(err)
	}
	if back != id {
		t.Fatalf("round trip: got %s, want %s", back, id)
	}
	if err := back.UnmarshalText([]byte("xyz")); err == nil {
		t.Fatal("UnmarshalText accepted a short value")
	}
}

// TestJSONNamesAreCanonical holds the naming contract of DESIGN.md: every
// JSON key is the snake_case form of its Go field name.
func TestJSONNamesAreCanonical(t *testing.T) {
	typ := reflect.TypeFor[Event]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if want := snake(f.Name); key != want {
			t.Errorf("field %s has JSON key %q, want %q", f.Name, key, want)
		}
		if got := f.Tag.Get("expr"); got != key {
			t.Errorf("field %s has expr name %q, want its JSON key %q", f.Name, got, key)
		}
	}
}

func snake(s string) string {
	// Initialisms used in field names, kept as one word.
	for _, w := range []string{"HTTP", "MFA", "ASN", "PID", "AS", "IP", "ID"} {
		s = strings.ReplaceAll(s, w, w[:1]+strings.ToLower(w[1:]))
	}
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func TestEventJSON(t *testing.T) {
	ev := Event{
		Ts:     time.Date(2025, 3, 3, 9, 17, 9, 0, time.UTC),
		Kind:   KindAuth,
		Action: ActionLogin, Outcome: OutcomeFailure,
		SrcIP: netip.MustParseAddr("198.51.100.23"),
	}
	ev.SetAttr("pid", "20441")
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"src_ip":"198.51.100.23"`, `"attrs":{"pid":"20441"}`, `"event_id":"00000000000000000000000000000000"`, `"ts":"2025-03-03T09:17:09Z"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
}
