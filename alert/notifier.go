package alert

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// Notifier delivers notifications to one receiver (a Slack channel, a
// webhook, standard output).
//
// Notify delivers alerts, one group's changes in the order the dispatcher
// chose, as a single notification where the receiver allows it. It must
// honour ctx (the dispatcher bounds every attempt with a timeout) and must
// not retry on its own: it returns nil once delivered, and otherwise an
// error that says whether trying again can help (see Error). An error that
// is not an *Error counts as retryable. The dispatcher calls Notify from one
// goroutine per receiver, never concurrently for the same Notifier.
//
// A Notifier that posts several messages for one call can learn from
// NotificationID(ctx) that a call is a retry of an earlier one and skip
// what it already delivered.
type Notifier interface {
	// Name identifies the receiver in logs, metrics and the outbox. It must
	// be stable across restarts: the outbox remembers what each name still
	// has to deliver.
	Name() string
	Notify(ctx context.Context, alerts []event.Alert) error
}

// Error is a delivery failure classified for the dispatcher: Permanent
// failures (an invalid token, a channel that does not exist) are logged
// once, counted and not retried; the others are retried with backoff, no
// sooner than RetryAfter when it is set.
type Error struct {
	Err        error
	Permanent  bool
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	kind := "retryable"
	if e.Permanent {
		kind = "permanent"
	}
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%v (%s, retry after %s)", e.Err, kind, e.RetryAfter)
	}
	return fmt.Sprintf("%v (%s)", e.Err, kind)
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &Error{Err: err, Permanent: true} }

// Retryable marks err as worth retrying, no sooner than after (0: the
// dispatcher's backoff decides).
func Retryable(err error, after time.Duration) error {
	return &Error{Err: err, RetryAfter: after}
}

// IsPermanent reports whether err, or an error it wraps, is a permanent
// *Error.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// RetryAfter returns the retry delay an *Error in err's chain asks for, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

type notificationKey struct{}

// WithNotificationID returns ctx carrying id, the identity of one
// notification. The dispatcher sets it; retries of the same notification
// carry the same id.
func WithNotificationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, notificationKey{}, id)
}

// NotificationID returns the id WithNotificationID put in ctx, or "".
func NotificationID(ctx context.Context) string {
	id, _ := ctx.Value(notificationKey{}).(string)
	return id
}

// Recorder keeps the history of alerts: the dispatcher calls WriteAlert for
// every alert it is sent (each new alert and each change of one: a higher
// count, resolution), silenced ones included, before routing. The store's
// alert writer implements it; internal/app joins the two.
type Recorder interface {
	WriteAlert(ctx context.Context, a event.Alert) error
}
