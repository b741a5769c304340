package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-sec/vigil/internal/secret"
)

// TestSecretsNeverShown loads a config with secrets from all three
// sources (inline, *_file, ${ENV}), dumps it every way a program might,
// and finds none of them.
func TestSecretsNeverShown(t *testing.T) {
	dir := t.TempDir()
	secrets := map[string]string{
		"inline":       "inline-ch-password-4d0c1",
		"file-webhook": "https://hooks.slack.com/services/T9/B9/file-webhook-7f3a2",
		"file-token":   "xoxb-file-token-9e8d7",
		"env-token":    "xoxb-env-token-1b2c3",
		"env-secret":   "env-hmac-secret-5a6b7",
		"file-hmac":    "file-hmac-secret-0f0e0",
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("webhook", secrets["file-webhook"])
	write("token", secrets["file-token"])
	write("hmac", secrets["file-hmac"])
	write("vigil.yml", `
clickhouse:
  dsn: clickhouse://vigil@127.0.0.1:9000/vigil
  password: `+secrets["inline"]+`
alerts:
  slack:
    - webhook_url_file: webhook
    - token_file: token
      channel: "#a"
    - token: ${ENV_TOKEN}
      channel: "#b"
  webhook:
    - url: https://soar.example.com/a
      secret: prefix-${ENV_SECRET}
    - url: https://soar.example.com/b
      secret_file: hmac
`)
	env := map[string]string{"ENV_TOKEN": secrets["env-token"], "ENV_SECRET": secrets["env-secret"]}
	l := Loader{LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }}
	c, err := l.Load(filepath.Join(dir, "vigil.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// The secrets did load: otherwise finding none proves nothing.
	for name, got := range map[string]string{
		"inline":       c.ClickHouse.Password.Reveal(),
		"file-webhook": c.Alerts.Slack[0].WebhookURL.Reveal(),
		"file-token":   c.Alerts.Slack[1].Token.Reveal(),
		"env-token":    c.Alerts.Slack[2].Token.Reveal(),
		"env-secret":   strings.TrimPrefix(c.Alerts.Webhook[0].Secret.Reveal(), "prefix-"),
		"file-hmac":    c.Alerts.Webhook[1].Secret.Reveal(),
	} {
		if got != secrets[name] {
			t.Errorf("secret %s = %q, want %q", name, got, secrets[name])
		}
	}

	var dumps []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		dumps = append(dumps, fmt.Sprintf(verb, c), fmt.Sprintf(verb, *c), fmt.Sprintf(verb, c.Alerts))
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "config", c, "alerts", c.Alerts, "slack", c.Alerts.Slack[0])
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "config", c, "password", c.ClickHouse.Password)
	dumps = append(dumps, string(y), string(j), logs.String())
	for _, d := range dumps {
		for name, s := range secrets {
			if strings.Contains(d, s) || strings.Contains(d, fmt.Sprintf("%x", s)) {
				t.Errorf("secret %s shown in %.200q...", name, d)
			}
		}
	}
	if !strings.Contains(string(y), "password: <secret>") || !strings.Contains(logs.String(), "password=<secret>") {
		t.Errorf("dumps do not show the secrets as <secret>:\n%s\n%s", y, logs.String())
	}
}

// TestSecretsNotInErrors: a bad secret value is never quoted in an error.
func TestSecretsNotInErrors(t *testing.T) {
	const hidden = "not-a-url-but-secret-93c1"
	for _, in := range []string{
		"alerts: {slack: [{webhook_url: " + hidden + "}]}",
		"alerts: {slack: [{webhook_url: 'ftp://" + hidden + "'}]}",
		"alerts: {slack: [{token: 'xoxb " + hidden + "', channel: '#a'}]}",
		"clickhouse: {dsn: 'clickhouse://u:" + hidden + "@h:9000/db'}",
		"clickhouse: {dsn: 'clickhouse://u@h:9000/db?password=" + hidden + "'}",
		"clickhouse: {dsn: ':bad" + hidden + "'}",
	} {
		_, err := Parse([]byte(in), "t.yml")
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", in)
			continue
		}
		if strings.Contains(err.Error(), hidden) {
			t.Errorf("Parse(%q) error shows the secret: %v", in, err)
		}
	}
}

func mustSecret(s string) secret.Secret { return secret.New(s) }
