// Package alert will hold vigil's alert Dispatcher: deduplication,
// grouping, silences, the durable outbox and retries, in front of the
// Notifier implementations in alert/slack and alert/webhook.
//
// The package is empty until alerting lands (issue #6); it exists so that
// the top-level layout of DESIGN.md is in place.
package alert
