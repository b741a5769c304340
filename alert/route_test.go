package alert

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-sec/vigil/internal/event"
)

func TestRouteMatch(t *testing.T) {
	a := testAlert("auth-ssh-bf", "203.0.113.7", 8, time.Unix(0, 0))
	a.Tags = []string{"T1110", "auth"}
	tests := []struct {
		name  string
		route Route
		want  bool
	}{
		{"zero route", Route{}, true},
		{"severity met", Route{MinSeverity: event.SeverityHigh}, true},
		{"severity too low", Route{MinSeverity: event.SeverityCritical}, false},
		{"rule id", Route{Rules: []string{"auth-ssh-bf"}}, true},
		{"rule pattern", Route{Rules: []string{"web-*", "auth-*"}}, true},
		{"other rule", Route{Rules: []string{"web-*"}}, false},
		{"tag", Route{Tags: []string{"T1110"}}, true},
		{"other tag", Route{Tags: []string{"T1078"}}, false},
		{"all three", Route{MinSeverity: event.SeverityMedium, Rules: []string{"auth-*"}, Tags: []string{"auth"}}, true},
	}
	for _, tc := range tests {
		if got := tc.route.Match(&a); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
	}
	if err := (Route{MinSeverity: "urgent", Rules: []string{"a["}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), `unknown severity "urgent"`) || !strings.Contains(err.Error(), `rules[0]: bad pattern "a["`) {
		t.Errorf("Validate = %v, want both problems", err)
	}
}

func TestSilence(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a := testAlert("auth-ssh-bf", "203.0.113.7", 8, now)
	a.Group["user"] = "alice"
	tests := []struct {
		name string
		s    Silence
		want bool
	}{
		{"rule", Silence{Rules: []string{"auth-*"}}, true},
		{"cidr", Silence{Match: map[string]string{"src_ip": "203.0.113.0/24"}}, true},
		{"other cidr", Silence{Match: map[string]string{"src_ip": "198.51.100.0/24"}}, false},
		{"address", Silence{Match: map[string]string{"src_ip": "203.0.113.7"}}, true},
		{"user and rule", Silence{Rules: []string{"auth-ssh-bf"}, Match: map[string]string{"user": "al*"}}, true},
		{"group key", Silence{Match: map[string]string{"user": "bob"}}, false},
		{"missing group key", Silence{Match: map[string]string{"http_path": "/x"}}, false},
	}
	for _, tc := range tests {
		if err := tc.s.Validate(); err != nil {
			t.Fatalf("%s: Validate: %v", tc.name, err)
		}
		if got := tc.s.Matches(&a); got != tc.want {
			t.Errorf("%s: Matches = %v, want %v", tc.name, got, tc.want)
		}
	}
	s := Silence{Rules: []string{"x"}, Until: now}
	if s.Active(now) || !s.Active(now.Add(-time.Second)) || !(&Silence{}).Active(now) {
		t.Error("Active: a silence ends at Until, and the zero Until never ends")
	}
	bad := Silence{Match: map[string]string{"src_ip": "not-an-ip"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "neither an address nor a CIDR") {
		t.Errorf("Validate(bad src_ip) = %v", err)
	}
	if err := (&Silence{}).Validate(); err == nil {
		t.Error("Validate(empty silence) = nil, want an error: it would mute everything")
	}
}

func TestSilencesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", SilencesFile)
	got, err := LoadSilences(path)
	if err != nil || got != nil {
		t.Fatalf("LoadSilences(missing) = %v, %v", got, err)
	}
	want := []Silence{{ID: NewSilenceID(), Rules: []string{"auth-*"}, Match: map[string]string{"src_ip": "10.0.0.0/8"},
		Until: time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC), Comment: "pentest"}}
	if err := SaveSilences(path, want); err != nil {
		t.Fatal(err)
	}
	got, err = LoadSilences(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
}
