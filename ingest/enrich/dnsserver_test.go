package enrich

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// testDNS is a real DNS server on loopback, UDP and TCP on one free port of
// 127.0.0.1, for the reverse-DNS tests. It answers PTR, A and AAAA from its
// zone, NXDOMAIN for names it does not know, SERVFAIL for names marked so,
// answers slowly for names given a delay, and over UDP answers "truncated"
// for names marked so, which sends the resolver to TCP. It counts queries
// per type and name and the number of queries it is working on at once.
// It shuts down with the test.
type testDNS struct {
	t    *testing.T
	addr string // "127.0.0.1:port"

	udp net.PacketConn
	tcp net.Listener

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu           sync.Mutex
	ptr          map[string][]string      // reverse name -> PTR targets
	fwd          map[string][]netip.Addr  // name -> A and AAAA addresses
	delay        map[string]time.Duration // per question name
	defaultDelay time.Duration            // for names not in delay
	servfail     map[string]bool          // question names answered SERVFAIL
	truncate     map[string]bool          // question names truncated over UDP
	queries      map[string]int           // "PTR name." -> count
	tcpQueries   int                      // queries that came over TCP
	inFlight     int                      // queries being answered now
	maxInFlight  int                      // high-water mark of inFlight
	conns        map[net.Conn]struct{}    // open TCP connections
}

func newTestDNS(t *testing.T) *testDNS {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &testDNS{
		t:        t,
		ctx:      ctx,
		cancel:   cancel,
		ptr:      make(map[string][]string),
		fwd:      make(map[string][]netip.Addr),
		delay:    make(map[string]time.Duration),
		servfail: make(map[string]bool),
		truncate: make(map[string]bool),
		queries:  make(map[string]int),
		conns:    make(map[net.Conn]struct{}),
	}
	// The UDP port the kernel picks may be taken for TCP; try a few.
	for range 20 {
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		tcp, err := net.Listen("tcp", udp.LocalAddr().String())
		if err != nil {
			udp.Close()
			continue
		}
		s.udp, s.tcp, s.addr = udp, tcp, udp.LocalAddr().String()
		break
	}
	if s.udp == nil {
		t.Fatal("no loopback port free for both UDP and TCP")
	}
	s.wg.Go(s.serveUDP)
	s.wg.Go(s.serveTCP)
	t.Cleanup(s.close)
	return s
}

func (s *testDNS) close() {
	s.cancel()
	s.udp.Close()
	s.tcp.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// reverseName returns the in-addr.arpa or ip6.arpa name of a.
func reverseName(a netip.Addr) string {
	a = a.Unmap()
	var b strings.Builder
	if a.Is4() {
		o := a.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d.in-addr.arpa.", o[3], o[2], o[1], o[0])
		return b.String()
	}
	o := a.As16()
	const hex = "0123456789abcdef"
	for i := len(o) - 1; i >= 0; i-- {
		b.WriteByte(hex[o[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[o[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa.")
	return b.String()
}

func fqdn(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) + "." }

// addPTR publishes PTR records for ip.
func (s *testDNS) addPTR(ip string, names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rev := reverseName(netip.MustParseAddr(ip))
	for _, n := range names {
		s.ptr[rev] = append(s.ptr[rev], strings.TrimSuffix(n, ".")+".")
	}
}

// addHost publishes A and AAAA records for name.
func (s *testDNS) addHost(name string, ips ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ip := range ips {
		s.fwd[fqdn(name)] = append(s.fwd[fqdn(name)], netip.MustParseAddr(ip))
	}
}

// question returns the question name the server sees for key, an IP
// address (its reverse name) or a host name.
func question(key string) string {
	if a, err := netip.ParseAddr(key); err == nil {
		return reverseName(a)
	}
	return fqdn(key)
}

// setDelay makes the server wait d before answering questions about key.
func (s *testDNS) setDelay(key string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay[question(key)] = d
}

// setDefaultDelay makes the server wait d before every answer whose name
// has no delay of its own.
func (s *testDNS) setDefaultDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.defaultDelay = d
}

func (s *testDNS) setServfail(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servfail[question(key)] = true
}

func (s *testDNS) setTruncate(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncate[question(key)] = true
}

// count returns how many queries of type typ ("PTR", "A", "AAAA") about
// key arrived, over UDP and TCP together.
func (s *testDNS) count(typ, key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[typ+" "+question(key)]
}

func (s *testDNS) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.queries {
		n += c
	}
	return n
}

func (s *testDNS) stats() (tcpQueries, maxInFlight int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcpQueries, s.maxInFlight
}

func (s *testDNS) serveUDP() {
	for {
		buf := make([]byte, 1500)
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		s.wg.Go(func() {
			resp := s.answer(buf[:n], true)
			if resp != nil {
				s.udp.WriteTo(resp, from)
			}
		})
	}
}

func (s *testDNS) serveTCP() {
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			for {
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				msg := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, msg); err != nil {
					return
				}
				resp := s.answer(msg, false)
				if resp == nil {
					return
				}
				out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
				if _, err := c.Write(append(out, resp...)); err != nil {
					return
				}
			}
		})
	}
}

// answer builds the response to one query, after its delay. It returns nil
// for a message it cannot parse or when the server shuts down meanwhile.
func (s *testDNS) answer(msg []byte, udp bool) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.ToLower(q.Name.String())
	typ := strings.TrimPrefix(q.Type.String(), "Type")

	s.mu.Lock()
	s.queries[typ+" "+name]++
	if !udp {
		s.tcpQueries++
	}
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	d, ok := s.delay[name]
	if !ok {
		d = s.defaultDelay
	}
	ptrs, hasPTR := s.ptr[name]
	addrs, hasFwd := s.fwd[name]
	servfail, truncate := s.servfail[name], udp && s.truncate[name]
	s.mu.Unlock()

	// In flight ends before the answer is written, so that a client that
	// starts a new query once it has this answer never overlaps it.
	done := func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			done()
			return nil
		}
	}
	done()

	rh := dnsmessage.Header{
		ID:                 h.ID,
		Response:           true,
		Authoritative:      true,
		RecursionDesired:   h.RecursionDesired,
		RecursionAvailable: true,
		Truncated:          truncate,
	}
	switch {
	case servfail:
		rh.RCode = dnsmessage.RCodeServerFailure
	case !hasPTR && !hasFwd:
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), rh)
	b.EnableCompression()
	must := func(err error) {
		if err != nil {
			panic(fmt.Sprintf("test dns: build answer: %v", err))
		}
	}
	must(b.StartQuestions())
	must(b.Question(q))
	must(b.StartAnswers())
	if rh.RCode == dnsmessage.RCodeSuccess && !truncate {
		hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		switch q.Type {
		case dnsmessage.TypePTR:
			for _, t := range ptrs {
				must(b.PTRResource(hdr, dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(t)}))
			}
		case dnsmessage.TypeA:
			for _, a := range addrs {
				if a.Is4() {
					must(b.AResource(hdr, dnsmessage.AResource{A: a.As4()}))
				}
			}
		case dnsmessage.TypeAAAA:
			for _, a := range addrs {
				if a.Is6() {
					must(b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: a.As16()}))
				}
			}
		}
	}
	resp, err := b.Finish()
	if err != nil {
		panic(fmt.Sprintf("test dns: finish answer: %v", err))
	}
	return resp
}

// TestDNSServerDirect checks the test server itself with a plain Go
// resolver, so that a failure of the enricher tests is not the server's.
func TestDNSServerDirect(t *testing.T) {
	s := newTestDNS(t)
	s.addPTR("192.0.2.1", "one.example.com")
	s.addHost("one.example.com", "192.0.2.1", "2001:db8::1")
	s.addPTR("2001:db8::1", "one.example.com")
	s.setTruncate("one.example.com")
	var d net.Dialer
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, s.addr)
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	for _, ip := range []string{"192.0.2.1", "2001:db8::1"} {
		names, err := r.LookupAddr(ctx, ip)
		if err != nil || len(names) != 1 || names[0] != "one.example.com." {
			t.Errorf("LookupAddr(%s) = %v, %v, want [one.example.com.]", ip, names, err)
		}
	}
	ips, err := r.LookupNetIP(ctx, "ip", "one.example.com.")
	if err != nil || len(ips) != 2 {
		t.Errorf("LookupNetIP(one.example.com.) = %v, %v, want two addresses", ips, err)
	}
	if tcp, _ := s.stats(); tcp == 0 {
		t.Error("truncated answer did not send the resolver to TCP")
	}
	_, err = r.LookupAddr(ctx, "192.0.2.99")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("LookupAddr(192.0.2.99) error = %v, want not found", err)
	}
}
