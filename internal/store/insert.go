package store

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-sec/vigil/internal/event"
)

// eventColumns returns the events table's INSERT column list for d.
func eventColumns(d Dialect) []string {
	cols := []string{"ts"}
	if d == Baseline {
		cols = append(cols, "ts_ms")
	}
	cols = append(cols,
		"host", "kind", "source", "parser", "program", "pid", "action", "outcome", "reason",
		"auth_method", "mfa", "user", "user_role", "target_user", "session_id",
		"src_ip", "src_port", "src_host", "src_host_verified", "src_zone",
		"geo_country", "geo_city", "geo_lat", "geo_lon", "geo_accuracy_km", "asn", "as_org",
		"http_method", "http_host", "http_path", "http_query", "http_status", "http_bytes", "http_referer", "user_agent",
		"severity", "message")
	if d == Baseline {
		cols = append(cols, "attrs.key", "attrs.value")
	} else {
		cols = append(cols, "attrs")
	}
	return append(cols, "raw", "event_id")
}

// insertSQL returns "INSERT INTO table (`c1`, `c2`, ...)".
func insertSQL(table string, cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = "`" + c + "`"
	}
	return "INSERT INTO " + table + " (" + strings.Join(q, ", ") + ")"
}

// eventBlock holds a batch of events column by column, converted to the
// Go types the driver appends without reflection.
type eventBlock struct {
	d Dialect

	ts                                               []time.Time
	tsMS                                             []uint16
	host, kind, source, parser, program              []string
	pid                                              []uint32
	action, outcome, reason, authMethod, mfa         []string
	user, userRole, targetUser, sessionID            []string
	srcIPFixed                                       []string // baseline: 16 raw bytes
	srcIP                                            []netip.Addr
	srcPort                                          []uint16
	srcHost                                          []string
	verifiedU8                                       []uint8
	verified                                         []bool
	srcZone, geoCountry, geoCity                     []string
	geoLat, geoLon                                   []float64
	geoAcc                                           []uint16
	asn                                              []uint32
	asOrg, httpMethod, httpHost, httpPath, httpQuery []string
	httpStatus                                       []uint16
	httpBytes                                        []uint64
	httpReferer, userAgent, severity, message        []string
	attrKeys, attrValues                             [][]string
	attrs                                            []map[string]string
	raw, eventID                                     []string
}

func (b *eventBlock) reset(d Dialect) {
	*b = eventBlock{
		d: d, ts: b.ts[:0], tsMS: b.tsMS[:0], host: b.host[:0], kind: b.kind[:0], source: b.source[:0],
		parser: b.parser[:0], program: b.program[:0], pid: b.pid[:0], action: b.action[:0],
		outcome: b.outcome[:0], reason: b.reason[:0], authMethod: b.authMethod[:0], mfa: b.mfa[:0],
		user: b.user[:0], userRole: b.userRole[:0], targetUser: b.targetUser[:0], sessionID: b.sessionID[:0],
		srcIPFixed: b.srcIPFixed[:0], srcIP: b.srcIP[:0], srcPort: b.srcPort[:0], srcHost: b.srcHost[:0],
		verifiedU8: b.verifiedU8[:0], verified: b.verified[:0], srcZone: b.srcZone[:0],
		geoCountry: b.geoCountry[:0], geoCity: b.geoCity[:0], geoLat: b.geoLat[:0], geoLon: b.geoLon[:0],
		geoAcc: b.geoAcc[:0], asn: b.asn[:0], asOrg: b.asOrg[:0], httpMethod: b.httpMethod[:0],
		httpHost: b.httpHost[:0], httpPath: b.httpPath[:0], httpQuery: b.httpQuery[:0],
		httpStatus: b.httpStatus[:0], httpBytes: b.httpBytes[:0], httpReferer: b.httpReferer[:0],
		userAgent: b.userAgent[:0], severity: b.severity[:0], message: b.message[:0],
		attrKeys: b.attrKeys[:0], attrValues: b.attrValues[:0], attrs: b.attrs[:0],
		raw: b.raw[:0], eventID: b.eventID[:0],
	}
}

// DateTime covers 1970-01-01 to 2106-02-07; times outside are clamped so
// that one bad timestamp cannot fail a whole batch.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Unix(1<<32-1, 0).UTC()
)

func clampTime(t time.Time) time.Time {
	t = t.UTC()
	if t.Before(minTime) {
		return minTime
	}
	if t.After(maxTime) {
		return maxTime
	}
	return t
}

func kindValue(k event.Kind) string {
	switch k {
	case event.KindAuth, event.KindWeb, event.KindError, event.KindAudit:
		return string(k)
	}
	return "unknown"
}

func outcomeValue(o event.Outcome) string {
	switch o {
	case event.OutcomeSuccess, event.OutcomeFailure:
		return string(o)
	}
	return "unknown"
}

// addr16 returns a as 16 bytes (IPv4 mapped into IPv6); no address is 16
// zero bytes.
func addr16(a netip.Addr) string {
	if !a.IsValid() {
		return string(make([]byte, 16))
	}
	b := a.As16()
	return string(b[:])
}

func (b *eventBlock) add(e *event.Event) {
	ts := clampTime(e.Ts)
	if b.d == Baseline {
		b.ts = append(b.ts, ts.Truncate(time.Second))
		b.tsMS = append(b.tsMS, uint16(ts.Nanosecond()/int(time.Millisecond)))
	} else {
		b.ts = append(b.ts, ts.Truncate(time.Millisecond))
	}
	b.host = append(b.host, e.Host)
	b.kind = append(b.kind, kindValue(e.Kind))
	b.source = append(b.source, e.Source)
	b.parser = append(b.parser, e.Parser)
	b.program = append(b.program, e.Program)
	b.pid = append(b.pid, e.PID)
	b.action = append(b.action, e.Action)
	b.outcome = append(b.outcome, outcomeValue(e.Outcome))
	b.reason = append(b.reason, e.Reason)
	b.authMethod = append(b.authMethod, e.AuthMethod)
	b.mfa = append(b.mfa, e.MFA)
	b.user = append(b.user, e.User)
	b.userRole = append(b.userRole, string(e.UserRole))
	b.targetUser = append(b.targetUser, e.TargetUser)
	b.sessionID = append(b.sessionID, e.SessionID)
	if b.d == Baseline {
		b.srcIPFixed = append(b.srcIPFixed, addr16(e.SrcIP))
		var v uint8
		if e.SrcHostVerified {
			v = 1
		}
		b.verifiedU8 = append(b.verifiedU8, v)
	} else {
		a := netip.IPv6Unspecified()
		if e.SrcIP.IsValid() {
			a = netip.AddrFrom16(e.SrcIP.As16())
		}
		b.srcIP = append(b.srcIP, a)
		b.verified = append(b.verified, e.SrcHostVerified)
	}
	b.srcPort = append(b.srcPort, e.SrcPort)
	b.srcHost = append(b.srcHost, e.SrcHost)
	b.srcZone = append(b.srcZone, string(e.SrcZone))
	b.geoCountry = append(b.geoCountry, e.GeoCountry)
	b.geoCity = append(b.geoCity, e.GeoCity)
	b.geoLat = append(b.geoLat, e.GeoLat)
	b.geoLon = append(b.geoLon, e.GeoLon)
	b.geoAcc = append(b.geoAcc, e.GeoAccuracyKm)
	b.asn = append(b.asn, e.ASN)
	b.asOrg = append(b.asOrg, e.ASOrg)
	b.httpMethod = append(b.httpMethod, e.HTTPMethod)
	b.httpHost = append(b.httpHost, e.HTTPHost)
	b.httpPath = append(b.httpPath, e.HTTPPath)
	b.httpQuery = append(b.httpQuery, e.HTTPQuery)
	b.httpStatus = append(b.httpStatus, e.HTTPStatus)
	b.httpBytes = append(b.httpBytes, e.HTTPBytes)
	b.httpReferer = append(b.httpReferer, e.HTTPReferer)
	b.userAgent = append(b.userAgent, e.UserAgent)
	b.severity = append(b.severity, e.Severity)
	b.message = append(b.message, e.Message)
	if b.d == Baseline {
		keys, values := splitAttrs(e.Attrs)
		b.attrKeys = append(b.attrKeys, keys)
		b.attrValues = append(b.attrValues, values)
	} else {
		m := e.Attrs
		if m == nil {
			m = map[string]string{}
		}
		b.attrs = append(b.attrs, m)
	}
	b.raw = append(b.raw, e.Raw)
	b.eventID = append(b.eventID, string(e.EventID[:]))
}

// splitAttrs returns the attributes as parallel key and value slices in key
// order (never nil, so that the driver appends empty arrays).
func splitAttrs(m map[string]string) (keys, values []string) {
	if len(m) == 0 {
		return []string{}, []string{}
	}
	keys = make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	values = make([]string, len(keys))
	for i, k := range keys {
		values[i] = m[k]
	}
	return keys, values
}

// columns returns the column slices in the order of eventColumns.
func (b *eventBlock) columns() []any {
	cols := []any{b.ts}
	if b.d == Baseline {
		cols = append(cols, b.tsMS)
	}
	cols = append(cols, b.host, b.kind, b.source, b.parser, b.program, b.pid, b.action, b.outcome, b.reason,
		b.authMethod, b.mfa, b.user, b.userRole, b.targetUser, b.sessionID)
	if b.d == Baseline {
		cols = append(cols, b.srcIPFixed, b.srcPort, b.srcHost, b.verifiedU8)
	} else {
		cols = append(cols, b.srcIP, b.srcPort, b.srcHost, b.verified)
	}
	cols = append(cols, b.srcZone, b.geoCountry, b.geoCity, b.geoLat, b.geoLon, b.geoAcc, b.asn, b.asOrg,
		b.httpMethod, b.httpHost, b.httpPath, b.httpQuery, b.httpStatus, b.httpBytes, b.httpReferer, b.userAgent,
		b.severity, b.message)
	if b.d == Baseline {
		cols = append(cols, b.attrKeys, b.attrValues)
	} else {
		cols = append(cols, b.attrs)
	}
	return append(cols, b.raw, b.eventID)
}

// insertEvents sends evs as one INSERT. The outcome of a failed Send is
// unknown to the caller: the rows may or may not be stored.
func insertEvents(ctx context.Context, conn driver.Conn, d Dialect, blk *eventBlock, evs []event.Event) error {
	if len(evs) == 0 {
		return nil
	}
	blk.reset(d)
	for i := range evs {
		blk.add(&evs[i])
	}
	cols := eventColumns(d)
	batch, err := conn.PrepareBatch(ctx, insertSQL("events", cols))
	if err != nil {
		return fmt.Errorf("prepare insert of %d events: %w", len(evs), err)
	}
	defer func() { _ = batch.Close() }()
	for i, c := range blk.columns() {
		if err := batch.Column(i).Append(c); err != nil {
			return fmt.Errorf("append column %s: %w", cols[i], err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert batch of %d events: %w", len(evs), err)
	}
	return nil
}
