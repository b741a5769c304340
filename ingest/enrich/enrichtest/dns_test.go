package enrichtest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/ingest/enrich/enrichtest"
)

// TestDNS checks the server with a plain Go resolver, so that a failure of
// the reverse-DNS tests is not the server's.
func TestDNS(t *testing.T) {
	s := enrichtest.NewDNS(t)
	s.AddPTR("192.0.2.1", "one.example.com")
	s.AddHost("one.example.com", "192.0.2.1", "2001:db8::1")
	s.AddPTR("2001:db8::1", "one.example.com")
	s.SetTruncate("one.example.com")
	s.AddPTR("192.0.2.2", "broken.example.com")
	s.SetServfail("192.0.2.2")
	var d net.Dialer
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, s.Addr())
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
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
	if s.TCPQueries() == 0 {
		t.Error("truncated answer did not send the resolver to TCP")
	}
	if n := s.Count("PTR", "192.0.2.1"); n != 1 {
		t.Errorf("Count(PTR, 192.0.2.1) = %d, want 1", n)
	}
	if n := s.Count("A", "One.Example.COM."); n == 0 {
		t.Error("Count(A, One.Example.COM.) = 0: names are not compared case-insensitively")
	}

	_, err = r.LookupAddr(ctx, "192.0.2.99")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("LookupAddr(192.0.2.99) error = %v, want not found", err)
	}
	_, err = r.LookupAddr(ctx, "192.0.2.2")
	if !errors.As(err, &dnsErr) || dnsErr.IsNotFound || !dnsErr.IsTemporary {
		t.Errorf("LookupAddr(192.0.2.2) error = %v, want a temporary failure (SERVFAIL)", err)
	}
	if s.MaxInFlight() < 1 {
		t.Errorf("MaxInFlight() = %d after queries", s.MaxInFlight())
	}
}

// TestDNSDelay checks that a delayed name gets no answer within its delay
// and that the other names are not held up by it.
func TestDNSDelay(t *testing.T) {
	s := enrichtest.NewDNS(t)
	s.AddPTR("192.0.2.1", "slow.example.com")
	s.AddPTR("192.0.2.2", "fast.example.com")
	s.SetDelay("192.0.2.1", time.Hour)
	var d net.Dialer
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, s.Addr())
	}}

	// The resolver stops reading at its context's deadline (cancelling
	// the context does not interrupt the read), so the slow lookup gets a
	// short one.
	slow := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		names, err := r.LookupAddr(ctx, "192.0.2.1")
		if err == nil {
			err = fmt.Errorf("answered %v", names)
		}
		slow <- err
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if names, err := r.LookupAddr(ctx, "192.0.2.2"); err != nil || len(names) != 1 || names[0] != "fast.example.com." {
		t.Errorf("LookupAddr(192.0.2.2) beside a delayed one = %v, %v, want [fast.example.com.]", names, err)
	}
	var dnsErr *net.DNSError
	if err := <-slow; !errors.As(err, &dnsErr) || !dnsErr.IsTimeout {
		t.Errorf("LookupAddr(192.0.2.1) delayed by an hour = %v, want a timeout", err)
	}
	if n := s.Count("PTR", "192.0.2.1"); n == 0 {
		t.Error("the delayed query never reached the server")
	}
}
