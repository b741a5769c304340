// Package slack is vigil's Slack receiver: a Notifier that posts alerts as
// Block Kit messages, through an incoming webhook or with a bot token and
// chat.postMessage (github.com/slack-go/slack).
//
// With a bot token, the first message about an alert starts a thread:
// later notifications about the same alert id (a higher count, a repeat,
// the resolution) are posted as replies in it. The message timestamps are
// kept in StateDir (slack-NAME.threads.json, replaced atomically) so
// threads survive restarts. An incoming webhook cannot learn a message's
// timestamp, so every notification is a new message there.
//
// Everything that came from a log is escaped (Escape), and every text is
// cut to Slack's limits. Notify does not retry: it classifies failures for
// the alert.Dispatcher (429 with its Retry-After, 5xx and timeouts
// retryable; invalid_auth, channel_not_found and other API refusals
// permanent). A Notifier is safe for concurrent use, though the
// dispatcher calls it from one goroutine.
package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/secret"
)

// DefaultAPIURL is Slack's Web API.
const DefaultAPIURL = "https://slack.com/api/"

// DefaultMinInterval spaces messages to a channel: Slack allows about one
// per second.
const DefaultMinInterval = time.Second

// Config configures one Slack receiver: an incoming webhook (WebhookURL or
// WebhookURLFile) or a bot token (Token or TokenFile) and a Channel. The
// files are read at every notification, so a rotated secret needs no
// restart.
type Config struct {
	// Name identifies the receiver in logs, metrics and the outbox;
	// default "slack".
	Name           string
	WebhookURL     secret.Secret
	WebhookURLFile string
	Token          secret.Secret
	TokenFile      string
	// Channel is a channel id or "#name"; required with a token.
	Channel string
	// APIURL is the Web API base URL, for tests and proxies; default
	// DefaultAPIURL. A missing trailing slash is added (slack-go needs it).
	APIURL string
	// StateDir keeps the thread timestamps; empty keeps them in memory.
	StateDir string
	// MinSeverity, Rules, Tags and PII select and shape what this receiver
	// is sent (alert.Route, alert.Receiver).
	MinSeverity event.Severity
	Rules       []string
	Tags        []string
	PII         alert.PII
	// MinInterval is the least time between two messages; zero is
	// DefaultMinInterval, negative none.
	MinInterval time.Duration
	// HTTPClient makes the requests; nil is http.DefaultClient. The
	// dispatcher bounds each attempt with a context deadline.
	HTTPClient *http.Client
}

// Validate reports every problem of c at once.
func (c *Config) Validate() error {
	var errs []error
	hook := !c.WebhookURL.IsZero() || c.WebhookURLFile != ""
	bot := !c.Token.IsZero() || c.TokenFile != ""
	switch {
	case hook && bot:
		errs = append(errs, errors.New("give a webhook_url or a token, not both"))
	case !hook && !bot:
		errs = append(errs, errors.New("give a webhook_url or a token and a channel"))
	case bot && c.Channel == "":
		errs = append(errs, errors.New("channel: required with a token"))
	}
	if !c.WebhookURL.IsZero() && c.WebhookURLFile != "" {
		errs = append(errs, errors.New("give webhook_url or webhook_url_file, not both"))
	}
	if !c.Token.IsZero() && c.TokenFile != "" {
		errs = append(errs, errors.New("give token or token_file, not both"))
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

// Notifier posts alerts to one Slack channel.
type Notifier struct {
	cfg     Config
	logger  *slog.Logger
	client  *http.Client
	threads *threads

	mu       sync.Mutex // serialises Notify
	lastPost time.Time
	// The messages of the notification last tried, and how many of them
	// are posted: a retry of it (same alert.NotificationID) posts the
	// rest only.
	lastID   string
	lastMsgs []message
	lastDone int
}

var _ alert.Notifier = (*Notifier)(nil)

// New returns a Notifier for cfg. A nil logger discards.
func New(cfg Config, logger *slog.Logger) (*Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "slack"
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	if cfg.MinInterval == 0 {
		cfg.MinInterval = DefaultMinInterval
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{cfg: cfg, logger: logger.With("component", "slack", "receiver", cfg.Name), client: cfg.HTTPClient}
	if n.client == nil {
		n.client = http.DefaultClient
	}
	path := ""
	if cfg.StateDir != "" {
		path = filepath.Join(cfg.StateDir, "slack-"+safeName(cfg.Name)+".threads.json")
	}
	t, err := loadThreads(path)
	if err != nil {
		return nil, err
	}
	n.threads = t
	return n, nil
}

// Receiver returns n with its route and PII mode, for alert.NewDispatcher.
func (n *Notifier) Receiver() alert.Receiver {
	return alert.Receiver{Notifier: n, Route: n.cfg.Route(), PII: n.cfg.PII}
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// Name returns the receiver's name.
func (n *Notifier) Name() string { return n.cfg.Name }

func (n *Notifier) bot() bool { return !n.cfg.Token.IsZero() || n.cfg.TokenFile != "" }

// message is one Slack message to post.
type message struct {
	fallback string
	blocks   []slack.Block
	threadTS string
	// newIDs are the alerts this message is the first about; its ts
	// starts their thread.
	newIDs []string
}

// Notify posts alerts: with a bot token, one message for the alerts not
// seen before and one reply in each thread of the others; through a
// webhook, one message.
func (n *Notifier) Notify(ctx context.Context, alerts []event.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	id := alert.NotificationID(ctx)
	if id == "" || id != n.lastID {
		n.lastID, n.lastMsgs, n.lastDone = id, n.plan(alerts), 0
	}
	for n.lastDone < len(n.lastMsgs) {
		if err := n.pace(ctx); err != nil {
			return alert.Retryable(err, 0)
		}
		m := &n.lastMsgs[n.lastDone]
		var err error
		if n.bot() {
			err = n.postBot(ctx, m)
		} else {
			err = n.postWebhook(ctx, m)
		}
		n.lastPost = time.Now()
		if err != nil {
			return err
		}
		n.lastDone++
	}
	return nil
}

// plan splits alerts into messages.
func (n *Notifier) plan(alerts []event.Alert) []message {
	if !n.bot() {
		fb, blocks := render(alerts, false)
		return []message{{fallback: fb, blocks: blocks}}
	}
	var fresh []event.Alert
	replies := map[string][]event.Alert{}
	var order []string
	for _, a := range alerts {
		ts := n.threads.get(a.ID)
		if ts == "" {
			fresh = append(fresh, a)
			continue
		}
		if _, ok := replies[ts]; !ok {
			order = append(order, ts)
		}
		replies[ts] = append(replies[ts], a)
	}
	var msgs []message
	if len(fresh) > 0 {
		fb, blocks := render(fresh, false)
		m := message{fallback: fb, blocks: blocks}
		for _, a := range fresh {
			m.newIDs = append(m.newIDs, a.ID)
		}
		msgs = append(msgs, m)
	}
	for _, ts := range order {
		fb, blocks := render(replies[ts], true)
		msgs = append(msgs, message{fallback: fb, blocks: blocks, threadTS: ts})
	}
	return msgs
}

func (n *Notifier) pace(ctx context.Context) error {
	if n.cfg.MinInterval < 0 || n.lastPost.IsZero() {
		return nil
	}
	wait := time.Until(n.lastPost.Add(n.cfg.MinInterval))
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func readSecret(s secret.Secret, file string) (string, error) {
	if file == "" {
		return s.Reveal(), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func (n *Notifier) postBot(ctx context.Context, m *message) error {
	token, err := readSecret(n.cfg.Token, n.cfg.TokenFile)
	if err != nil {
		return alert.Retryable(fmt.Errorf("read slack token: %w", err), 0)
	}
	api := slack.New(token, slack.OptionAPIURL(n.cfg.APIURL), slack.OptionHTTPClient(n.client))
	opts := []slack.MsgOption{
		slack.MsgOptionText(m.fallback, false),
		slack.MsgOptionBlocks(m.blocks...),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
	}
	if m.threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(m.threadTS))
	}
	_, ts, err := api.PostMessageContext(ctx, n.cfg.Channel, opts...)
	if err != nil {
		var se slack.SlackErrorResponse
		if m.threadTS != "" && errors.As(err, &se) && (se.Err == "thread_not_found" || se.Err == "message_not_found") {
			// The thread's first message is gone: start over with a new
			// message.
			n.threads.forget(m.threadTS)
			m.threadTS = ""
			return alert.Retryable(fmt.Errorf("slack chat.postMessage to %s: %w", n.cfg.Channel, err), 0)
		}
		return classify(fmt.Errorf("slack chat.postMessage to %s: %w", n.cfg.Channel, err), err)
	}
	if len(m.newIDs) > 0 && ts != "" {
		if err := n.threads.add(m.newIDs, ts, n.cfg.Channel); err != nil {
			n.logger.Warn("saving slack thread timestamps failed; later updates may start new threads", "err", err)
		}
	}
	return nil
}

func (n *Notifier) postWebhook(ctx context.Context, m *message) error {
	url, err := readSecret(n.cfg.WebhookURL, n.cfg.WebhookURLFile)
	if err != nil {
		return alert.Retryable(fmt.Errorf("read slack webhook url: %w", err), 0)
	}
	msg := &slack.WebhookMessage{Text: m.fallback, Blocks: &slack.Blocks{BlockSet: m.blocks}}
	err = slack.PostWebhookCustomHTTPContext(ctx, url, n.client, msg)
	if err == nil {
		return nil
	}
	// The webhook URL is a credential; errors from net/http quote it.
	redacted := errors.New("slack webhook: " + strings.ReplaceAll(err.Error(), url, "<webhook-url>"))
	return classify(redacted, err)
}

// permanentCodes are Slack API errors that no retry can fix.
var permanentCodes = []string{
	"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
	"missing_scope", "channel_not_found", "not_in_channel", "is_archived", "restricted_action",
	"team_access_not_granted", "invalid_blocks", "invalid_blocks_format", "msg_too_long", "too_many_attachments",
	"invalid_arguments", "invalid_arg_name", "ekm_access_denied", "org_login_required",
}

// retryableCodes are Slack API errors that may pass.
var retryableCodes = []string{"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}

// classify wraps shown (the error to report) as retryable or permanent by
// what cause is.
func classify(shown, cause error) error {
	var rl *slack.RateLimitedError
	if errors.As(cause, &rl) {
		return alert.Retryable(shown, rl.RetryAfter)
	}
	var sc slack.StatusCodeError
	if errors.As(cause, &sc) {
		switch code := sc.HTTPStatusCode(); {
		case code == http.StatusTooManyRequests, code == http.StatusRequestTimeout, code >= 500:
			return alert.Retryable(shown, 0)
		default:
			// A webhook answers 400 invalid_payload, 403 invalid_token,
			// 404 channel_not_found or no_service, 410 channel_is_archived.
			return alert.Permanent(shown)
		}
	}
	var se slack.SlackErrorResponse
	if errors.As(cause, &se) {
		if slices.Contains(retryableCodes, se.Err) {
			return alert.Retryable(shown, 0)
		}
		if slices.Contains(permanentCodes, se.Err) {
			return alert.Permanent(shown)
		}
		// An error code we do not know came from a Slack that understood
		// the request: retrying the same request will not help.
		return alert.Permanent(shown)
	}
	var ne net.Error
	if errors.Is(cause, context.DeadlineExceeded) || errors.As(cause, &ne) {
		return alert.Retryable(shown, 0)
	}
	var je *json.SyntaxError
	if errors.As(cause, &je) {
		return alert.Retryable(shown, 0) // a proxy's error page
	}
	return alert.Retryable(shown, 0)
}
