package enrichtest

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

// DNS is a real DNS server on loopback: UDP and TCP on one free port of
// 127.0.0.1 (Addr). It answers
//
//   - PTR, A and AAAA questions from the records of AddPTR and AddHost,
//     authoritatively and with a TTL of 60s;
//   - NXDOMAIN for a name it has no record of (no PTR for an address, no
//     A or AAAA for a host name);
//   - SERVFAIL for a name given SetServfail;
//   - over UDP, an empty answer marked truncated for a name given
//     SetTruncate, which sends a resolver to TCP;
//   - after the delay of SetDelay or SetDefaultDelay, waiting on a timer
//     that the server's shutdown cuts short.
//
// It counts the queries per type and name, those that came over TCP, and
// the most it was answering at once. It shuts down when the test ends. The
// methods are safe for concurrent use; those that take an address or a
// name fail the test on an invalid one, so call them from the test's
// goroutine.
type DNS struct {
	t    testing.TB
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
	err          error                    // first answer that could not be built
}

// NewDNS starts a DNS server with no records on a free loopback port and
// stops it when the test ends.
func NewDNS(t testing.TB) *DNS {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &DNS{
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
			cancel()
			t.Fatalf("test dns: listen udp: %v", err)
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
		cancel()
		t.Fatal("test dns: no loopback port free for both UDP and TCP")
	}
	s.wg.Go(s.serveUDP)
	s.wg.Go(s.serveTCP)
	t.Cleanup(s.close)
	return s
}

// Addr returns the server's address, "127.0.0.1:port", as
// enrich.RDNSConfig.Server and vigil's --dns-server take it.
func (s *DNS) Addr() string { return s.addr }

func (s *DNS) close() {
	s.cancel()
	s.udp.Close()
	s.tcp.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		s.t.Errorf("test dns: %v", s.err)
	}
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

// fqdn returns name in lower case with one trailing dot.
func fqdn(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) + "." }

func (s *DNS) parseAddr(ip string) netip.Addr {
	s.t.Helper()
	a, err := netip.ParseAddr(ip)
	if err != nil {
		s.t.Fatalf("test dns: %v", err)
	}
	return a
}

// AddPTR publishes PTR records naming names for the address ip.
func (s *DNS) AddPTR(ip string, names ...string) {
	s.t.Helper()
	rev := reverseName(s.parseAddr(ip))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		s.ptr[rev] = append(s.ptr[rev], strings.TrimSuffix(n, ".")+".")
	}
}

// AddHost publishes address records for name: an A record for each IPv4
// address of ips and an AAAA record for each IPv6 one.
func (s *DNS) AddHost(name string, ips ...string) {
	s.t.Helper()
	addrs := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		addrs = append(addrs, s.parseAddr(ip).Unmap())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fwd[fqdn(name)] = append(s.fwd[fqdn(name)], addrs...)
}

// question returns the question name the server sees for key, an IP
// address (its reverse name) or a host name.
func question(key string) string {
	if a, err := netip.ParseAddr(key); err == nil {
		return reverseName(a)
	}
	return fqdn(key)
}

// SetDelay makes the server wait d before answering questions about key,
// an IP address (its PTR question) or a host name (its A and AAAA
// questions).
func (s *DNS) SetDelay(key string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay[question(key)] = d
}

// SetDefaultDelay makes the server wait d before every answer whose name
// has no delay of its own.
func (s *DNS) SetDefaultDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.defaultDelay = d
}

// SetServfail makes the server answer SERVFAIL to questions about key, an
// IP address or a host name, whatever records it has.
func (s *DNS) SetServfail(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servfail[question(key)] = true
}

// SetTruncate makes the server answer questions about key, an IP address
// or a host name, over UDP with an empty answer marked truncated; over TCP
// it answers in full.
func (s *DNS) SetTruncate(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncate[question(key)] = true
}

// Count returns how many queries of type typ ("PTR", "A", "AAAA") about
// key, an IP address or a host name, arrived over UDP and TCP together.
func (s *DNS) Count(typ, key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[typ+" "+question(key)]
}

// Total returns how many queries arrived, of every type and name.
func (s *DNS) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.queries {
		n += c
	}
	return n
}

// TCPQueries returns how many of the queries came over TCP.
func (s *DNS) TCPQueries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcpQueries
}

// MaxInFlight returns the most queries the server was answering at once,
// delays included. A query stops counting just before its answer is sent.
func (s *DNS) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

func (s *DNS) serveUDP() {
	for {
		buf := make([]byte, 1500)
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		s.wg.Go(func() {
			if resp := s.answer(buf[:n], true); resp != nil {
				s.udp.WriteTo(resp, from)
			}
		})
	}
}

func (s *DNS) serveTCP() {
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
// for a message it cannot parse, when the server shuts down meanwhile, or
// when the answer cannot be built (an error the test reports at its end).
func (s *DNS) answer(msg []byte, udp bool) []byte {
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
	resp, err := build(rh, q, ptrs, addrs)
	if err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = fmt.Errorf("answer %s %s: %w", typ, name, err)
		}
		s.mu.Unlock()
		return nil
	}
	return resp
}

// build encodes the answer to q with header rh: the records of ptrs or
// addrs that match the question's type, unless rh says failure or
// truncation.
func build(rh dnsmessage.Header, q dnsmessage.Question, ptrs []string, addrs []netip.Addr) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	var errs []error
	if rh.RCode == dnsmessage.RCodeSuccess && !rh.Truncated {
		hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		switch q.Type {
		case dnsmessage.TypePTR:
			for _, t := range ptrs {
				n, err := dnsmessage.NewName(t)
				if err != nil {
					return nil, err
				}
				errs = append(errs, b.PTRResource(hdr, dnsmessage.PTRResource{PTR: n}))
			}
		case dnsmessage.TypeA:
			for _, a := range addrs {
				if a.Is4() {
					errs = append(errs, b.AResource(hdr, dnsmessage.AResource{A: a.As4()}))
				}
			}
		case dnsmessage.TypeAAAA:
			for _, a := range addrs {
				if a.Is6() {
					errs = append(errs, b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: a.As16()}))
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return b.Finish()
}
