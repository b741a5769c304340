package alert

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// Defaults of Config; the grouping ones are Alertmanager's.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
	DefaultResolveTimeout = 24 * time.Hour
	DefaultTimeout        = 30 * time.Second
	DefaultRetryInitial   = time.Second
	DefaultRetryMax       = time.Minute
	DefaultDrainTimeout   = 5 * time.Second
)

// Config configures a Dispatcher.
//
// GroupWait, GroupInterval and RepeatInterval mean what they mean in
// Alertmanager: a group (one rule, one receiver) sends its first
// notification GroupWait after its first alert, then at most one
// notification per GroupInterval holding the alerts that changed, and
// resends alerts that are still firing and unchanged after RepeatInterval.
// Zero GroupWait and GroupInterval mean no waiting; zero RepeatInterval
// never resends; zero ResolveTimeout never forgets a firing alert. Zero
// Timeout, RetryInitial, RetryMax and DrainTimeout take the defaults.
type Config struct {
	// StateDir holds the outbox (StateDir/alerts/outbox.log) and the silences
	// that `vigil silence` manages (StateDir/silences.json). Required.
	StateDir       string
	GroupWait      time.Duration
	GroupInterval  time.Duration
	RepeatInterval time.Duration
	// ResolveTimeout forgets a firing alert that has had no update for
	// this long, as if it had resolved, without a notification.
	ResolveTimeout time.Duration
	// Silences mute the alerts they match until they expire. The silences
	// in StateDir/silences.json apply as well, and are re-read when the
	// file changes.
	Silences []Silence
	// PII is what receivers see of personal data unless their own
	// Receiver.PII says otherwise; empty is PIIRetain.
	PII PII
	// Timeout bounds one delivery attempt.
	Timeout time.Duration
	// RetryInitial is the first retry delay; each further one doubles, up
	// to RetryMax, with jitter.
	RetryInitial time.Duration
	RetryMax     time.Duration
	// MaxAge gives up on a notification still undelivered this long after
	// it was first tried; it is logged and counted as expired. Zero retries
	// until delivered.
	MaxAge time.Duration
	// DrainTimeout bounds how long Close keeps delivering.
	DrainTimeout time.Duration
	// Recorder, when set, is called for every alert sent.
	Recorder Recorder
	// Clock tells the time; nil is the system clock.
	Clock Clock
}

// DefaultConfig returns the configuration with Alertmanager's grouping
// defaults; set StateDir before use.
func DefaultConfig() Config {
	return Config{
		GroupWait:      DefaultGroupWait,
		GroupInterval:  DefaultGroupInterval,
		RepeatInterval: DefaultRepeatInterval,
		ResolveTimeout: DefaultResolveTimeout,
		PII:            PIIRetain,
		Timeout:        DefaultTimeout,
		RetryInitial:   DefaultRetryInitial,
		RetryMax:       DefaultRetryMax,
		DrainTimeout:   DefaultDrainTimeout,
	}
}

// Validate reports every problem of c at once.
func (c *Config) Validate() error {
	var errs []error
	if c.StateDir == "" {
		errs = append(errs, errors.New("state_dir: required for the alert outbox"))
	}
	for name, d := range map[string]time.Duration{
		"group_wait": c.GroupWait, "group_interval": c.GroupInterval, "repeat_interval": c.RepeatInterval,
		"resolve_timeout": c.ResolveTimeout, "timeout": c.Timeout, "retry_initial": c.RetryInitial,
		"retry_max": c.RetryMax, "max_age": c.MaxAge, "drain_timeout": c.DrainTimeout,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %s", name, d))
		}
	}
	if _, err := ParsePII(string(c.PII)); err != nil {
		errs = append(errs, fmt.Errorf("pii: %w", err))
	}
	for i := range c.Silences {
		if err := c.Silences[i].Validate(); err != nil {
			errs = append(errs, fmt.Errorf("silences[%d]: %w", i, err))
		}
	}
	slices.SortFunc(errs, func(a, b error) int {
		switch {
		case a.Error() < b.Error():
			return -1
		case a.Error() > b.Error():
			return 1
		}
		return 0
	})
	return errors.Join(errs...)
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Timeout == 0 {
		out.Timeout = DefaultTimeout
	}
	if out.RetryInitial == 0 {
		out.RetryInitial = DefaultRetryInitial
	}
	if out.RetryMax == 0 {
		out.RetryMax = DefaultRetryMax
	}
	if out.RetryMax < out.RetryInitial {
		out.RetryMax = out.RetryInitial
	}
	if out.DrainTimeout == 0 {
		out.DrainTimeout = DefaultDrainTimeout
	}
	if out.PII == "" {
		out.PII = PIIRetain
	}
	if out.Clock == nil {
		out.Clock = systemClock{}
	}
	return out
}

// Route selects what a receiver is sent: alerts of at least MinSeverity,
// of one of Rules and carrying one of Tags. Rules are rule ids or
// path.Match patterns ("auth-*"). An empty field selects everything, so
// the zero Route selects every alert.
type Route struct {
	MinSeverity event.Severity
	Rules       []string
	Tags        []string
}

// Validate checks the severity and the patterns.
func (r Route) Validate() error {
	var errs []error
	if r.MinSeverity != "" && r.MinSeverity.Rank() < 0 {
		errs = append(errs, fmt.Errorf("min_severity: unknown severity %q (want info, low, medium, high or critical)", r.MinSeverity))
	}
	for i, p := range r.Rules {
		if _, err := path.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("rules[%d]: bad pattern %q", i, p))
		}
	}
	return errors.Join(errs...)
}

// Match reports whether r selects a.
func (r Route) Match(a *event.Alert) bool {
	if r.MinSeverity != "" && a.Severity.Rank() < r.MinSeverity.Rank() {
		return false
	}
	if len(r.Rules) > 0 && !matchAny(r.Rules, a.Rule) {
		return false
	}
	if len(r.Tags) > 0 && !slices.ContainsFunc(a.Tags, func(t string) bool { return slices.Contains(r.Tags, t) }) {
		return false
	}
	return true
}

// matchAny reports whether s equals or path-matches one of patterns.
func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if p == s {
			return true
		}
		if ok, err := path.Match(p, s); err == nil && ok {
			return true
		}
	}
	return false
}

// Receiver is a Notifier with what it is sent.
type Receiver struct {
	Notifier Notifier
	Route    Route
	// PII overrides Config.PII for this receiver; empty inherits it.
	PII PII
}

// Clock tells the time and makes timers; tests substitute a fake one.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
