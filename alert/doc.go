// Package alert delivers the alerts that rules raise: the Dispatcher
// deduplicates, groups, silences, routes and masks them, keeps them in a
// durable outbox and retries each receiver until it has them. Receivers
// implement Notifier: alert/slack (incoming webhook or bot token, with
// threads) and alert/webhook (signed JSON POST, NDJSON to a writer).
//
// # Life of an alert
//
// Send records the alert (Config.Recorder, the store's history), drops it
// if a silence matches (Config.Silences, and the silences file that `vigil
// silence` manages in the state directory, re-read when it changes), and
// picks the receivers whose Route matches (minimum severity, rule ids or
// patterns, tags). It then appends the alert to the outbox and fsyncs it;
// only then does Send return, and only then can a receiver see it.
//
// Each receiver groups alerts as Alertmanager does, with the rule as the
// group: within a group an alert is identified by rule and group values
// (event.Alert.GroupKey), so a newer version replaces the older one. A
// group's first notification leaves GroupWait after its first alert; later
// ones at most every GroupInterval, each holding the alerts that changed
// (new, higher count, resolved) in the order they first arrived; firing
// alerts that did not change are sent again after RepeatInterval. An
// unchanged version of an alert already sent is dropped as a duplicate. A
// group has at most one notification in flight, so a receiver sees a
// group's changes in order.
//
// Personal data is treated per receiver (ApplyPII: retain, mask or
// remove) when a notification is built; the outbox and the Recorder keep
// the alert as raised.
//
// # Delivery
//
// One goroutine per receiver delivers its notifications in order. An
// attempt is bounded by Config.Timeout. A retryable failure is tried again
// after an exponential backoff with jitter (RetryInitial doubling up to
// RetryMax, never sooner than the receiver's Retry-After), until delivered
// or, when Config.MaxAge is set, expired. A permanent failure (an invalid
// token, a channel that does not exist) is logged once per distinct error
// and counted (Stats.Failed); the notification is dropped rather than
// retried, so a broken receiver cannot busy-loop.
//
// # Outbox and restarts
//
// The outbox (StateDir/alerts/outbox.log, format in outbox.go) is an
// append-only file of CRC-checked records: each accepted alert with the
// receivers it is for, and acknowledgements once a receiver is done with
// it. After a crash (kill -9 included) NewDispatcher reads it back and
// queues every alert that some receiver has not acknowledged, so an
// accepted alert is delivered after a restart. Delivery is at least once:
// a crash between a receiver's answer and the fsync of its
// acknowledgement repeats that one notification. Grouping timers and
// repeat times are not persisted; restored alerts wait GroupWait again.
//
// # Concurrency
//
// Send, Stats and Close are safe for concurrent use. Run runs the timers
// and the receivers' goroutines; it is called once, and returns nil when
// its context ends (leaving undelivered alerts in the outbox) or after
// Close has drained the queue (bounded by Config.DrainTimeout).
package alert
