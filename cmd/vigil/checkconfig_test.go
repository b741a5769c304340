package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/config"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(good, []byte("sources:\n  - {name: auth, paths: [/var/log/auth.log], format: sshd}\nalerts:\n  webhook: [{url: 'https://soar.example.com/hook?token=abc'}]\n"), 0o644)
	os.WriteFile(bad, []byte("sources:\n  - name: auth\n    paths: [/var/log/auth.log]\n    format: sshdd\nalerts:\n  slack:\n    - token: xoxb-1\n"), 0o644)

	out, errOut, err := runVigil(t, "", "check-config", good)
	if err != nil {
		t.Fatalf("check-config good.yml: %v\n%s", err, errOut)
	}
	for _, want := range []string{good + ": ok\n", "auth", "sshd", "/var/log/auth.log", "webhook webhook-0 (soar.example.com, >= info)", "clickhouse  off"} {
		if !strings.Contains(out, want) {
			t.Errorf("check-config output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "token=abc") {
		t.Errorf("the summary shows a webhook URL's query:\n%s", out)
	}

	out, errOut, err = runVigil(t, "", "check-config", good, bad)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("check-config bad.yml: err %v (exit %d), want exit 1", err, exitCode(err))
	}
	if !strings.Contains(err.Error(), "bad.yml: 2 problem(s)") {
		t.Errorf("error = %v, want it to count the problems", err)
	}
	wantErrs := bad + `:4: sources[0].format: unknown format "sshdd" (want sshd, access, errorlog, audit, regex, auto)` + "\n" +
		bad + ":7: alerts.slack[0].channel: is required with a bot token\n"
	if errOut != wantErrs {
		t.Errorf("stderr =\n%s\nwant\n%s", errOut, wantErrs)
	}
	if !strings.Contains(out, good+": ok") {
		t.Errorf("the good file is still checked and reported: %q", out)
	}

	if _, _, err := runVigil(t, "", "check-config", filepath.Join(dir, "missing.yml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("check-config of a missing file: %v", err)
	}
	if _, _, err := runVigil(t, "", "check-config"); exitCode(err) != 2 {
		t.Errorf("check-config without a file: %v (exit %d), want a usage error", err, exitCode(err))
	}
}

func TestCheckConfigExample(t *testing.T) {
	out, _, err := runVigil(t, "", "check-config", "--example")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal([]byte(out), config.Example) || !strings.Contains(out, "sources:") {
		t.Errorf("--example printed %d bytes, want the %d of config.Example", len(out), len(config.Example))
	}
}
