package dashboards

import (
	"bytes"
	"encoding/xml"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-sec/vigil/internal/config"
)

// repoRoot is where docker-compose.yml lives, seen from this package.
const repoRoot = ".."

// composeFile is the part of `docker-compose config` output the test reads.
// Volumes and ports are kept raw: docker-compose 1.x prints them as short
// strings, Compose v2 as maps.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		User        string            `yaml:"user"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []any             `yaml:"ports"`
		Volumes     []any             `yaml:"volumes"`
		Networks    map[string]any    `yaml:"networks"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		DependsOn map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Restart string `yaml:"restart"`
	} `yaml:"services"`
	Networks map[string]any `yaml:"networks"`
	Volumes  map[string]any `yaml:"volumes"`
}

// mount is one volume entry: source (a named volume or a host path),
// target and whether it is read-only.
type mount struct {
	source, target string
	readOnly, bind bool
}

func parseMount(v any) mount {
	switch m := v.(type) {
	case string:
		parts := strings.Split(m, ":")
		mt := mount{source: parts[0]}
		if len(parts) > 1 {
			mt.target = parts[1]
		}
		mt.readOnly = len(parts) > 2 && strings.Contains(parts[2], "ro")
		mt.bind = strings.HasPrefix(mt.source, "/") || strings.HasPrefix(mt.source, ".")
		return mt
	case map[string]any:
		mt := mount{}
		mt.source, _ = m["source"].(string)
		mt.target, _ = m["target"].(string)
		mt.readOnly, _ = m["read_only"].(bool)
		mt.bind = m["type"] == "bind"
		return mt
	}
	return mount{}
}

// published returns the host address and port of a port entry.
func published(v any) (hostIP, port string) {
	switch p := v.(type) {
	case string:
		parts := strings.Split(strings.TrimSuffix(p, "/tcp"), ":")
		if len(parts) == 3 {
			return parts[0], parts[1]
		}
		return "", parts[0]
	case map[string]any:
		ip, _ := p["host_ip"].(string)
		switch port := p["published"].(type) {
		case string:
			return ip, port
		case int:
			return ip, strconv.Itoa(port)
		}
		return ip, ""
	}
	return "", ""
}

// composeConfig runs `docker-compose config` on the repository's file and
// decodes what it prints: the file as docker-compose understood it, with
// defaults filled in and relative paths resolved.
func composeConfig(t *testing.T) composeFile {
	t.Helper()
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("docker-compose is not installed (Debian package docker-compose; make test installs it)")
		}
		t.Skip("docker-compose is not installed (apt-get install docker-compose)")
	}
	cmd := exec.Command(bin, "--project-directory", repoRoot, "-f", filepath.Join(repoRoot, "docker-compose.yml"), "config")
	// The demo defaults must do: no password from the caller's environment.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.Contains(kv, "PASSWORD=") && !strings.HasPrefix(kv, "COMPOSE_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, stderr.String())
	}
	var cf composeFile
	if err := yaml.Unmarshal(out, &cf); err != nil {
		t.Fatalf("decode docker-compose config output: %v\n%s", err, out)
	}
	return cf
}

func TestCompose(t *testing.T) {
	cf := composeConfig(t)
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"clickhouse", "vigil", "grafana", "demo"} {
		if _, ok := cf.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}
	if _, ok := cf.Networks["vigil"]; !ok {
		t.Errorf("network vigil is missing (have %v)", cf.Networks)
	}
	pinned := regexp.MustCompile(`^[\w./-]+:\d[\w.-]*$`)
	for name, s := range cf.Services {
		if s.Build == nil && !pinned.MatchString(s.Image) {
			t.Errorf("%s: image %q is not pinned to a version", name, s.Image)
		}
		if _, ok := s.Networks["vigil"]; !ok || len(s.Networks) != 1 {
			t.Errorf("%s: networks %v, want only the private network vigil", name, s.Networks)
		}
		for _, p := range s.Ports {
			if ip, port := published(p); ip != "127.0.0.1" {
				t.Errorf("%s: port %s published on %q, want 127.0.0.1 only", name, port, ip)
			}
		}
		if s.Restart != "no" && (s.Healthcheck == nil || len(s.Healthcheck.Test) < 2) {
			t.Errorf("%s: a long-running service needs a healthcheck", name)
		}
		for dep, d := range s.DependsOn {
			if _, ok := cf.Services[dep]; !ok || d.Condition == "" || d.Condition == "service_started" {
				t.Errorf("%s depends on %s with condition %q: want an existing service and a health or completion condition", name, dep, d.Condition)
			}
		}
		for _, v := range s.Volumes {
			m := parseMount(v)
			switch {
			case m.bind:
				rel, err := filepath.Rel(root, m.source)
				if err != nil || strings.HasPrefix(rel, "..") {
					t.Errorf("%s: bind mount %s is outside the repository", name, m.source)
					continue
				}
				if _, err := os.Stat(m.source); err != nil {
					t.Errorf("%s: bind mount source: %v", name, err)
				}
				if !m.readOnly {
					t.Errorf("%s: bind mount %s must be read-only", name, m.source)
				}
			default:
				if _, ok := cf.Volumes[m.source]; !ok {
					t.Errorf("%s: volume %q is not a declared named volume", name, m.source)
				}
			}
		}
	}

	mountsOf := func(svc string) map[string]mount {
		out := map[string]mount{}
		for _, v := range cf.Services[svc].Volumes {
			m := parseMount(v)
			out[m.target] = m
		}
		return out
	}
	// State lives in named volumes.
	for svc, target := range map[string]string{"clickhouse": "/var/lib/clickhouse", "grafana": "/var/lib/grafana", "vigil": "/var/lib/vigil"} {
		if m, ok := mountsOf(svc)[target]; !ok || m.bind {
			t.Errorf("%s: %s must be a named volume, got %+v", svc, target, m)
		}
	}
	// Grafana gets this package's files where the provisioning expects them.
	gm := mountsOf("grafana")
	for target, src := range map[string]string{
		dashboardsPath:                          "dashboards/grafana",
		"/etc/grafana/provisioning/datasources": "dashboards/provisioning/datasources",
		"/etc/grafana/provisioning/dashboards":  "dashboards/provisioning/dashboards",
	} {
		if m := gm[target]; m.source != filepath.Join(root, src) {
			t.Errorf("grafana: %s mounted from %q, want %s", target, m.source, src)
		}
	}
	g := cf.Services["grafana"]
	if p := g.Environment["GF_PLUGINS_PREINSTALL_SYNC"]; !regexp.MustCompile(`(^|,)grafana-clickhouse-datasource@\d+\.\d+\.\d+($|,)`).MatchString(p) {
		t.Errorf("grafana: GF_PLUGINS_PREINSTALL_SYNC %q must install a pinned grafana-clickhouse-datasource", p)
	}
	// The data source's password variable reaches Grafana, and ClickHouse's
	// users file finds both passwords in its environment.
	ds, err := fs.ReadFile(Files, "provisioning/datasources/clickhouse.yml")
	if err != nil {
		t.Fatal(err)
	}
	noComments := regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(string(ds), "")
	for _, m := range regexp.MustCompile(`\$\{?(\w+)`).FindAllStringSubmatch(noComments, -1) {
		if g.Environment[m[1]] == "" {
			t.Errorf("grafana: the data source reads $%s, which the service does not set", m[1])
		}
	}
	var users struct {
		Users struct {
			List []struct {
				XMLName  xml.Name
				Password struct {
					FromEnv string `xml:"from_env,attr"`
				} `xml:"password"`
				Profile string `xml:"profile"`
			} `xml:",any"`
		} `xml:"users"`
	}
	data, err := fs.ReadFile(Files, "compose/clickhouse-users.xml")
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(data, &users); err != nil {
		t.Fatalf("clickhouse-users.xml: %v", err)
	}
	var userNames []string
	for _, u := range users.Users.List {
		userNames = append(userNames, u.XMLName.Local)
		if env := u.Password.FromEnv; env == "" || cf.Services["clickhouse"].Environment[env] == "" {
			t.Errorf("clickhouse user %s: password from_env %q is not set for the clickhouse service", u.XMLName.Local, env)
		}
	}
	if !slices.Contains(userNames, "vigil") || !slices.Contains(userNames, "grafana") {
		t.Errorf("clickhouse users %v, want vigil and grafana", userNames)
	}
	if v := cf.Services["vigil"].Environment["VIGIL_CLICKHOUSE_PASSWORD"]; v != cf.Services["clickhouse"].Environment["VIGIL_CLICKHOUSE_PASSWORD"] {
		t.Errorf("vigil and clickhouse disagree on VIGIL_CLICKHOUSE_PASSWORD")
	}
}

// TestComposeVigilConfig loads the config the stack mounts into vigil with
// vigil's own loader, so that a key renamed there breaks this test rather
// than the stack.
func TestComposeVigilConfig(t *testing.T) {
	data, err := fs.ReadFile(Files, "compose/vigil.yml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGIL_CLICKHOUSE_PASSWORD", "test-password")
	cfg, err := config.Parse(data, "dashboards/compose/vigil.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClickHouse.DSN == "" || !strings.Contains(cfg.ClickHouse.DSN, "@clickhouse:9000/") {
		t.Errorf("clickhouse dsn %q, want the clickhouse service", cfg.ClickHouse.DSN)
	}
	var paths []string
	for _, s := range cfg.Sources {
		paths = append(paths, s.Paths...)
	}
	for _, f := range []string{"auth.log", "access.log", "helpdesk.json"} {
		if !slices.Contains(paths, "/var/log/demo/"+f) {
			t.Errorf("no source reads /var/log/demo/%s, which the demo writer appends to (have %v)", f, paths)
		}
	}
	script, err := fs.ReadFile(Files, "compose/demo-writer.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "out=/var/log/demo") {
		t.Error("demo-writer.sh does not write to /var/log/demo")
	}
}
