package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/ingest/enrich"
	"github.com/vigil-sec/vigil/ingest/enrich/enrichtest"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/event"
)

// enrichFixture returns enrichment options with real City and ASN
// databases and reverse DNS against a real loopback server that knows:
//
//   - 203.0.113.7 -> gw.example.net -> 203.0.113.7 (verified)
//   - 203.0.113.8 -> spoof.example.org -> 192.0.2.99 (not verified)
//   - 203.0.113.20 -> scanner.example.net -> 203.0.113.20 (verified)
//   - 203.0.113.30 -> vpn.corp.example.com -> 203.0.113.30 (verified, internal domain)
//
// 203.0.113.0/24 is in Berlin, AS64500; 198.51.100.0/24 (in Chicago,
// AS64501) and 10.0.0.0/8 are the internal networks; the databases also
// have records for 10/8 and 172.16/12, which Geo must never report.
func enrichFixture(t testing.TB) (EnrichOptions, *enrichtest.DNS) {
	t.Helper()
	city, asn := enrichtest.WriteDBs(t, t.TempDir(), map[string]enrichtest.City{
		"203.0.113.0/24":  {Country: "DE", City: "Berlin", Lat: 52.52, Lon: 13.405, AccuracyKm: 20},
		"198.51.100.0/24": {Country: "US", City: "Chicago", Lat: 41.88, Lon: -87.63, AccuracyKm: 50},
		"10.0.0.0/8":      {Country: "XX", City: "Private"},
		"172.16.0.0/12":   {Country: "XX", City: "Private"},
	}, map[string]enrichtest.ASN{
		"203.0.113.0/24":  {Number: 64500, Org: "Example Transit"},
		"198.51.100.0/24": {Number: 64501, Org: "Example Corp"},
		"10.0.0.0/8":      {Number: 64999, Org: "Private"},
		"172.16.0.0/12":   {Number: 64999, Org: "Private"},
	})
	dns := enrichtest.NewDNS(t)
	for _, r := range []struct{ ip, host, fwd string }{
		{"203.0.113.7", "gw.example.net", "203.0.113.7"},
		{"203.0.113.8", "spoof.example.org", "192.0.2.99"},
		{"203.0.113.20", "scanner.example.net", "203.0.113.20"},
		{"203.0.113.30", "vpn.corp.example.com", "203.0.113.30"},
	} {
		dns.AddPTR(r.ip, r.host)
		dns.AddHost(r.host, r.fwd)
	}
	return EnrichOptions{
		Network: enrich.NetworkConfig{
			Internal:        []string{"198.51.100.0/24", "10.0.0.0/8"},
			InternalDomains: []string{"corp.example.com"},
		},
		Geo: &enrich.GeoConfig{City: city, ASN: asn},
		// A generous timeout: on a loaded machine a loopback lookup must
		// not time out and leave the event without its hostname.
		RDNS: &enrich.RDNSConfig{Server: dns.Addr(), Timeout: 10 * time.Second},
	}, dns
}

// berlin is what Geo adds for an address of 203.0.113.0/24.
var berlin = map[string]any{
	"geo_country": "DE", "geo_city": "Berlin", "geo_lat": 52.52, "geo_lon": 13.405,
	"geo_accuracy_km": 20.0, "asn": 64500.0, "as_org": "Example Transit",
}

// with returns a copy of base with the entries of kv (key, value, ...) added.
func with(base map[string]any, kv ...any) map[string]any {
	m := make(map[string]any, len(base)+len(kv)/2)
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func sshdLine(msg string) string { return "Mar  3 09:17:09 hd1 sshd[20441]: " + msg }

func TestExplainEnriched(t *testing.T) {
	opts, dns := enrichFixture(t)
	tests := []struct {
		name string
		line string
		want map[string]any // Explanation.Enriched[0], decoded from JSON
	}{
		{
			"verified hostname and geo",
			sshdLine("Accepted publickey for alice from 203.0.113.7 port 50022 ssh2"),
			with(berlin, "src_host", "gw.example.net", "src_host_verified", true, "src_zone", "external"),
		},
		{
			"forward lookup does not match",
			sshdLine("Accepted password for bob from 203.0.113.8 port 50023 ssh2"),
			with(berlin, "src_host", "spoof.example.org", "src_zone", "external"), // src_host_verified stays false
		},
		{
			"failed login is not resolved",
			sshdLine("Failed password for root from 203.0.113.20 port 50024 ssh2"),
			with(berlin, "src_zone", "external"),
		},
		{
			"verified host in an internal domain",
			sshdLine("Accepted publickey for carol from 203.0.113.30 port 50025 ssh2"),
			with(berlin, "src_host", "vpn.corp.example.com", "src_host_verified", true, "src_zone", "internal"),
		},
		{
			// Geo looks up every public address, internal or not: the
			// zone says the network is ours, the database says where it is.
			"public address in an internal network",
			sshdLine("Accepted password for dave from 198.51.100.9 port 50026 ssh2"),
			map[string]any{
				"src_zone": "internal", "geo_country": "US", "geo_city": "Chicago", "geo_lat": 41.88, "geo_lon": -87.63,
				"geo_accuracy_km": 50.0, "asn": 64501.0, "as_org": "Example Corp",
			},
		},
		{
			"private address in an internal network",
			sshdLine("Accepted password for erin from 10.1.2.3 port 50027 ssh2"),
			map[string]any{"src_zone": "internal"},
		},
		{
			"private address outside the internal networks",
			sshdLine("Accepted password for frank from 172.16.5.4 port 50028 ssh2"),
			map[string]any{"src_zone": "external"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Explain(&out, []string{tc.line}, ExplainOptions{
				Format: "sshd", Parse: parse.Options{Location: time.UTC}, Now: time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC), Enrich: opts,
			})
			if err != nil {
				t.Fatal(err)
			}
			var x struct {
				Events       []event.Event    `json:"events"`
				Enriched     []map[string]any `json:"enriched"`
				EnrichErrors []string         `json:"enrich_errors"`
				Error        string           `json:"error"`
			}
			if err := json.Unmarshal(out.Bytes(), &x); err != nil {
				t.Fatalf("explain output is not one JSON object: %v\n%s", err, out.String())
			}
			if x.Error != "" || len(x.Events) != 1 || len(x.Enriched) != 1 {
				t.Fatalf("explain gave error %q, %d events, %d enriched; want one of each:\n%s", x.Error, len(x.Events), len(x.Enriched), out.String())
			}
			if len(x.EnrichErrors) != 0 {
				t.Errorf("enrich_errors = %q", x.EnrichErrors)
			}
			if diff := cmp.Diff(tc.want, x.Enriched[0]); diff != "" {
				t.Errorf("enriched mismatch (-want +got):\n%s", diff)
			}
			// The event itself carries what Enriched says was added.
			ev := x.Events[0]
			if want, _ := tc.want["src_host"].(string); ev.SrcHost != want || ev.SrcHostVerified != (tc.want["src_host_verified"] == true) {
				t.Errorf("event src_host %q verified %v, want %q %v", ev.SrcHost, ev.SrcHostVerified, want, tc.want["src_host_verified"])
			}
			if string(ev.SrcZone) != tc.want["src_zone"] || ev.GeoCity != stringOr(tc.want["geo_city"]) || ev.ASOrg != stringOr(tc.want["as_org"]) {
				t.Errorf("event zone %q city %q as_org %q disagree with enriched %v", ev.SrcZone, ev.GeoCity, ev.ASOrg, x.Enriched[0])
			}
		})
	}
	// Reverse DNS asked only about successful logins: the failed one from
	// 203.0.113.20 stayed unresolved although its PTR exists.
	if n := dns.Count("PTR", "203.0.113.20"); n != 0 {
		t.Errorf("PTR queries for the failed login's address: %d, want 0", n)
	}
	if n := dns.Count("PTR", "203.0.113.7"); n != 1 {
		t.Errorf("PTR queries for 203.0.113.7: %d, want 1", n)
	}
}

func stringOr(v any) string {
	s, _ := v.(string)
	return s
}

// TestExplainEnrichSetupError: enrichment that cannot be built fails
// Explain as a whole, with an error naming the file, before any output.
func TestExplainEnrichSetupError(t *testing.T) {
	var out bytes.Buffer
	missing := filepath.Join(t.TempDir(), "missing.mmdb")
	err := Explain(&out, []string{sshdLine("Accepted password for a from 203.0.113.7 port 1 ssh2")}, ExplainOptions{
		Format: "sshd", Enrich: EnrichOptions{Geo: &enrich.GeoConfig{City: missing}},
	})
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Explain with a missing City database = %v, want an error naming %s", err, missing)
	}
	if out.Len() != 0 {
		t.Errorf("Explain wrote %q before failing", out.String())
	}
}

// TestReplayEnriched replays an auth.log with the enrichment of
// TestExplainEnriched: every event written carries its enrichment.
func TestReplayEnriched(t *testing.T) {
	opts, _ := enrichFixture(t)
	log := strings.Join([]string{
		sshdLine("Accepted publickey for alice from 203.0.113.7 port 50022 ssh2"),
		sshdLine("Accepted password for bob from 203.0.113.8 port 50023 ssh2"),
		sshdLine("Failed password for root from 203.0.113.20 port 50024 ssh2"),
		sshdLine("Accepted password for dave from 198.51.100.9 port 50026 ssh2"),
		sshdLine("Accepted password for erin from 10.1.2.3 port 50027 ssh2"),
	}, "\n") + "\n"
	path := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum, err := Replay(t.Context(), ReplayOptions{
		Format: "sshd", Parse: parse.Options{Location: time.UTC}, Output: OutputEvents,
		Paths: []string{path}, Stdout: &out, Enrich: opts,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total.EnrichErrors != 0 || sum.Total.Unparsed != 0 {
		t.Errorf("summary: %d enrich errors, %d unparsed; want none", sum.Total.EnrichErrors, sum.Total.Unparsed)
	}

	// fields is the enrichment of an event, as the NDJSON has it.
	type fields struct {
		User, Host, Zone, Country, City string
		Verified                        bool
		Lat, Lon                        float64
		AccuracyKm                      uint16
		ASN                             uint32
		ASOrg                           string
	}
	got := map[string]fields{}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var ev event.Event
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("replay output is not NDJSON events: %v", err)
		}
		if ev.Action != event.ActionLogin {
			continue
		}
		got[ev.SrcIP.String()] = fields{ev.User, ev.SrcHost, string(ev.SrcZone), ev.GeoCountry, ev.GeoCity,
			ev.SrcHostVerified, ev.GeoLat, ev.GeoLon, ev.GeoAccuracyKm, ev.ASN, ev.ASOrg}
	}
	want := map[string]fields{
		"203.0.113.7":  {"alice", "gw.example.net", "external", "DE", "Berlin", true, 52.52, 13.405, 20, 64500, "Example Transit"},
		"203.0.113.8":  {"bob", "spoof.example.org", "external", "DE", "Berlin", false, 52.52, 13.405, 20, 64500, "Example Transit"},
		"203.0.113.20": {"root", "", "external", "DE", "Berlin", false, 52.52, 13.405, 20, 64500, "Example Transit"},
		"198.51.100.9": {"dave", "", "internal", "US", "Chicago", false, 41.88, -87.63, 50, 64501, "Example Corp"},
		"10.1.2.3":     {"erin", "", "internal", "", "", false, 0, 0, 0, 0, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replayed login events (-want +got):\n%s", diff)
	}
}

// BenchmarkEnrichChain measures the chain vigil builds, per event: a
// successful login whose hostname is in the reverse-DNS cache, then the
// network zone, then City and ASN lookups. zones+geo leaves reverse DNS
// out, for the difference.
func BenchmarkEnrichChain(b *testing.B) {
	full, _ := enrichFixture(b)
	noRDNS := full
	noRDNS.RDNS = nil
	for _, bc := range []struct {
		name string
		opts EnrichOptions
	}{
		{"rdns_hit+zones+geo", full},
		{"zones+geo", noRDNS},
	} {
		b.Run(bc.name, func(b *testing.B) {
			en, err := newEnrichers(bc.opts, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer en.Close()
			ctx := context.Background()
			login := event.Event{Kind: event.KindAuth, Action: event.ActionLogin, Outcome: event.OutcomeSuccess, User: "alice"}
			login.SrcIP = netip.MustParseAddr("203.0.113.7")
			warm := login
			if errs := en.enrich(ctx, &warm); len(errs) != 0 || warm.GeoCity != "Berlin" {
				b.Fatalf("warm-up: %v, %+v", errs, warm)
			}
			if bc.opts.RDNS != nil && warm.SrcHost != "gw.example.net" {
				b.Fatalf("warm-up did not resolve: src_host %q", warm.SrcHost)
			}
			b.ReportAllocs()
			for b.Loop() {
				ev := login
				if errs := en.enrich(ctx, &ev); errs != nil {
					b.Fatal(errs)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			if en.rdns != nil {
				if st := en.rdns.Stats(); st.Lookups != 1 {
					b.Errorf("%d reverse-DNS lookups, want 1 (every event after the first a cache hit)", st.Lookups)
				}
			}
		})
	}
}
