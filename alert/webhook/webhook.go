// Package webhook holds two alert receivers: Notifier, which POSTs alerts
// as JSON to a URL and signs the body with HMAC-SHA256 when given a
// secret, and Writer, which writes them as NDJSON (one alert per line) to
// an io.Writer such as standard output.
//
// The JSON body of a POST is
//
//	{"receiver":"webhook-0","alerts":[{...event.Alert...}, ...]}
//
// with the alerts' canonical snake_case keys. With a secret, the header
// X-Vigil-Signature carries "sha256=" and the hex HMAC-SHA256 of the body
// under the secret; a receiver recomputes it over the raw body and
// compares in constant time. Both notifiers are safe for concurrent use.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/secret"
)

// SignatureHeader is the header that carries the body's signature.
const SignatureHeader = "X-Vigil-Signature"

// Config configures one webhook receiver.
type Config struct {
	// Name identifies the receiver; default "webhook".
	Name string
	URL  string
	// Secret signs each request; SecretFile is read at every request
	// instead, so that rotation needs no restart. At most one.
	Secret     secret.Secret
	SecretFile string
	// Headers are added to every request (an Authorization, say).
	Headers map[string]string
	// MinSeverity, Rules, Tags and PII select and shape what this receiver
	// is sent.
	MinSeverity event.Severity
	Rules       []string
	Tags        []string
	PII         alert.PII
	// HTTPClient makes the requests; nil is http.DefaultClient.
	HTTPClient *http.Client
}

// Validate reports every problem of c at once.
func (c *Config) Validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		errs = append(errs, errors.New("url: required"))
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		errs = append(errs, fmt.Errorf("url: want an http or https URL, got %q", c.URL))
	}
	if !c.Secret.IsZero() && c.SecretFile != "" {
		errs = append(errs, errors.New("give secret or secret_file, not both"))
	}
	if err := c.Route().Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := alert.ParsePII(string(c.PII)); err != nil {
		errs = append(errs, fmt.Errorf("pii: %w", err))
	}
	return errors.Join(errs...)
}

// Route returns what the receiver is sent.
func (c *Config) Route() alert.Route {
	return alert.Route{MinSeverity: c.MinSeverity, Rules: c.Rules, Tags: c.Tags}
}

// Notifier POSTs alerts as JSON.
type Notifier struct {
	cfg    Config
	client *http.Client
}

var _ alert.Notifier = (*Notifier)(nil)

// New returns a Notifier for cfg.
func New(cfg Config) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "webhook"
	}
	n := &Notifier{cfg: cfg, client: cfg.HTTPClient}
	if n.client == nil {
		n.client = http.DefaultClient
	}
	return n, nil
}

// Name returns the receiver's name.
func (n *Notifier) Name() string { return n.cfg.Name }

// Receiver returns n with its route and PII mode, for alert.NewDispatcher.
func (n *Notifier) Receiver() alert.Receiver {
	return alert.Receiver{Notifier: n, Route: n.cfg.Route(), PII: n.cfg.PII}
}

// Payload is the JSON body of a POST.
type Payload struct {
	Receiver string        `json:"receiver"`
	Alerts   []event.Alert `json:"alerts"`
}

// Sign returns the X-Vigil-Signature value of body under key.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is body's signature under key, in constant
// time.
func Verify(key, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(key, body)), []byte(sig))
}

// Notify POSTs alerts. 2xx is delivered; 408, 429 (with its Retry-After)
// and 5xx are retryable; other answers are permanent.
func (n *Notifier) Notify(ctx context.Context, alerts []event.Alert) error {
	body, err := json.Marshal(Payload{Receiver: n.cfg.Name, Alerts: alerts})
	if err != nil {
		return alert.Permanent(fmt.Errorf("encode alerts: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return alert.Permanent(fmt.Errorf("webhook %s: %w", n.cfg.Name, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil")
	for k, v := range n.cfg.Headers {
		req.Header.Set(k, v)
	}
	key := n.cfg.Secret.Reveal()
	if n.cfg.SecretFile != "" {
		b, err := os.ReadFile(n.cfg.SecretFile)
		if err != nil {
			return alert.Retryable(fmt.Errorf("webhook %s: read secret: %w", n.cfg.Name, err), 0)
		}
		key = strings.TrimSpace(string(b))
	}
	if key != "" {
		req.Header.Set(SignatureHeader, Sign([]byte(key), body))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		// The URL may hold a token: name the receiver instead.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return alert.Retryable(fmt.Errorf("webhook %s: post: %w", n.cfg.Name, err), 0)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("webhook %s: %s: %s", n.cfg.Name, resp.Status, strings.TrimSpace(string(snippet)))
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests, code == http.StatusRequestTimeout, code >= 500:
		return alert.Retryable(err, retryAfter(resp.Header.Get("Retry-After"), time.Now()))
	}
	return alert.Permanent(err)
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Writer writes alerts as NDJSON, one alert per line.
type Writer struct {
	name string
	mu   sync.Mutex
	w    io.Writer
}

var _ alert.Notifier = (*Writer)(nil)

// NewWriter returns a Writer named name (default "stdout") writing to w.
func NewWriter(name string, w io.Writer) *Writer {
	if name == "" {
		name = "stdout"
	}
	return &Writer{name: name, w: w}
}

// Name returns the receiver's name.
func (w *Writer) Name() string { return w.name }

// Notify writes one line per alert. A write error is permanent: a closed
// pipe does not come back.
func (w *Writer) Notify(_ context.Context, alerts []event.Alert) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range alerts {
		if err := enc.Encode(&alerts[i]); err != nil {
			return alert.Permanent(fmt.Errorf("encode alert %s: %w", alerts[i].ID, err))
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(buf.Bytes()); err != nil {
		return alert.Permanent(fmt.Errorf("%s: %w", w.name, err))
	}
	return nil
}
