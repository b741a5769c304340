// Package rules holds vigil's detection rules: the YAML rule format, the
// compilation of rule expressions (expr-lang/expr) against event.Event, and
// the Engine that evaluates rules on event time with bounded state and
// raises event.Alert values. The shipped catalog lives in rules/builtin.
// Rules read event.Event only; they do not import ingest, the store or
// alert (internal/app joins them).
//
// # Rule files
//
// A rule file holds one or more YAML documents, one rule each, decoded
// strictly (an unknown key is an error naming file:line). Every rule has:
//
//	id: auth-fail-burst-ip            # unique, [a-z0-9-]+
//	title: Failed-login burst from one address
//	severity: medium                  # info | low | medium | high | critical
//	description: ...                  # why it matters, false positives
//	tags: [attack.credential_access, attack.t1110]
//	kind: threshold                   # see below
//	where: action == "login" && outcome == "failure"   # expr; the events that count
//	group_by: [src_ip]                # event fields; alerts dedup per rule and group
//	cooldown: 15m                     # repeats inside it fold into the open alert
//	summary: '{{.count}} failed logins from {{.src_ip}} in {{.window}}'
//	enabled: true                     # default true
//	tests: [...]                      # inline tests, below
//
// and the keys of its kind:
//
//	match       where
//	threshold   window, threshold (>= N matching events per group in window)
//	distinct    window, field, threshold (>= N distinct values of field per group)
//	sequence    window, steps: [{where, count (default 1)}, ...] in order per group;
//	            a step's count means that many matching events before the next step
//	first_seen  field (one or several: [user, geo_country] as a tuple is written
//	            field: [geo_country] with group_by: [user]), learn (a learning
//	            period from the first event the rule sees; values seen in it are
//	            recorded, not alerted)
//	velocity    max_kmh (default 800), min_km (default 500); group_by the
//	            traveller (user); pairs where either accuracy radius exceeds
//	            half the distance are skipped
//	absence     window, and where naming the events expected; fires once per
//	            group when no such event came for window of event time (the
//	            watermark), and again only after the events resumed
//	sql         query (a ClickHouse SELECT; each row is an alert, its columns
//	            named like alert fields), every (schedule); runs only when the
//	            store is configured, and is lint-checked always
//
// where is optional for sequence (the steps carry it) and sql. Durations are
// Go durations plus d for days (14d). An IPv6 src_ip in group_by groups by
// its /64 (event.GroupAddr); ipv6_prefix: N changes the prefix per rule.
//
// Expressions see the event's fields by their canonical names (src_ip,
// http_status, ...; see package event) and these helpers: in_cidr(addr,
// "cidr"...), in_list("list_name", value) (named lists from the config: the
// engine takes a ListLookup), has_prefix, has_suffix, contains, matches
// (a regexp, compiled once when the pattern is a constant), lower, upper,
// is_internal(addr) (zone internal), hour_of_day(ts, "tz"), weekday(ts, "tz").
//
// summary is a text/template executed over a map with the canonical fields of
// the event that fired the alert, plus count, window, distinct (the distinct
// values for a distinct rule, newest last, at most 20; repeats folded into
// the alert refresh them), rule and title; a velocity rule adds
// distance_km, speed_kmh, prev_country and prev_city, an absence rule
// silent_since. cooldown defaults to 15m; 0 makes every firing its own alert.
//
// # Inline tests
//
//	tests:
//	  - name: eight failures within two minutes fire
//	    format: sshd                  # parser for the lines; default auto
//	    lines: |                      # log lines, one per line
//	      2026-11-20T10:00:01Z web1 sshd[10]: Failed password for root from 203.0.113.7 port 4242 ssh2
//	      ...
//	    events:                       # or events given field by field,
//	      - {ts: 2026-11-20T10:00:00Z, action: login, outcome: success, user: bob, geo_lat: 48.8, geo_lon: 2.3}
//	    set: {geo_country: FR}        # fields set on every input event
//	    alerts:                       # the alerts expected, in order; [] means none
//	      - {group: {src_ip: 203.0.113.7}, count: 8}
//
// An expected alert lists only the fields it checks (group, count, severity,
// user, src_ip, summary). Lines are parsed by a fresh parser per test from
// the caller's TestEnv (the rules package does not import ingest), then
// enriched with the default network zones, then given the set fields, then
// fed to an Engine holding only the rule under test; events follow the
// lines. Each alert is compared in its final version (repeats folded in,
// after Flush), in order of firing. sql rules are not run by tests.
//
// # Engine
//
// Windows run on event time. The engine's clock is a watermark: the largest
// event time seen minus the allowed lateness (default 1m); events older than
// the watermark are counted as late and still evaluated against the state
// they can reach. State per rule is bounded by a key cap (default 100,000
// groups) with least-recently-used eviction, counted in a metric, and is
// snapshotted to the state directory so that a restart neither forgets nor
// alerts twice. The same input always gives the same alerts.
//
// The first_seen rules that start without state (a fresh install, a rule
// added or changed since the snapshot) can be warmed from stored events
// before the first Process: Warming says which events would help, Warm
// records their tuples and starts the learning period at the oldest, and
// nothing fires. A store holding more than learn of history thus ends the
// learning period at once, knowing each group's usual values.
//
// An alert is returned when it fires. Repeats inside its cooldown fold into
// it (count, last_ts, evidence; same id); if any did, it is returned once
// more, state resolved, when the watermark passes the end of the cooldown,
// or by Flush at the end of a replay. Tick(now) moves the watermark when no
// events come (absence). sql rules run on the clock the app passes to
// RunSQL (the wall clock in the daemon), at each multiple of every; each
// returned row fires once, grouped by its columns that are not alert fields.
package rules
