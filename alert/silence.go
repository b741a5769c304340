package alert

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// SilencesFile is the name of the file in the state directory that holds
// the silences `vigil silence` manages.
const SilencesFile = "silences.json"

// SilencesPath returns the silences file of stateDir.
func SilencesPath(stateDir string) string { return filepath.Join(stateDir, SilencesFile) }

// Silence mutes the alerts it matches until Until.
type Silence struct {
	// ID names a silence managed by `vigil silence`; config silences have
	// none.
	ID string `json:"id,omitempty"`
	// Rules are rule ids or path.Match patterns; empty matches every rule.
	Rules []string `json:"rules,omitempty"`
	// Match maps an alert field (src_ip, user, host, severity, geo_country)
	// or a group key to the value it must have. A src_ip value may be a
	// CIDR; other values may be path.Match patterns.
	Match map[string]string `json:"match,omitempty"`
	// Until ends the silence; the zero time never ends it.
	Until   time.Time `json:"until"`
	Created time.Time `json:"created,omitzero"`
	Comment string    `json:"comment,omitempty"`
}

// Validate checks the patterns and addresses of s.
func (s *Silence) Validate() error {
	var errs []error
	if len(s.Rules) == 0 && len(s.Match) == 0 {
		errs = append(errs, errors.New("matches every alert: give rules or match"))
	}
	for i, p := range s.Rules {
		if _, err := path.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("rules[%d]: bad pattern %q", i, p))
		}
	}
	for k, v := range s.Match {
		switch {
		case k == "src_ip":
			if _, err := parseAddrOrPrefix(v); err != nil {
				errs = append(errs, fmt.Errorf("match.src_ip: %q is neither an address nor a CIDR", v))
			}
		default:
			if _, err := path.Match(v, ""); err != nil {
				errs = append(errs, fmt.Errorf("match.%s: bad pattern %q", k, v))
			}
		}
	}
	return errors.Join(errs...)
}

// Active reports whether s is in force at now.
func (s *Silence) Active(now time.Time) bool {
	return s.Until.IsZero() || now.Before(s.Until)
}

// Matches reports whether s mutes a, whether or not it is active.
func (s *Silence) Matches(a *event.Alert) bool {
	if len(s.Rules) > 0 && !matchAny(s.Rules, a.Rule) {
		return false
	}
	for k, want := range s.Match {
		var got string
		switch k {
		case "src_ip":
			p, err := parseAddrOrPrefix(want)
			if err != nil || !a.SrcIP.IsValid() || !p.Contains(a.SrcIP.Unmap()) {
				return false
			}
			continue
		case "user":
			got = a.User
		case "host":
			got = a.Host
		case "severity":
			got = string(a.Severity)
		case "geo_country":
			got = a.GeoCountry
		case "rule":
			got = a.Rule
		default:
			var ok bool
			if got, ok = a.Group[k]; !ok {
				return false
			}
		}
		if !matchAny([]string{want}, got) {
			return false
		}
	}
	return true
}

func parseAddrOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// NewSilenceID returns a random silence id.
func NewSilenceID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type silencesDoc struct {
	Silences []Silence `json:"silences"`
}

// LoadSilences reads a silences file. A missing file holds no silences.
func LoadSilences(file string) ([]Silence, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var doc silencesDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for i := range doc.Silences {
		if err := doc.Silences[i].Validate(); err != nil {
			return nil, fmt.Errorf("%s: silence %d (%s): %w", file, i, doc.Silences[i].ID, err)
		}
	}
	return doc.Silences, nil
}

// SaveSilences replaces the silences file atomically.
func SaveSilences(file string, silences []Silence) error {
	if silences == nil {
		silences = []Silence{}
	}
	data, err := json.MarshalIndent(silencesDoc{Silences: silences}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(file, append(data, '\n'))
}

// writeFileAtomic writes data to a temporary file beside name, syncs it,
// renames it over name and syncs the directory, so that name holds either
// the old or the new content after a crash.
func writeFileAtomic(name string, data []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
