package enrich

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// DefaultRDNSWhen is the default RDNSConfig.When: audit-log events (agents
// replying, admin actions) and successful logins, the events whose source
// hostname a rule or an analyst looks at. Failed logins are left out on
// purpose: a brute force from a botnet would otherwise turn into one DNS
// lookup per attacking address.
const DefaultRDNSWhen = `kind == "audit" || (action == "login" && outcome == "success")`

// RDNSConfig configures ReverseDNS, the enrich.rdns block of the
// configuration. A zero field means its default (DefaultRDNSConfig).
type RDNSConfig struct {
	// When is an expr-lang expression over the event (see Predicate) that
	// selects the events whose source address is resolved. Others are left
	// untouched and cost no lookup. "true" resolves every event with a
	// source address; "false" turns reverse DNS off.
	When string `yaml:"when"`
	// Timeout is how long Enrich waits for one address to resolve (PTR
	// lookup, then forward confirmation). When it passes, the event goes on
	// without a hostname, but the lookup carries on in the background for up
	// to ten times as long (at most 10s, at least Timeout) so that the next
	// event from the address finds the answer in the cache.
	Timeout time.Duration `yaml:"timeout"`
	// CacheSize caps the number of cached addresses, answers and failures
	// alike (the least recently used goes first). About 150 bytes an entry.
	CacheSize int `yaml:"cache_size"`
	// PositiveTTL is how long a hostname is cached. DNS record TTLs are not
	// used: the Go resolver does not report them.
	PositiveTTL time.Duration `yaml:"positive_ttl"`
	// NegativeTTL is how long "no hostname" is cached: NXDOMAIN or an
	// address without a PTR record. Timeouts and server failures are cached
	// for min(NegativeTTL, 1m) instead, because they are usually transient,
	// yet must be cached for some time so that a flood of unresolvable
	// addresses does not turn into a flood of lookups.
	NegativeTTL time.Duration `yaml:"negative_ttl"`
	// MaxInFlight caps the number of lookups running at once, background
	// ones included. When all are busy, Enrich does not wait: the event
	// goes on without a hostname and the miss is counted as load_shed.
	MaxInFlight int `yaml:"max_in_flight"`
	// Server is the DNS server to ask, an IP address with an optional port
	// ("192.0.2.53", "[2001:db8::53]:5353"; the port defaults to 53). Empty
	// means the servers of /etc/resolv.conf.
	Server string `yaml:"server"`
}

// Defaults and limits of RDNSConfig.
const (
	DefaultRDNSTimeout     = 300 * time.Millisecond
	DefaultRDNSCacheSize   = 100_000
	DefaultRDNSPositiveTTL = time.Hour
	DefaultRDNSNegativeTTL = 5 * time.Minute
	DefaultRDNSMaxInFlight = 16

	maxRDNSTimeout     = 30 * time.Second
	maxRDNSCacheSize   = 10_000_000
	maxRDNSMaxInFlight = 4096
	// rdnsFailureTTL bounds how long a timeout or a server failure is cached.
	rdnsFailureTTL = time.Minute
	// rdnsBackgroundFactor times Timeout (at most rdnsMaxBackground) is how
	// long a lookup may run once Enrich has stopped waiting for it.
	rdnsBackgroundFactor = 10
	rdnsMaxBackground    = 10 * time.Second
	// rdnsMaxNames caps the PTR names tried for forward confirmation.
	rdnsMaxNames = 4
)

// DefaultRDNSConfig returns the reverse-DNS configuration used when the
// config file says nothing.
func DefaultRDNSConfig() RDNSConfig {
	return RDNSConfig{
		When:        DefaultRDNSWhen,
		Timeout:     DefaultRDNSTimeout,
		CacheSize:   DefaultRDNSCacheSize,
		PositiveTTL: DefaultRDNSPositiveTTL,
		NegativeTTL: DefaultRDNSNegativeTTL,
		MaxInFlight: DefaultRDNSMaxInFlight,
	}
}

// withDefaults fills the zero fields.
func (c RDNSConfig) withDefaults() RDNSConfig {
	d := DefaultRDNSConfig()
	if strings.TrimSpace(c.When) == "" {
		c.When = d.When
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.CacheSize == 0 {
		c.CacheSize = d.CacheSize
	}
	if c.PositiveTTL == 0 {
		c.PositiveTTL = d.PositiveTTL
	}
	if c.NegativeTTL == 0 {
		c.NegativeTTL = d.NegativeTTL
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	return c
}

// Validate checks the configuration without doing any I/O; it compiles
// When. It reports every problem, each prefixed with its key
// ("rdns.timeout: ...").
func (c RDNSConfig) Validate() error {
	_, err := c.compile()
	return err
}

// compile validates c and returns its When predicate.
func (c RDNSConfig) compile() (*Predicate, error) {
	c = c.withDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("rdns.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	when, err := CompilePredicate(c.When)
	if err != nil {
		errs = append(errs, fmt.Errorf("rdns.when: %w", err))
	}
	if c.Timeout < 0 || c.Timeout > maxRDNSTimeout {
		bad("timeout", "must be between 0 and %v, got %v", maxRDNSTimeout, c.Timeout)
	}
	if c.CacheSize < 0 || c.CacheSize > maxRDNSCacheSize {
		bad("cache_size", "must be between 0 and %d, got %d", maxRDNSCacheSize, c.CacheSize)
	}
	if c.PositiveTTL < 0 {
		bad("positive_ttl", "must not be negative, got %v", c.PositiveTTL)
	}
	if c.NegativeTTL < 0 {
		bad("negative_ttl", "must not be negative, got %v", c.NegativeTTL)
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > maxRDNSMaxInFlight {
		bad("max_in_flight", "must be between 0 and %d, got %d", maxRDNSMaxInFlight, c.MaxInFlight)
	}
	if c.Server != "" {
		if _, err := parseDNSServer(c.Server); err != nil {
			bad("server", "%v", err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return when, nil
}

func parseDNSServer(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 53), nil
	}
	return netip.AddrPort{}, fmt.Errorf(`want an IP address with an optional port ("192.0.2.53", "[2001:db8::53]:53"), got %q`, s)
}

// ReverseDNS is the reverse-DNS enricher. For an event selected by
// RDNSConfig.When that has a source address, it looks up the PTR name of
// SrcIP, then the A (IPv4) or AAAA (IPv6) records of that name, and sets
// SrcHost to the name (lower case, without the trailing dot) and
// SrcHostVerified to whether the forward answer contains SrcIP
// (forward-confirmed reverse DNS). With several PTR names the first one
// that verifies wins, else the first one. Private and internal addresses
// are resolved too: corporate DNS usually has PTR records for them, and
// internal_domains needs a verified name. An address without a name leaves
// the event untouched.
//
// Answers are cached by address (IPv4-mapped IPv6 addresses as IPv4, zones
// dropped) for PositiveTTL, no-name answers for NegativeTTL, timeouts and
// server failures for min(NegativeTTL, 1m). Concurrent Enrich calls for one
// address share one lookup. Enrich never waits longer than Timeout, and
// when MaxInFlight lookups are running it does not wait at all: an attack
// from many addresses costs misses (counted in Stats), never ingestion
// throughput. The cache hit path takes no allocation.
//
// A ReverseDNS is safe for concurrent use. Close stops the lookups that run
// in the background.
type ReverseDNS struct {
	logger   *slog.Logger
	when     *Predicate
	resolver *net.Resolver
	timeout  time.Duration
	budget   time.Duration // a lookup's own deadline, once Enrich stopped waiting
	posTTL   time.Duration
	negTTL   time.Duration
	failTTL  time.Duration

	// clock is the cache clock: the time since the ReverseDNS was built,
	// from the monotonic clock only (time.Since reads one clock, time.Now
	// two, which is half the cost of a cache hit on some VMs), so that
	// expiry ignores wall-clock steps. Tests replace it (setClock).
	clock func() time.Duration

	sem    chan struct{} // one token per running lookup
	shards []rdnsShard
	mask   uint64

	// base is the parent of every lookup's context; Close cancels it. It
	// outlives Enrich calls on purpose: a lookup continues after the
	// Enrich that started it has given up.
	base    context.Context
	cancel  context.CancelFunc
	closeMu sync.RWMutex
	closed  bool
	wg      sync.WaitGroup

	lookups  atomic.Uint64
	timeouts atomic.Uint64
	loadShed atomic.Uint64
	errors   atomic.Uint64
}

// NewReverseDNS validates cfg and builds the enricher. It does no I/O. A
// nil logger discards.
func NewReverseDNS(cfg RDNSConfig, logger *slog.Logger) (*ReverseDNS, error) {
	when, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var server string
	if cfg.Server != "" {
		ap, _ := parseDNSServer(cfg.Server) // checked by compile
		server = ap.String()
	}
	n := rdnsShardCount(cfg.CacheSize)
	perShard := (cfg.CacheSize + n - 1) / n
	r := &ReverseDNS{
		logger:   logger.With("component", "rdns"),
		when:     when,
		resolver: &net.Resolver{PreferGo: true, Dial: dialDNS(server)},
		timeout:  cfg.Timeout,
		budget:   max(cfg.Timeout, min(rdnsBackgroundFactor*cfg.Timeout, rdnsMaxBackground)),
		posTTL:   cfg.PositiveTTL,
		negTTL:   cfg.NegativeTTL,
		failTTL:  min(cfg.NegativeTTL, rdnsFailureTTL),
		sem:      make(chan struct{}, cfg.MaxInFlight),
		shards:   make([]rdnsShard, n),
		mask:     uint64(n - 1),
	}
	for i := range r.shards {
		r.shards[i].init(perShard)
	}
	epoch := time.Now()
	r.clock = func() time.Duration { return time.Since(epoch) }
	r.base, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// dialDNS returns the resolver's Dial: it connects to server, when set,
// instead of the nameserver the Go resolver picked from /etc/resolv.conf
// (the resolver still reads that file for its attempts and timeout, and
// dials once per listed nameserver), and it closes the connection when ctx
// is cancelled. The Go resolver bounds a read by the context's deadline but
// does not notice cancellation, so without this Close would wait for
// resolv.conf's timeout (5s by default).
func dialDNS(server string) func(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		if server != "" {
			address = server
		}
		c, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		stop := context.AfterFunc(ctx, func() { c.Close() })
		// The resolver frames a net.PacketConn as UDP and anything else
		// as TCP, so the UDP wrapper must stay a PacketConn.
		if u, ok := c.(*net.UDPConn); ok {
			return &ctxUDPConn{UDPConn: u, stop: stop}, nil
		}
		return &ctxConn{Conn: c, stop: stop}, nil
	}
}

type ctxUDPConn struct {
	*net.UDPConn
	stop func() bool
}

func (c *ctxUDPConn) Close() error {
	c.stop()
	return c.UDPConn.Close()
}

type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// rdnsShardCount spreads the cache over up to 64 independently locked
// shards, a power of two, each of at least 256 entries so that the LRU
// order stays meaningful in small caches.
func rdnsShardCount(size int) int {
	n := 1
	for n < 64 && n*2*256 <= size {
		n *= 2
	}
	return n
}

// RDNSStats are the counters of a ReverseDNS since it was built. Every
// Enrich call that reaches the cache (a selected event with a source
// address) is either a hit or a miss; Timeouts and LoadShed are kinds of
// miss.
type RDNSStats struct {
	Hits     uint64 `json:"hits"`      // answered from the cache, "no name" answers included
	Misses   uint64 `json:"misses"`    // not in the cache (or expired)
	Lookups  uint64 `json:"lookups"`   // lookups started (PTR plus forward confirmation)
	Timeouts uint64 `json:"timeouts"`  // Enrich stopped waiting after Timeout; the lookup went on in the background
	LoadShed uint64 `json:"load_shed"` // misses under load: MaxInFlight lookups were running, so none was started
	Errors   uint64 `json:"errors"`    // lookups that failed other than "no such name": server failure, network error, background deadline
	Entries  int    `json:"entries"`   // addresses in the cache now
}

// Stats returns the counters.
func (r *ReverseDNS) Stats() RDNSStats {
	s := RDNSStats{
		Lookups:  r.lookups.Load(),
		Timeouts: r.timeouts.Load(),
		LoadShed: r.loadShed.Load(),
		Errors:   r.errors.Load(),
	}
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		s.Hits += sh.hits
		s.Misses += sh.misses
		s.Entries += len(sh.entries)
		sh.mu.Unlock()
	}
	return s
}

// Enrich sets ev.SrcHost and ev.SrcHostVerified as described on
// ReverseDNS. It returns at once on a cache hit or when the lookup cannot
// start for load, and otherwise within Timeout. Timeouts, lookup failures
// and shedding are not errors (they are counted in Stats); Enrich returns
// an error only when ctx ends while it waits, and leaves the event as it
// was then.
func (r *ReverseDNS) Enrich(ctx context.Context, ev *event.Event) error {
	if !ev.SrcIP.IsValid() || !r.when.Match(ev) {
		return nil
	}
	addr := ev.SrcIP.Unmap().WithZone("")
	sh := &r.shards[rdnsHash(addr)&r.mask]
	now := r.clock()

	sh.mu.Lock()
	if e, ok := sh.entries[addr]; ok {
		if now < e.expires {
			sh.hits++
			sh.touch(e)
			host, verified := e.host, e.verified
			sh.mu.Unlock()
			setHost(ev, host, verified)
			return nil
		}
		sh.remove(e)
	}
	sh.misses++
	c, running := sh.inflight[addr]
	if !running {
		select {
		case r.sem <- struct{}{}:
		default:
			sh.mu.Unlock()
			r.shed()
			return nil
		}
		c = &rdnsCall{done: make(chan struct{})}
		sh.inflight[addr] = c
	}
	sh.mu.Unlock()
	if !running && !r.start(sh, addr, c) {
		return nil
	}

	t := time.NewTimer(r.timeout)
	defer t.Stop()
	select {
	case <-c.done:
		setHost(ev, c.host, c.verified)
		return nil
	case <-t.C:
		r.timeouts.Add(1)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func setHost(ev *event.Event, host string, verified bool) {
	if host != "" {
		ev.SrcHost = host
		ev.SrcHostVerified = verified
	}
}

// shed counts a miss under load, with a warning at the 1st, 2nd, 4th, 8th,
// ... one so that a long attack logs a handful of lines, not one per event.
func (r *ReverseDNS) shed() {
	if n := r.loadShed.Add(1); n&(n-1) == 0 {
		r.logger.Warn("reverse dns lookups at max_in_flight, events pass without hostname", "count", n)
	}
}

// Close cancels the lookups still running in the background and waits for
// them to return. Enrich calls after Close start no lookup. Close always
// returns nil.
func (r *ReverseDNS) Close() error {
	r.closeMu.Lock()
	r.closed = true
	r.closeMu.Unlock()
	r.cancel()
	r.wg.Wait()
	return nil
}

// setClock replaces the cache clock (tests). Call it before the first
// Enrich.
func (r *ReverseDNS) setClock(now func() time.Time) {
	epoch := now()
	r.clock = func() time.Duration { return now().Sub(epoch) }
}

// start runs the lookup for addr in a new goroutine, which holds the
// semaphore token the caller took. After Close it finishes the call at once
// and reports false.
func (r *ReverseDNS) start(sh *rdnsShard, addr netip.Addr, c *rdnsCall) bool {
	r.closeMu.RLock()
	defer r.closeMu.RUnlock()
	if r.closed {
		r.finish(sh, addr, c, rdnsAnswer{class: rdnsCanceled})
		return false
	}
	r.lookups.Add(1)
	r.wg.Go(func() {
		ctx, cancel := context.WithTimeout(r.base, r.budget)
		ans := r.resolve(ctx, addr)
		cancel()
		if r.base.Err() != nil {
			// Close interrupted the lookup: whatever it says, it is
			// not an answer worth caching or counting.
			ans.class = rdnsCanceled
		}
		r.finish(sh, addr, c, ans)
	})
	return true
}

// finish caches ans, wakes the waiters of c and returns the semaphore token.
func (r *ReverseDNS) finish(sh *rdnsShard, addr netip.Addr, c *rdnsCall, ans rdnsAnswer) {
	var ttl time.Duration
	switch ans.class {
	case rdnsFound:
		ttl = r.posTTL
	case rdnsNotFound:
		ttl = r.negTTL
	case rdnsTimeout:
		ttl = r.failTTL
		r.logger.Debug("reverse dns lookup timed out", "src_ip", addr, "duration", r.budget, "err", ans.err)
	case rdnsError:
		ttl = r.failTTL
		r.errors.Add(1)
		r.logger.Debug("reverse dns lookup failed", "src_ip", addr, "err", ans.err)
	}
	c.host, c.verified = ans.host, ans.verified
	expires := r.clock() + ttl
	sh.mu.Lock()
	delete(sh.inflight, addr)
	if ans.class != rdnsCanceled {
		sh.put(addr, ans.host, ans.verified, expires)
	}
	sh.mu.Unlock()
	close(c.done)
	<-r.sem
}

// rdnsClass is how a lookup ended; it decides how long the answer is cached.
type rdnsClass int

const (
	rdnsFound    rdnsClass = iota // a PTR name (verified or not)
	rdnsNotFound                  // NXDOMAIN, no PTR record
	rdnsTimeout                   // no answer within the lookup's deadline
	rdnsError                     // server failure, network error
	rdnsCanceled                  // Close: nothing is cached
)

type rdnsAnswer struct {
	host     string
	verified bool
	class    rdnsClass
	err      error
}

// resolve does the PTR lookup of addr and the forward confirmation.
func (r *ReverseDNS) resolve(ctx context.Context, addr netip.Addr) rdnsAnswer {
	ptrs, err := r.resolver.LookupAddr(ctx, addr.String())
	if err != nil {
		return rdnsAnswer{class: classifyDNSError(err), err: err}
	}
	names := make([]string, 0, min(len(ptrs), rdnsMaxNames))
	for _, p := range ptrs {
		if n := strings.ToLower(strings.TrimSuffix(p, ".")); n != "" && len(names) < rdnsMaxNames {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return rdnsAnswer{class: rdnsNotFound}
	}
	network := "ip6"
	if addr.Is4() {
		network = "ip4"
	}
	ans := rdnsAnswer{host: names[0], class: rdnsFound}
	for _, name := range names {
		// The trailing dot makes the name absolute, so that the
		// resolv.conf search list is not tried.
		ips, err := r.resolver.LookupNetIP(ctx, network, name+".")
		if err != nil {
			if c := classifyDNSError(err); c != rdnsNotFound {
				// Unconfirmed for now: keep the name, but cache it only
				// as long as a failure so that confirmation is retried.
				ans.class, ans.err = c, err
			}
			continue
		}
		for _, ip := range ips {
			if ip.Unmap().WithZone("") == addr {
				return rdnsAnswer{host: name, verified: true, class: rdnsFound}
			}
		}
	}
	return ans
}

func classifyDNSError(err error) rdnsClass {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.Canceled):
		return rdnsCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return rdnsTimeout
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return rdnsNotFound
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout:
		return rdnsTimeout
	}
	return rdnsError
}

// rdnsHash mixes the 128 address bits into a shard index.
func rdnsHash(a netip.Addr) uint64 {
	b := a.As16()
	h := binary.LittleEndian.Uint64(b[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(b[8:])
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>31
}

// rdnsCall is one running lookup; its waiters read host and verified after
// done is closed.
type rdnsCall struct {
	done     chan struct{}
	host     string
	verified bool
}

type rdnsEntry struct {
	addr       netip.Addr
	host       string
	verified   bool
	expires    time.Duration // on the ReverseDNS clock
	prev, next *rdnsEntry
}

// rdnsShard is one part of the cache: a map plus a doubly linked list in
// recency order, and the lookups running for its addresses. mu guards all.
type rdnsShard struct {
	mu       sync.Mutex
	entries  map[netip.Addr]*rdnsEntry
	lru      rdnsEntry // sentinel: lru.next is the most, lru.prev the least recently used
	capacity int
	inflight map[netip.Addr]*rdnsCall
	hits     uint64
	misses   uint64
	_        [64]byte // keeps neighbouring shards' locks off one cache line
}

func (s *rdnsShard) init(capacity int) {
	s.entries = make(map[netip.Addr]*rdnsEntry)
	s.inflight = make(map[netip.Addr]*rdnsCall)
	s.capacity = max(capacity, 1)
	s.lru.next, s.lru.prev = &s.lru, &s.lru
}

func (s *rdnsShard) unlink(e *rdnsEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (s *rdnsShard) pushFront(e *rdnsEntry) {
	e.prev, e.next = &s.lru, s.lru.next
	s.lru.next.prev = e
	s.lru.next = e
}

func (s *rdnsShard) touch(e *rdnsEntry) {
	if s.lru.next != e {
		s.unlink(e)
		s.pushFront(e)
	}
}

func (s *rdnsShard) remove(e *rdnsEntry) {
	s.unlink(e)
	delete(s.entries, e.addr)
}

func (s *rdnsShard) put(addr netip.Addr, host string, verified bool, expires time.Duration) {
	e, ok := s.entries[addr]
	switch {
	case ok:
		s.unlink(e)
	case len(s.entries) >= s.capacity:
		// Reuse the least recently used entry.
		e = s.lru.prev
		s.remove(e)
		s.entries[addr] = e
	default:
		e = new(rdnsEntry)
		s.entries[addr] = e
	}
	*e = rdnsEntry{addr: addr, host: host, verified: verified, expires: expires}
	s.pushFront(e)
}
