// Package secret holds Secret, a string that never shows itself: it
// prints, marshals (JSON, YAML, text) and logs (slog) as "<secret>", so a
// configuration that holds a Slack webhook URL, a bot token or a ClickHouse
// password can be dumped, logged or wrapped in an error without leaking it.
// Only Reveal returns the value; call it where the value is used (an HTTP
// header, a DSN), never where it is shown.
//
// Secret is immutable and safe for concurrent use. Package config fills
// Secrets from a literal, a file or an environment variable; this package
// reads neither files nor the environment.
package secret

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
)

// Redacted is what a set Secret shows instead of its value.
const Redacted = "<secret>"

// Secret is a string that is never printed, marshalled or logged. The zero
// value is the empty secret, which shows as "" so that "not configured"
// stays visible; any other value shows as Redacted.
//
// The value is held by a closure: fmt and other reflection-based printers
// that walk into a Secret (one in an unexported field, which fmt cannot call
// methods on) find only a func and print its address.
type Secret struct {
	get func() string
}

// New returns a Secret holding s. New("") is the zero Secret.
func New(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{get: func() string { return s }}
}

// Reveal returns the value. Use it only to hand the value to what needs
// it, never to show it.
func (s Secret) Reveal() string {
	if s.get == nil {
		return ""
	}
	return s.get()
}

// IsZero reports whether s is empty. It also makes YAML encoders treat an
// empty Secret as empty for omitempty.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// Equal reports whether s and o hold the same value.
func (s Secret) Equal(o Secret) bool { return s.Reveal() == o.Reveal() }

func (s Secret) shown() string {
	if s.IsZero() {
		return ""
	}
	return Redacted
}

// String returns Redacted, or "" for the empty secret. It serves fmt's %v,
// %s and %q.
func (s Secret) String() string { return s.shown() }

// GoString serves fmt's %#v.
func (s Secret) GoString() string { return `secret.Secret("` + s.shown() + `")` }

// Format serves every fmt verb, so that no verb (%d, %x, %+v, ...) falls
// through to printing the struct: %#v shows GoString, the others what
// String shows.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	io.WriteString(f, s.shown())
}

// MarshalJSON encodes s as the JSON string "<secret>" (or "").
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.shown()) }

// MarshalText encodes s as "<secret>" (or ""), for encoders that use
// encoding.TextMarshaler (map keys, XML, some YAML and TOML encoders).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.shown()), nil }

// MarshalYAML encodes s as the YAML string "<secret>" (or "").
func (s Secret) MarshalYAML() (any, error) { return s.shown(), nil }

// LogValue makes slog log s as "<secret>" (or "").
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.shown()) }

var (
	_ slog.LogValuer = Secret{}
	_ json.Marshaler = Secret{}
	_ fmt.Formatter  = Secret{}
)
