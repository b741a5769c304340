// Package builtin holds vigil's shipped detection rules: YAML files in the
// rule format of package rules, embedded in the binary. FS holds them at its
// root, one or more rules per file grouped by subject:
//
//	auth.yml     failed-login bursts, spraying, stuffing, success after failures (sshd and the helpdesk)
//	access.yml   logins from outside the allowlist, default admin names, MFA, business hours, geo
//	helpdesk.yml staff acting from outside, privileged admin actions, sessions, reverse DNS
//	web.yml      sensitive paths, restricted areas, scanners, 5xx bursts
//	errors.yml   error-log spikes and new or crash signatures
//	health.yml   log sources gone silent
//
// Load them with rules.LoadFS(builtin.FS, "."). Every rule carries inline
// tests (log lines in, alerts out) that `vigil rules test` and this
// package's tests run with the real parsers. Thresholds, windows and their
// sources are given in each rule's description; the catalog they come from
// is research/rule-catalog.md. The rules use the named lists of
// ingest/enrich (sensitive_paths, restricted_paths, admin_interfaces,
// scanner_user_agents, static_paths, default_admin_accounts, admin_users).
package builtin

import "embed"

// FS holds the shipped rule files (*.yml) at its root. It is read-only and
// safe for concurrent use.
//
//go:embed *.yml
var FS embed.FS
