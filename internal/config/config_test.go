package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/ingest/enrich"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/ingest/source"
	"github.com/vigil-sec/vigil/internal/event"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/invalid")

// testEnv is the environment the tests load configs with.
var testEnv = map[string]string{
	"TEST_SLACK_TOKEN":    "xoxb-env-token-31337",
	"TEST_WEBHOOK_SECRET": "env-webhook-signing-secret",
	"TEST_SLACK_WEBHOOK":  "https://hooks.slack.com/services/T1/B1/envwebhooksecret",
	"TEST_CH_PASSWORD":    "env-ch-password-99",
}

func testLoader() Loader {
	return Loader{LookupEnv: func(name string) (string, bool) {
		v, ok := testEnv[name]
		return v, ok
	}}
}

func mustLoad(t *testing.T, path string) *Config {
	t.Helper()
	c, err := testLoader().Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return c
}

func TestDefault(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Default(), c); diff != "" {
		t.Errorf("Load(\"\") differs from Default (-want +got):\n%s", diff)
	}
	if c.StateDir != "/var/lib/vigil" || !c.Rules.Builtin || c.ClickHouse.Enabled() || !c.Alerts.Stdout ||
		c.Metrics.Listen != "127.0.0.1:9464" || len(c.Sources) != 0 {
		t.Errorf("Default() = %+v, want state in /var/lib/vigil, builtin rules, no ClickHouse, stdout alerts", c)
	}
	if diff := cmp.Diff(enrich.DefaultInternal(), c.NetworkConfig().Internal); diff != "" {
		t.Errorf("default internal networks (-want +got):\n%s", diff)
	}
	// The defaults must pass their own validation.
	empty := mustLoad(t, "testdata/empty.good.yml")
	want := Default()
	want.File = empty.File
	if diff := cmp.Diff(want, empty); diff != "" {
		t.Errorf("a file of comments differs from Default (-want +got):\n%s", diff)
	}
}

func TestGoodFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.good.yml")
	if len(files) < 3 {
		t.Fatalf("found %d good files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { mustLoad(t, f) })
	}
}

func TestMinimal(t *testing.T) {
	c := mustLoad(t, "testdata/minimal.good.yml")
	want := Source{Name: "auth", Paths: []string{"/var/log/auth.log"}, Format: "auto", Start: "beginning", MaxLineBytes: ByteSize(source.DefaultMaxLineBytes)}
	if diff := cmp.Diff([]Source{want}, c.Sources); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	if c.Sources[0].Exclude != nil {
		t.Errorf("exclude = %#v, want nil (source.DefaultExclude)", c.Sources[0].Exclude)
	}
	fc := c.FileConfig(c.Sources[0])
	if fc.StateDir != "/var/lib/vigil/offsets" || fc.StartAt != source.StartBeginning || fc.MaxLineBytes != source.DefaultMaxLineBytes {
		t.Errorf("FileConfig = %+v", fc)
	}
}

func TestFull(t *testing.T) {
	c := mustLoad(t, "testdata/full.good.yml")
	dir, _ := filepath.Abs("testdata")
	abs := func(p string) string { return filepath.Join(dir, p) }

	if c.StateDir != abs("state") {
		t.Errorf("state_dir = %q, want %q", c.StateDir, abs("state"))
	}
	if diff := cmp.Diff([]string{abs("logs/auth.log"), "/var/log/secure"}, c.Sources[0].Paths); diff != "" {
		t.Errorf("relative source paths (-want +got):\n%s", diff)
	}
	if c.ListFiles["sensitive_paths"] != abs("lists/sensitive.txt") || c.Enrich.GeoIP.City != abs("geo/City.mmdb") ||
		c.Rules.Paths[0] != abs("rules.d") || c.Rules.Paths[1] != "/etc/vigil/rules.d" {
		t.Errorf("relative paths not resolved: %v %v %v", c.ListFiles, c.Enrich.GeoIP, c.Rules.Paths)
	}
	if got := c.ClickHouse.Password.Reveal(); got != "ch-file-password-42" {
		t.Errorf("clickhouse password from file = %q, want it trimmed", got)
	}
	if got := c.Alerts.Slack[0].WebhookURL.Reveal(); got != "https://hooks.slack.com/services/T000/B000/filewebhooksecret" {
		t.Errorf("slack webhook from file = %q", got)
	}
	if c.Alerts.Slack[0].WebhookURLFile != abs("secrets/slack-webhook") {
		t.Errorf("webhook_url_file = %q, want it absolute", c.Alerts.Slack[0].WebhookURLFile)
	}
	if got := c.Alerts.Slack[1].Token.Reveal(); got != testEnv["TEST_SLACK_TOKEN"] {
		t.Errorf("slack token from ${ENV} = %q", got)
	}
	if got := c.Alerts.Webhook[0].Secret.Reveal(); got != testEnv["TEST_WEBHOOK_SECRET"] {
		t.Errorf("webhook secret from ${ENV} = %q", got)
	}
	if c.Alerts.Stdout {
		t.Error("stdout defaults to true although receivers are configured")
	}
	if got := c.Receivers(); !reflect.DeepEqual(got, []string{"slack-0", "oncall", "webhook-0"}) {
		t.Errorf("Receivers() = %v", got)
	}
	if c.ClickHouse.Database != "events" || c.ClickHouse.BatchRows != 5000 || c.ClickHouse.Retention != 30*24*time.Hour ||
		c.ClickHouse.SpoolMaxBytes != 512<<20 || c.ClickHouse.Address() != "127.0.0.1:9000" {
		t.Errorf("clickhouse = %+v", c.ClickHouse)
	}
	if c.Archive.MaxBytes != 100_000_000 || c.Alerts.RepeatInterval != 24*time.Hour || c.Alerts.GroupWait != 0 {
		t.Errorf("archive %v, repeat_interval %v, group_wait %v", c.Archive.MaxBytes, c.Alerts.RepeatInterval, c.Alerts.GroupWait)
	}
	if s := c.Alerts.Silences[0]; !s.Until.Equal(time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)) || s.Match["user"] != "scanner" {
		t.Errorf("silence = %+v", s)
	}
	if r := c.Alerts.Slack[1]; r.MinSeverity != event.SeverityInfo || r.PII != PIIRemove || r.APIURL != "http://127.0.0.1:8080/api/" {
		t.Errorf("slack[1] = %+v", r)
	}

	// Conversions to the components' own configuration types.
	if r := c.RDNSConfig(); r.When != "false" || r.Timeout != 500*time.Millisecond || r.CacheSize != 5000 ||
		r.PositiveTTL != enrich.DefaultRDNSPositiveTTL || r.Server != "192.0.2.53:5353" {
		t.Errorf("RDNSConfig() = %+v, want disabled (when false) with the given and default values", r)
	}
	if err := c.RDNSConfig().Validate(); err != nil {
		t.Errorf("RDNSConfig().Validate() = %v", err)
	}
	if g := c.GeoConfig(); g.City != abs("geo/City.mmdb") || g.CheckInterval != 2*time.Minute || !g.InMemory {
		t.Errorf("GeoConfig() = %+v", g)
	}
	if n := c.NetworkConfig(); n.Validate() != nil || len(n.Trusted) != 2 || n.Internal[0] != "10.0.0.0/8" {
		t.Errorf("NetworkConfig() = %+v", n)
	}
	for _, s := range c.Sources {
		opts, err := c.ParseOptions(s)
		if err != nil {
			t.Fatalf("ParseOptions(%s): %v", s.Name, err)
		}
		if _, err := parse.New(s.Format, opts); err != nil {
			t.Errorf("parse.New(%s) with the config's options: %v", s.Format, err)
		}
		if s.Name == "web" && len(opts.TrustedProxies) != 3 {
			t.Errorf("web trusted proxies = %v, want network's and the source's", opts.TrustedProxies)
		}
		if s.Name == "auth" && opts.Location.String() != "Europe/Berlin" {
			t.Errorf("auth location = %v", opts.Location)
		}
	}
	fc := c.FileConfig(c.Sources[1])
	if fc.StartAt != source.StartEnd || fc.MaxLineBytes != 128<<10 || fc.StateDir != filepath.Join(abs("state"), "offsets") {
		t.Errorf("FileConfig(web) = %+v", fc)
	}
	if _, err := source.NewFile(c.FileConfig(c.Sources[0]), nil); err != nil && !errors.Is(err, os.ErrPermission) {
		// NewFile creates the offsets directory under testdata/state.
		t.Errorf("source.NewFile: %v", err)
	}
	os.RemoveAll(abs("state"))
}

func TestAnchors(t *testing.T) {
	c := mustLoad(t, "testdata/anchors.good.yml")
	if len(c.Sources) != 2 || c.Sources[1].Name != "auth-old" || c.Sources[1].Format != "sshd" || c.Sources[1].Paths[0] != "/var/log/secure" {
		t.Errorf("merged source = %+v", c.Sources)
	}
	if s := c.Alerts.Slack[0]; s.MinSeverity != event.SeverityHigh || s.Tags[0] != "attack.t1110" || s.WebhookURL.Reveal() != testEnv["TEST_SLACK_WEBHOOK"] {
		t.Errorf("merged slack receiver = %+v", s)
	}
}

// TestInvalid loads each testdata/invalid/*.yml and compares the errors
// with its golden file; go test -update rewrites them.
func TestInvalid(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yml")
	if len(files) < 10 {
		t.Fatalf("found %d invalid files", len(files))
	}
	absDir, _ := filepath.Abs("testdata")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := testLoader().Load(f)
			if err == nil {
				t.Fatal("Load succeeded, want errors")
			}
			var list Errors
			if !errors.As(err, &list) {
				t.Fatalf("Load error %T is not Errors: %v", err, err)
			}
			for _, e := range list {
				if e.File != f || e.Line == 0 || e.Msg == "" {
					t.Errorf("error without file, line or message: %#v", e)
				}
			}
			got := strings.ReplaceAll(err.Error(), absDir, "testdata") + "\n"
			golden := strings.TrimSuffix(f, ".yml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("errors differ from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// TestExample loads the embedded annotated example, with its secret files
// and environment variables faked.
func TestExample(t *testing.T) {
	read := map[string]string{}
	l := Loader{
		LookupEnv: func(name string) (string, bool) { return "value-of-" + name, true },
		ReadFile: func(path string) ([]byte, error) {
			read[path] = ""
			switch filepath.Base(path) {
			case "slack-webhook":
				return []byte("https://hooks.slack.com/services/T/B/X\n"), nil
			case "slack-token":
				return []byte("xoxb-1\n"), nil
			case "clickhouse-password":
				return []byte("pw\n"), nil
			}
			return nil, os.ErrNotExist
		},
	}
	c, err := l.Parse(Example, "/etc/vigil/vigil.yml")
	if err != nil {
		t.Fatalf("the example does not load:\n%v", err)
	}
	if len(read) != 3 {
		t.Errorf("read secret files %v, want 3", read)
	}
	if len(c.Sources) != 5 || len(c.Alerts.Slack) != 2 || len(c.Alerts.Webhook) != 1 || !c.ClickHouse.Enabled() {
		t.Errorf("example = %d sources, %d slack, %d webhook, clickhouse %v", len(c.Sources), len(c.Alerts.Slack), len(c.Alerts.Webhook), c.ClickHouse.Enabled())
	}
	// Every top-level section of Config is shown in the example.
	for _, name := range fieldsOf(reflect.TypeFor[Config]()).names {
		if !strings.Contains(string(Example), "\n"+name+":") {
			t.Errorf("the example has no %s section", name)
		}
	}
}

// TestDecodableTypes holds that every field of Config has a type the
// decoder knows, so no key can fail with "cannot decode into".
func TestDecodableTypes(t *testing.T) {
	var check func(t reflect.Type, path string)
	seen := map[reflect.Type]bool{}
	check = func(typ reflect.Type, path string) {
		switch typ {
		case durationType, timeType, secretType, byteSizeType:
			return
		}
		if seen[typ] {
			return
		}
		seen[typ] = true
		switch typ.Kind() {
		case reflect.Struct:
			for name, idx := range fieldsOf(typ).index {
				check(typ.FieldByIndex(idx).Type, path+"."+name)
			}
		case reflect.Slice, reflect.Map:
			if typ.Kind() == reflect.Map && typ.Key().Kind() != reflect.String {
				t.Errorf("%s: map key %s", path, typ.Key())
			}
			check(typ.Elem(), path+"[]")
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int64:
		default:
			t.Errorf("%s: the decoder cannot decode %s", path, typ)
		}
	}
	check(reflect.TypeFor[Config](), "")
}

func TestEnvExpansion(t *testing.T) {
	env := map[string]string{"A": "alpha", "EMPTY": ""}
	l := Loader{LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }}
	for _, tc := range []struct {
		in, want, wantErr string
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x-${A}-${A}", want: "x-alpha-alpha"},
		{in: "p$ss$", want: "p$ss$"},
		{in: "$${A}", want: "${A}"},
		{in: "${EMPTY}pw", want: "pw"},
		{in: "${MISSING}", wantErr: "environment variable MISSING is not set"},
		{in: "${A", wantErr: "unterminated ${"},
		{in: "${A-B}", wantErr: "must hold an environment variable name"},
	} {
		c, err := l.Parse([]byte("clickhouse: {password: '"+tc.in+"'}\n"), "t.yml")
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("password %q: err = %v, want %q", tc.in, err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), tc.in) {
				t.Errorf("password %q: the error quotes the secret: %v", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("password %q: %v", tc.in, err)
			continue
		}
		if got := c.ClickHouse.Password.Reveal(); got != tc.want {
			t.Errorf("password %q = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Only secrets expand: elsewhere ${A} is text.
	c, err := l.Parse([]byte("state_dir: /srv/${A}\n"), "t.yml")
	if err != nil || c.StateDir != "/srv/${A}" {
		t.Errorf("state_dir = %q, %v; want ${A} kept", c.StateDir, err)
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "300ms", want: 300 * time.Millisecond},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "14d", want: 14 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "0", want: 0},
		{in: "-5m", want: -5 * time.Minute},
		{in: "5", wantErr: true},
		{in: "d", wantErr: true},
		{in: "1.5d", wantErr: true},
		{in: "5d-1h", wantErr: true},
		{in: "", wantErr: true},
		{in: "999999999999d", wantErr: true},
		{in: "106752d", wantErr: true},
	} {
		got, err := ParseDuration(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    ByteSize
		wantErr bool
	}{
		{in: "4096", want: 4096},
		{in: "64KiB", want: 64 << 10},
		{in: "10 MB", want: 10_000_000},
		{in: "1GiB", want: 1 << 30},
		{in: "2g", want: 2 << 30},
		{in: "1_000", want: 1000},
		{in: "12B", want: 12},
		{in: "-1", wantErr: true},
		{in: "KiB", wantErr: true},
		{in: "10 parsecs", wantErr: true},
		{in: "99999999999TiB", wantErr: true},
	} {
		got, err := ParseByteSize(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	for _, tc := range []struct {
		in   ByteSize
		want string
	}{{64 << 10, "64KiB"}, {1 << 30, "1GiB"}, {1000, "1000B"}, {0, "0B"}} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tc.in), got, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"sourcs", "sources"},
		{"state-dir", "state_dir"},
		{"zzzzzz", ""},
	} {
		got := suggest(tc.in, fieldsOf(reflect.TypeFor[Config]()).names)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, `"`+tc.want+`"`) {
			t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		in   Error
		want string
	}{
		{Error{File: "vigil.yml", Line: 12, Key: "sources[1].format", Msg: "bad"}, "vigil.yml:12: sources[1].format: bad"},
		{Error{File: "vigil.yml", Msg: "bad"}, "vigil.yml: bad"},
		{Error{Key: "k", Msg: "bad"}, "k: bad"},
	} {
		if got := tc.in.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestEmptyListsAreKept(t *testing.T) {
	c, err := Parse([]byte("network: {internal: []}\nsources: [{name: a, paths: [x.log], exclude: []}]\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if n := c.NetworkConfig(); n.Internal == nil || len(n.Internal) != 0 {
		t.Errorf("internal: [] = %#v, want an empty list (no internal network), not the defaults", n.Internal)
	}
	if fc := c.FileConfig(c.Sources[0]); fc.Exclude == nil || len(fc.Exclude) != 0 {
		t.Errorf("exclude: [] = %#v, want an empty list (exclude nothing), not the defaults", fc.Exclude)
	}
	wd, _ := os.Getwd()
	if want := filepath.Join(wd, "x.log"); c.Sources[0].Paths[0] != want {
		t.Errorf("relative path without a file name = %q, want %q", c.Sources[0].Paths[0], want)
	}
	_, err = Parse([]byte("state_dir: [x]\n"), "")
	if err == nil || err.Error() != "line 1: state_dir: want a string, got a list" {
		t.Errorf("error without a file name = %v", err)
	}
}

func BenchmarkParseExample(b *testing.B) {
	l := Loader{
		LookupEnv: func(string) (string, bool) { return "v", true },
		ReadFile:  func(string) ([]byte, error) { return []byte("https://example.com/x\n"), nil },
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Parse(Example, "/etc/vigil/vigil.yml"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValidateInCode(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	c.Sources = append(c.Sources, Source{Name: "a", Paths: []string{"/x"}, Format: "sshd", Start: "end", MaxLineBytes: 1024})
	c.Alerts.Slack = append(c.Alerts.Slack, Slack{Name: "s", Token: mustSecret("xoxb-1"), APIURL: DefaultSlackAPIURL, Route: Route{MinSeverity: "high"}})
	err := c.Validate()
	if err == nil || err.Error() != "alerts.slack[0].channel: is required with a bot token" {
		t.Errorf("Validate() = %v, want the missing channel", err)
	}
}

// TestAliasBomb: a small file whose aliases expand to millions of values
// is refused quickly instead of exhausting memory.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-big: &big [")
	for i := range 2000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("a")
	}
	b.WriteString("]\nlists:\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "  l%d: *big\n", i)
	}
	_, err := Parse([]byte(b.String()), "bomb.yml")
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Errorf("Parse(alias bomb) = %v, want it refused", err)
	}
}

// TestMergeBomb: merge keys that merge mappings that merge mappings
// double the work at every level; it is bounded like aliases are.
func TestMergeBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-0: &m0 {}\n")
	for i := 1; i <= 22; i++ {
		fmt.Fprintf(&b, "x-%d: &m%d {<<: [*m%d, *m%d]}\n", i, i, i-1, i-1)
	}
	b.WriteString("metrics: {<<: *m22}\n")
	_, err := Parse([]byte(b.String()), "bomb.yml")
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Errorf("Parse(merge bomb) = %v, want it refused", err)
	}
	b.Reset()
	b.WriteString("x-0: &m0 {}\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "x-%d: &m%d {<<: [*m%d, *m%d]}\n", i, i, i-1, i-1)
	}
	b.WriteString("metrics: {<<: *m40}\n")
	_, err = Parse([]byte(b.String()), "deep.yml")
	if err == nil || !strings.HasSuffix(err.Error(), ": metrics: nested too deeply") || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("Parse(deep merges) = %v, want one error", err)
	}
}
