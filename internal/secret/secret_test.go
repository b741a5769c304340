package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const hidden = "xoxb-123-very-secret"

type holder struct {
	Public  string `json:"public" yaml:"public"`
	Token   Secret `json:"token" yaml:"token"`
	Ptr     *Secret
	private Secret
	List    []Secret
	Map     map[string]Secret
}

func newHolder() holder {
	s := New(hidden)
	return holder{Public: "visible", Token: s, Ptr: &s, private: s, List: []Secret{s}, Map: map[string]Secret{"k": s}}
}

func TestNeverShown(t *testing.T) {
	h := newHolder()
	var dumps []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		dumps = append(dumps, fmt.Sprintf(verb, h), fmt.Sprintf(verb, h.Token), fmt.Sprintf(verb, &h))
	}
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	dumps = append(dumps, string(j), string(y))
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("dump", "holder", h, "token", h.Token)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("dump", "holder", h, "token", h.Token, "ptr", h.Ptr)
	dumps = append(dumps, logs.String())
	for _, d := range dumps {
		if strings.Contains(d, hidden) || strings.Contains(d, fmt.Sprintf("%x", hidden)) {
			t.Errorf("secret leaked in %q", d)
		}
	}
	var back map[string]any
	if err := json.Unmarshal(j, &back); err != nil || back["token"] != Redacted {
		t.Errorf("json = %s (%v), want token shown as <secret>", j, err)
	}
	if !strings.Contains(string(y), "token: <secret>") {
		t.Errorf("yaml = %s, want token shown as <secret>", y)
	}
	if !strings.Contains(logs.String(), `"token":"<secret>"`) || !strings.Contains(logs.String(), "token=<secret>") {
		t.Errorf("logs = %s, want token shown as <secret>", logs.String())
	}
}

func TestReveal(t *testing.T) {
	if got := New(hidden).Reveal(); got != hidden {
		t.Errorf("Reveal() = %q, want %q", got, hidden)
	}
	var zero Secret
	if !zero.IsZero() || zero.Reveal() != "" || zero.String() != "" || !New("").IsZero() {
		t.Errorf("zero Secret: IsZero %v, Reveal %q, String %q", zero.IsZero(), zero.Reveal(), zero.String())
	}
	if New(hidden).IsZero() || New(hidden).String() != Redacted {
		t.Errorf("set Secret: IsZero %v, String %q", New(hidden).IsZero(), New(hidden).String())
	}
	if !New("a").Equal(New("a")) || New("a").Equal(New("b")) || !zero.Equal(New("")) {
		t.Error("Equal compares values")
	}
	if got := fmt.Sprintf("%#v", New(hidden)); got != `secret.Secret("<secret>")` {
		t.Errorf("%%#v = %s", got)
	}
}
