package main

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestSystemdUnit checks the shipped unit: it runs `vigil run` as an
// unprivileged user that can read the logs, reloads with SIGHUP, keeps its
// state directory private and carries the hardening options.
func TestSystemdUnit(t *testing.T) {
	f, err := os.Open("systemd/vigil.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf("not a key=value line: %q", line)
			continue
		}
		got[k] = append(got[k], v)
	}
	for k, want := range map[string]string{
		"User":                    "vigil",
		"SupplementaryGroups":     "adm",
		"ExecStart":               "/usr/local/bin/vigil run --config /etc/vigil/vigil.yml",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"StateDirectory":          "vigil",
		"StateDirectoryMode":      "0700",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"CapabilityBoundingSet":   "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	} {
		if vs := got[k]; len(vs) != 1 || vs[0] != want {
			t.Errorf("%s = %q, want %q", k, vs, want)
		}
	}
	if u := got["User"]; len(u) == 1 && u[0] == "root" {
		t.Error("the unit runs as root")
	}
}

// TestDockerfile checks that the image is built in stages and runs
// `vigil run` as a user that is not root.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms, users []string
	cmd := ""
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "FROM":
			froms = append(froms, f[1])
		case "USER":
			users = append(users, f[1])
		case "CMD":
			cmd = strings.Join(f[1:], " ")
		}
	}
	if len(froms) < 2 {
		t.Errorf("Dockerfile has %d stages, want a multi-stage build", len(froms))
	}
	if len(users) == 0 || users[len(users)-1] == "root" || users[len(users)-1] == "0" {
		t.Errorf("the image runs as %v, want an unprivileged user", users)
	}
	if !strings.Contains(cmd, `"run"`) {
		t.Errorf("CMD %s does not run the daemon", cmd)
	}
}
