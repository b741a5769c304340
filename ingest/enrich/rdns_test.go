package enrich

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-sec/vigil/ingest/enrich/enrichtest"
	"github.com/vigil-sec/vigil/internal/event"
)

// newTestRDNS builds a ReverseDNS that asks srv, closed with the test.
func newTestRDNS(t *testing.T, srv *enrichtest.DNS, cfg RDNSConfig) *ReverseDNS {
	t.Helper()
	cfg.Server = srv.Addr()
	r, err := NewReverseDNS(cfg, nil)
	if err != nil {
		t.Fatalf("NewReverseDNS: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// auditEvent is an event the default When selects.
func auditEvent(ip string) *event.Event {
	ev := &event.Event{Kind: event.KindAudit, Action: event.ActionReply}
	if ip != "" {
		ev.SrcIP = netip.MustParseAddr(ip)
	}
	return ev
}

func enrich(t *testing.T, r *ReverseDNS, ev *event.Event) {
	t.Helper()
	if err := r.Enrich(t.Context(), ev); err != nil {
		t.Fatalf("Enrich(%v): %v", ev.SrcIP, err)
	}
}

// waitIdle blocks until no lookup is running, background ones included, by
// taking every semaphore token.
func waitIdle(t *testing.T, r *ReverseDNS) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for i := range cap(r.sem) {
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			t.Fatalf("lookups still running after 10s (%d of %d tokens taken)", i, cap(r.sem))
		}
	}
	for range cap(r.sem) {
		<-r.sem
	}
}

// fakeClock is the cache clock of the TTL tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestReverseDNSResolve(t *testing.T) {
	srv := enrichtest.NewDNS(t)
	srv.AddPTR("192.0.2.10", "Host1.Example.COM")
	srv.AddHost("host1.example.com", "192.0.2.10")
	srv.AddPTR("2001:db8::5", "v6host.example.net")
	srv.AddHost("v6host.example.net", "2001:db8::5", "192.0.2.55")
	srv.AddPTR("192.0.2.20", "spoof.example.org")
	srv.AddHost("spoof.example.org", "198.51.100.7")
	srv.AddPTR("192.0.2.21", "dangling.example.org") // no forward record at all
	srv.AddPTR("192.0.2.22", "other.example.org", "good.example.org")
	srv.AddHost("other.example.org", "198.51.100.8")
	srv.AddHost("good.example.org", "192.0.2.22")
	r := newTestRDNS(t, srv, RDNSConfig{Timeout: 5 * time.Second})

	tests := []struct {
		name         string
		ip           string
		wantHost     string
		wantVerified bool
	}{
		{"verified", "192.0.2.10", "host1.example.com", true},
		{"ipv4-mapped", "::ffff:192.0.2.10", "host1.example.com", true},
		{"ipv6", "2001:db8::5", "v6host.example.net", true},
		{"ipv6 with zone", "2001:db8::5%eth0", "v6host.example.net", true},
		{"forward mismatch", "192.0.2.20", "spoof.example.org", false},
		{"no forward record", "192.0.2.21", "dangling.example.org", false},
		{"second name verifies", "192.0.2.22", "good.example.org", true},
		{"nxdomain", "192.0.2.30", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := auditEvent(tc.ip)
			enrich(t, r, ev)
			if ev.SrcHost != tc.wantHost || ev.SrcHostVerified != tc.wantVerified {
				t.Errorf("Enrich(%s): src_host %q verified %v, want %q %v",
					tc.ip, ev.SrcHost, ev.SrcHostVerified, tc.wantHost, tc.wantVerified)
			}
		})
	}
	// The forward lookup asks only for the address family of the source.
	if n := srv.Count("AAAA", "host1.example.com"); n != 0 {
		t.Errorf("AAAA queries for an IPv4 source: %d, want 0", n)
	}
	if n := srv.Count("A", "v6host.example.net"); n != 0 {
		t.Errorf("A queries for an IPv6 source: %d, want 0", n)
	}
	// The mapped and zoned forms share the cache entry of the plain address.
	if n := srv.Count("PTR", "192.0.2.10"); n != 1 {
		t.Errorf("PTR queries for 192.0.2.10: %d, want 1", n)
	}
	got := r.Stats()
	want := RDNSStats{Hits: 2, Misses: 6, Lookups: 6, Entries: 6}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestReverseDNSNegativeCached(t *testing.T) {
	srv := enrichtest.NewDNS(t)
	r := newTestRDNS(t, srv, RDNSConfig{})
	for range 3 {
		ev := auditEvent("192.0.2.30")
		enrich(t, r, ev)
		if ev.SrcHost != "" {
			t.Fatalf("src_host = %q for an address without PTR, want empty", ev.SrcHost)
		}
	}
	if n := srv.Count("PTR", "192.0.2.30"); n != 1 {
		t.Errorf("PTR queries at the server: %d, want 1 (negative answer cached)", n)
	}
	if got := r.Stats(); got.Hits != 2 || got.Misses != 1 || got.Lookups != 1 || got.Errors != 0 {
		t.Errorf("Stats() = %+v, want 2 hits, 1 miss, 1 lookup, 0 errors", got)
	}
}

func TestReverseDNSSelection(t *testing.T) {
	srv := enrichtest.NewDNS(t)
	srv.AddPTR("192.0.2.10", "host1.example.com")
	srv.AddHost("host1.example.com", "192.0.2.10")
	r := newTestRDNS(t, srv, RDNSConfig{}) // default When

	ip := netip.MustParseAddr("192.0.2.10")
	tests := []struct {
		name string
		ev   event.Event
		want bool // resolved
	}{
		{"failed login", event.Event{Kind: event.KindAuth, Action: event.ActionLogin, Outcome: event.OutcomeFailure, SrcIP: ip}, false},
		{"web request", event.Event{Kind: event.KindWeb, Action: event.ActionHTTPRequest, SrcIP: ip}, false},
		{"audit without address", event.Event{Kind: event.KindAudit}, false},
		{"successful login", event.Event{Kind: event.KindAuth, Action: event.ActionLogin, Outcome: event.OutcomeSuccess, SrcIP: ip}, true},
		{"audit", event.Event{Kind: event.KindAudit, Action: event.ActionAdminAction, SrcIP: ip}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := tc.ev
			before := srv.Total()
			enrich(t, r, &ev)
			if got := ev.SrcHost != ""; got != tc.want {
				t.Errorf("resolved = %v (src_host %q), want %v", got, ev.SrcHost, tc.want)
			}
			if !tc.want {
				if diff := cmp.Diff(tc.ev, ev, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
					t.Errorf("unselected event changed (-before +after):\n%s", diff)
				}
				if n := srv.Total() - before; n != 0 {
					t.Errorf("unselected event caused %d queries", n)
				}
			}
		})
	}

	r2 := newTestRDNS(t, srv, RDNSConfig{When: `http_status >= 400 && src_zone != "internal"`})
	ev := event.Event{Kind: event.KindWeb, HTTPStatus: 404, SrcIP: ip, SrcZone: event.ZoneExternal}
	enrich(t, r2, &ev)
	if ev.SrcHost != "host1.example.com" {
		t.Errorf("custom When: src_host %q, want host1.example.com", ev.SrcHost)
	}
	ev = event.Event{Kind: event.KindWeb, HTTPStatus: 404, SrcIP: ip, SrcZone: event.ZoneInternal}
	enrich(t, r2, &ev)
	if ev.SrcHost != "" {
		t.Errorf("custom When, internal source: src_host %q, want empty", ev.SrcHost)
	}
}

func TestReverseDNSTimeout(t *testing.T) {
	srv := enrichtest.NewDNS(t)
	srv.AddPTR("192.0.2.40", "slow.example.com")
	srv.AddHost("slow.example.com", "192.0.2.40")
	srv.SetDelay("192.0.2.40", 200*time.Millisecond)
	srv.AddPTR("192.0.2.41", "stuck.example.com")
	srv.SetDelay("192.0.2.41", time.Hour) // beyond the background deadline too
	const timeout = 50 * time.Millisecond
	r := newTestRDNS(t, srv, RDNSConfig{Timeout: timeout}) // background deadline 500ms
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	r.setClock(clock.Now)

	for _, ip := range []string{"192.0.2.40", "192.0.2.41"} {
		ev := auditEvent(ip)
		start := time.Now()
		enrich(t, r, ev)
		if d := time.Since(start); d > 5*timeout {
			t.Errorf("Enrich(%s) took %v, want about %v", ip, d, timeout)
		}
		if ev.SrcHost != "" {
			t.Errorf("Enrich(%s) src_host = %q after a timeout, want empty", ip, ev.SrcHost)
		}
	}
	if got := r.Stats(); got.Timeouts != 2 || got.Lookups != 2 {
		t.Errorf("Stats() = %+v, want 2 timeouts and 2 lookups", got)
	}

	// The slow lookup completes in the background and fills the cache; the
	// stuck one hits its deadline and is cached as a failure for a minute.
	waitIdle(t, r)
	ev := auditEvent("192.0.2.40")
	enrich(t, r, ev)
	if ev.SrcHost != "slow.example.com" || !ev.SrcHostVerified {
		t.Errorf("after the background lookup: src_host %q verified %v, want slow.example.com true", ev.SrcHost, ev.SrcHostVerified)
	}
	enrich(t, r, auditEvent("192.0.2.41"))
	clock.Advance(59 * time.Second)
	enrich(t, r, auditEvent("192.0.2.41"))
	if n := srv.Count("PTR", "192.0.2.41"); n != 1 {
		t.Errorf("PTR queries for the stuck address within a minute: %d, want 1", n)
	}
	got := r.Stats()
	if got.Hits != 3 || got.Errors != 0 || got.Lookups != 2 {
		t.Errorf("Stats() = %+v, want 3 hits, 0 errors, 2 lookups", got)
	}
	clock.Advance(2 * time.Second)
	enrich(t, r, auditEvent("192.0.2.41")) // expired: a new lookup, which times out again
	if got := r.Stats(); got.Lookups != 3 {
		t.Errorf("Stats().Lookups = %d after the failure TTL, want 3", got.Lookups)
	}
}

func TestReverseDNSSingleflight(t *testing.T) {
	srv := enrichtest.NewDNS(t)
	srv.AddPTR("192.0.2.50", "busy.example.com")
	srv.AddHost("busy.example.com", "192.0.2.50")
	srv.SetDelay("192.0.2.50", 200*time.Millisecond)
	r := newTestRDNS(t, srv, RDNSConfig{Timeout: 10 * time.Second})

	const n = 100
	evs := make([]*event.Event, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		evs[i] = auditEvent("192.0.2.50")
		wg.Go(func() {
			<-start
			if err := r.Enrich(t.Context(), evs[i]); err != nil {
				t.Errorf("Enrich: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	for i, ev := range evs {
		if ev.SrcHost != "busy.example.com" || !ev.SrcHostVerified {
			t.Fatalf("event %d: src_host %q verified %v, want busy.example.com true", i, ev.SrcHost, ev.SrcHostVerified)
		}
	}
	if got := srv.Count("PTR", "192.0.2.50"); got != 1 {
		t.Errorf("PTR queries at the server: %d, want 1", got)
	}
	if got := r.Stats(); got.Lookups != 1 || got.Hits+got.Misses != n || got.Timeouts != 0 {
		t.Errorf("Stats() = %+v, want 1 lookup, %d hits+misses, no timeouts", got, n)
	}
}

func TestReverseDNSTTL(t *testing.T) {
	srv := enrichtest.NewDNS(t)
	srv.AddPTR("192.0.2.60", "ttl.example.com")
	srv.AddHost("ttl.example.com", "192.0.2.60")
	srv.SetServfail("192.0.2.62")
	r := newTestRDNS(t, srv, RDNSConfig{PositiveTTL: time.Hour, NegativeTTL: 5 * time.Minute})
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	r.setClock(clock.Now)

	// Each address is looked up at t=0; step advances the clock to each
	// offset in turn, enriches again, and checks the number of PTR queries.
	tests := []struct {
		name string
		ip   string
		host string
		ttl  time.Duration
	}{
		{"positive", "192.0.2.60", "ttl.example.com", time.Hour},
		{"negative", "192.0.2.61", "", 5 * time.Minute},
		{"server failure", "192.0.2.62", "", time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock.Advance(24 * time.Hour) // every earlier entry has expired
			ptrQueries := func() int { return srv.Count("PTR", tc.ip) }
			enrich(t, r, auditEvent(tc.ip))
			first := ptrQueries()
			if first == 0 {
				t.Fatal("no PTR query at the server")
			}
			clock.Advance(tc.ttl - time.Second)
			ev := auditEvent(tc.ip)
			enrich(t, r, ev)
			if ev.SrcHost != tc.host {
				t.Errorf("cached: src_host %q, want %q", ev.SrcHost, tc.host)
			}
			if n := ptrQueries(); n != first {
				t.Errorf("PTR queries before the TTL: %d, want %d", n, first)
			}
			clock.Advance(2 * time.Second)
			enrich(t, r, auditEvent(tc.ip))
			if n := ptrQueries(); n <= first {
				t.Errorf("PTR queries after the TTL: %d, want more than %d", n, first)
			}
		})
	}
	if got := r.Stats(); got.Errors != 2 {
		t.Errorf("Stats().Errors = %d, want 2 (two SERVFAIL lookups)", got.Errors)
	}
}

func TestReverseDNSEviction(t *testing.T) {
	srv := enrichtest.NewDNS(t)
	r := newTestRDNS(t, srv, RDNSConfig{CacheSize: 2})
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.1", "192.0.2.3", "192.0.2.1", "192.0.2.2"} {
		enrich(t, r, auditEvent(ip))
	}
	// 192.0.2.3 evicts .2 (least recently used), so .2 is asked twice and
	// .1, kept fresh by its hits, once.
	for ip, want := range map[string]int{"192.0.2.1": 1, "192.0.2.2": 2, "192.0.2.3": 1} {
		if n := srv.Count("PTR", ip); n != want {
			t.Errorf("PTR queries for %s: %d, want %d", ip, n, want)
		}
	}
	if got := r.Stats(); got.Entries != 2 {
		t.Errorf("Stats().Entries = %d, want 2", got.Entries)
	}
}

// TestReverseDNSLoadShedding is the attack case: a slow DNS server and
// events from many addresses must not slow ingestion down, and the server
// never sees more than MaxInFlight queries at once.
func TestReverseDNSLoadShedding(t *testing.T) {
	srv := enrichtest.NewDNS(t)
	srv.SetDefaultDelay(150 * time.Millisecond)
	const timeout = 30 * time.Millisecond // background deadline 300ms
	r := newTestRDNS(t, srv, RDNSConfig{MaxInFlight: 2, Timeout: timeout})

	const n = 1000
	ips := make(chan string, n)
	for i := range n {
		ips <- fmt.Sprintf("10.1.%d.%d", i/256, i%256)
	}
	close(ips)
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ip := range ips {
				if err := r.Enrich(t.Context(), auditEvent(ip)); err != nil {
					t.Errorf("Enrich(%s): %v", ip, err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	// Queued one after another the lookups would take n*timeout = 30s.
	if elapsed > 5*time.Second {
		t.Errorf("%d events took %v with a slow DNS server", n, elapsed)
	}
	got := r.Stats()
	t.Logf("%d events in %v: %+v", n, elapsed, got)
	if got.Misses != n || got.Hits != 0 {
		t.Errorf("Stats() = %+v, want %d misses and no hits", got, n)
	}
	if got.LoadShed+got.Lookups != n {
		t.Errorf("load_shed %d + lookups %d = %d, want %d", got.LoadShed, got.Lookups, got.LoadShed+got.Lookups, n)
	}
	if got.LoadShed < n/2 {
		t.Errorf("load_shed = %d, want most of %d", got.LoadShed, n)
	}
	// Every lookup outlasts the wait of the Enrich that started it (unless
	// that goroutine was descheduled for longer than the server's delay).
	if got.Timeouts == 0 || got.Timeouts > got.Lookups {
		t.Errorf("timeouts %d, lookups %d, want 1 <= timeouts <= lookups", got.Timeouts, got.Lookups)
	}
	waitIdle(t, r)
	if got := r.Stats(); got.Errors != 0 || got.Entries != int(got.Lookups) {
		t.Errorf("after the background lookups: %+v, want no errors and one entry per lookup", got)
	}

	// A sustained attack: the server answers faster than the timeout, so
	// lookup slots free up and are taken again at once, while the server
	// never has more than max_in_flight queries to answer.
	srv.SetDefaultDelay(5 * time.Millisecond)
	var next atomic.Int64
	deadline := time.Now().Add(5 * time.Second)
	for range 8 {
		wg.Go(func() {
			for srv.Total() < 50 && time.Now().Before(deadline) {
				i := n + next.Add(1)
				ip := fmt.Sprintf("10.%d.%d.%d", 2+i>>16&0xff, i>>8&0xff, i&0xff) // not 10.1/16: no cache hits
				if err := r.Enrich(t.Context(), auditEvent(ip)); err != nil {
					t.Errorf("Enrich(%s): %v", ip, err)
				}
			}
		})
	}
	wg.Wait()
	waitIdle(t, r)
	maxInFlight := srv.MaxInFlight()
	got = r.Stats()
	t.Logf("sustained: %d events, %d queries at the server, at most %d at once: %+v", next.Load(), srv.Total(), maxInFlight, got)
	if srv.Total() < 50 {
		t.Errorf("only %d queries reached the server in 5s", srv.Total())
	}
	if maxInFlight > 2 || maxInFlight == 0 {
		t.Errorf("server saw %d queries at once, want 1 or 2 (max_in_flight)", maxInFlight)
	}
}

func TestReverseDNSTCPFallback(t *testing.T) {
	srv := enrichtest.NewDNS(t)
	srv.AddPTR("192.0.2.70", "big.example.com")
	srv.AddHost("big.example.com", "192.0.2.70")
	srv.SetTruncate("192.0.2.70")
	r := newTestRDNS(t, srv, RDNSConfig{Timeout: 5 * time.Second})
	ev := auditEvent("192.0.2.70")
	enrich(t, r, ev)
	if ev.SrcHost != "big.example.com" || !ev.SrcHostVerified {
		t.Errorf("src_host %q verified %v, want big.example.com true", ev.SrcHost, ev.SrcHostVerified)
	}
	if tcp := srv.TCPQueries(); tcp != 1 {
		t.Errorf("TCP queries: %d, want 1", tcp)
	}
}

func TestReverseDNSContextCanceled(t *testing.T) {
	srv := enrichtest.NewDNS(t)
	srv.SetDelay("192.0.2.80", time.Hour)
	r := newTestRDNS(t, srv, RDNSConfig{Timeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ev := auditEvent("192.0.2.80")
	if err := r.Enrich(ctx, ev); err != context.Canceled {
		t.Errorf("Enrich with a canceled context = %v, want context.Canceled", err)
	}
}

func TestReverseDNSClose(t *testing.T) {
	srv := enrichtest.NewDNS(t)
	srv.SetDelay("192.0.2.90", time.Hour)
	r := newTestRDNS(t, srv, RDNSConfig{Timeout: 5 * time.Second}) // background deadline 50s
	// Enrich gives up when its context ends; the lookup runs on.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := r.Enrich(ctx, auditEvent("192.0.2.90")); err != context.DeadlineExceeded {
		t.Fatalf("Enrich = %v, want context.DeadlineExceeded", err)
	}
	done := make(chan struct{})
	go func() {
		r.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second): // resolv.conf's default timeout is 5s
		t.Fatal("Close did not stop the background lookup")
	}
	before := r.Stats().Lookups
	ev := auditEvent("192.0.2.91")
	enrich(t, r, ev) // after Close: no lookup, no error
	if got := r.Stats().Lookups; got != before {
		t.Errorf("lookups after Close: %d, want %d", got, before)
	}
}

func TestRDNSConfigValidate(t *testing.T) {
	if err := DefaultRDNSConfig().Validate(); err != nil {
		t.Errorf("DefaultRDNSConfig().Validate() = %v", err)
	}
	if err := (RDNSConfig{}).Validate(); err != nil {
		t.Errorf("zero RDNSConfig.Validate() = %v", err)
	}
	for _, s := range []string{"192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53", "2001:db8::53"} {
		if err := (RDNSConfig{Server: s}).Validate(); err != nil {
			t.Errorf("Validate(server %q) = %v", s, err)
		}
	}
	bad := RDNSConfig{
		When:        `kind ==`,
		Timeout:     -time.Second,
		CacheSize:   -1,
		PositiveTTL: -time.Minute,
		NegativeTTL: -time.Minute,
		MaxInFlight: 100_000,
		Server:      "dns.example.com:53",
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate() = nil for a bad config")
	}
	for _, want := range []string{
		"rdns.when: unexpected token EOF",
		"rdns.timeout: must be between 0 and 30s, got -1s",
		"rdns.cache_size: must be between 0 and 10000000, got -1",
		"rdns.positive_ttl: must not be negative",
		"rdns.negative_ttl: must not be negative",
		"rdns.max_in_flight: must be between 0 and 4096, got 100000",
		`rdns.server: want an IP address with an optional port ("192.0.2.53", "[2001:db8::53]:53"), got "dns.example.com:53"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() error lacks %q; got:\n%v", want, err)
		}
	}
	if _, err := NewReverseDNS(bad, nil); err == nil {
		t.Error("NewReverseDNS accepted a bad config")
	}
	if _, err := NewReverseDNS(RDNSConfig{When: "kind"}, nil); err == nil || !strings.HasPrefix(err.Error(), "rdns.when: expected bool") {
		t.Errorf("NewReverseDNS(when: kind) error = %v, want rdns.when: expected bool...", err)
	}
}

func TestReverseDNSDefaults(t *testing.T) {
	r, err := NewReverseDNS(RDNSConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.when.String() != DefaultRDNSWhen || r.timeout != DefaultRDNSTimeout || cap(r.sem) != DefaultRDNSMaxInFlight ||
		r.posTTL != time.Hour || r.negTTL != 5*time.Minute || r.failTTL != time.Minute || r.budget != 3*time.Second {
		t.Errorf("defaults not applied: when %q timeout %v max_in_flight %d ttl %v/%v/%v budget %v",
			r.when, r.timeout, cap(r.sem), r.posTTL, r.negTTL, r.failTTL, r.budget)
	}
	if n := len(r.shards) * r.shards[0].capacity; n < DefaultRDNSCacheSize || n > DefaultRDNSCacheSize+len(r.shards) {
		t.Errorf("cache capacity %d, want about %d", n, DefaultRDNSCacheSize)
	}
}

// benchRDNS returns a ReverseDNS whose cache holds ip; it does no I/O.
func benchRDNS(b *testing.B, ip netip.Addr) *ReverseDNS {
	r, err := NewReverseDNS(RDNSConfig{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	r.shards[rdnsHash(ip)&r.mask].put(ip, "host.example.com", true, time.Duration(1<<62))
	return r
}

func BenchmarkReverseDNSHit(b *testing.B) {
	ip := netip.MustParseAddr("192.0.2.10")
	r := benchRDNS(b, ip)
	ev := &event.Event{Kind: event.KindAuth, Action: event.ActionLogin, Outcome: event.OutcomeSuccess, SrcIP: ip}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Enrich(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	if ev.SrcHost != "host.example.com" {
		b.Fatalf("src_host %q, want host.example.com", ev.SrcHost)
	}
}

func BenchmarkReverseDNSHitParallel(b *testing.B) {
	const n = 1024
	r := benchRDNS(b, netip.MustParseAddr("192.0.2.10"))
	ips := make([]netip.Addr, n)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		r.shards[rdnsHash(ips[i])&r.mask].put(ips[i], "host.example.com", true, time.Duration(1<<62))
	}
	ctx := b.Context()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ev := &event.Event{Kind: event.KindAudit}
		i := 0
		for pb.Next() {
			ev.SrcIP = ips[i%n]
			i++
			if err := r.Enrich(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
