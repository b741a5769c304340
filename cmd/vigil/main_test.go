package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/ingest/enrich/enrichtest"
	"github.com/vigil-sec/vigil/internal/event"
)

func runVigil(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

func TestExplain(t *testing.T) {
	line := "Mar  3 09:17:09 hd1 sshd[20441]: Failed password for root from 2001:db8::7%eth0 port 61240 ssh2"
	out, _, err := runVigil(t, "", "explain", "--tz", "UTC", line, "garbage")
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Line   int           `json:"line"`
		Parser string        `json:"parser"`
		Events []event.Event `json:"events"`
		Error  string        `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var x struct {
			Line   int           `json:"line"`
			Parser string        `json:"parser"`
			Events []event.Event `json:"events"`
			Error  string        `json:"error"`
		}
		if err := dec.Decode(&x); err != nil {
			t.Fatalf("explain output is not JSON: %v\n%s", err, out)
		}
		got = append(got, x)
	}
	if len(got) != 2 {
		t.Fatalf("explain printed %d objects, want 2:\n%s", len(got), out)
	}
	ev := got[0].Events
	if got[0].Parser != "sshd" || len(ev) != 1 || ev[0].Action != "login" || ev[0].Outcome != "failure" ||
		ev[0].SrcIP.String() != "2001:db8::7" || ev[0].User != "root" || ev[0].Host != "hd1" {
		t.Errorf("explain of a failed login = %+v", got[0])
	}
	if got[1].Error == "" || len(got[1].Events) != 0 {
		t.Errorf("explain of garbage = %+v, want an error and no events", got[1])
	}
}

func TestGenReplay(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runVigil(t, "", "gen", "--scenario", "mixed", "--lines", "3000", "--out", dir, "--seed", "3")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "attacking addresses") {
		t.Errorf("gen said %q", out)
	}
	for _, name := range []string{"auth.log", "access.log", "helpdesk.json", "truth.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("gen did not write %s: %v", name, err)
		}
	}

	auth := filepath.Join(dir, "auth.log")
	_, summary, err := runVigil(t, "", "replay", "--tz", "UTC", "--output", "none", auth)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(summary, "unparsed 0 ") || !strings.Contains(summary, "lines/s") {
		t.Errorf("replay summary of a generated auth.log:\n%s", summary)
	}

	events, _, err := runVigil(t, "", "replay", "--output", "events", "--tz", "UTC", "--format", "sshd", auth)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(auth)
	if err != nil {
		t.Fatal(err)
	}
	nlines := bytes.Count(data, []byte("\n"))
	sc := bufio.NewScanner(strings.NewReader(events))
	sc.Buffer(nil, 1<<20)
	n, failures := 0, 0
	for sc.Scan() {
		var ev event.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %d is not JSON: %v", n, err)
		}
		if ev.Action == "unparsed" {
			t.Errorf("generated line not parsed: %q (%s)", ev.Raw, ev.Attrs["parse_error"])
		}
		if ev.Action == "login" && ev.Outcome == "failure" {
			failures++
		}
		n++
	}
	if n < nlines {
		t.Errorf("replay wrote %d events for %d lines; every line gives at least one", n, nlines)
	}
	if failures == 0 {
		t.Error("a mixed scenario's auth.log gave no failed logins")
	}

	again, _, err := runVigil(t, "", "replay", "--output", "events", "--tz", "UTC", "--format", "sshd", auth)
	if err != nil {
		t.Fatal(err)
	}
	if again != events {
		t.Error("two replays of the same file wrote different events")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"replay"}, {"gen"}, {"explain", "--format", "xml", "x"}} {
		_, _, err := runVigil(t, "", args...)
		if err == nil {
			t.Errorf("vigil %v succeeded, want an error", args)
		}
	}
	out, _, err := runVigil(t, "", "version")
	if err != nil || !strings.HasPrefix(out, "vigil ") {
		t.Errorf("version = %q, %v", out, err)
	}
}

// TestExplainEnrichFlags runs explain with the enrichment flags against
// real City and ASN databases and a real DNS server on loopback.
func TestExplainEnrichFlags(t *testing.T) {
	city, asn := enrichtest.WriteDBs(t, t.TempDir(), map[string]enrichtest.City{
		"203.0.113.0/24":  {Country: "DE", City: "Berlin", Lat: 52.52, Lon: 13.405, AccuracyKm: 20},
		"198.51.100.0/24": {Country: "US", City: "Chicago", Lat: 41.88, Lon: -87.63, AccuracyKm: 50},
	}, map[string]enrichtest.ASN{
		"203.0.113.0/24": {Number: 64500, Org: "Example Transit"},
	})
	dns := enrichtest.NewDNS(t)
	dns.AddPTR("203.0.113.7", "gw.example.net")
	dns.AddHost("gw.example.net", "203.0.113.7")
	login := func(ip string) string {
		return "Mar  3 09:17:09 hd1 sshd[20441]: Accepted publickey for alice from " + ip + " port 50022 ssh2"
	}
	args := []string{"explain", "--tz", "UTC", "--format", "sshd",
		"--geoip-city", city, "--geoip-asn", asn, "--dns-server", dns.Addr(), "--internal", "198.51.100.0/24",
		login("203.0.113.7"), login("198.51.100.9"), login("10.1.2.3")}
	want := []map[string]any{
		{"src_host": "gw.example.net", "src_host_verified": true, "src_zone": "external",
			"geo_country": "DE", "geo_city": "Berlin", "geo_lat": 52.52, "geo_lon": 13.405, "geo_accuracy_km": 20.0,
			"asn": 64500.0, "as_org": "Example Transit"},
		{"src_zone": "internal", "geo_country": "US", "geo_city": "Chicago", "geo_lat": 41.88, "geo_lon": -87.63, "geo_accuracy_km": 50.0},
		{"src_zone": "external"}, // --internal replaces the default networks; 10/8 is private, so no geo
	}

	// The flags allow no reverse-DNS timeout, and the default (300ms) can
	// pass on a loaded machine before a loopback answer is read. A run
	// whose lookup reached the server but came too late is run again; one
	// whose lookup never reached it fails at once.
	var got []map[string]any
	for attempt := 1; ; attempt++ {
		before := dns.Count("PTR", "203.0.113.7")
		out, stderr, err := runVigil(t, "", args...)
		if err != nil {
			t.Fatalf("explain: %v\n%s", err, stderr)
		}
		got = got[:0]
		dec := json.NewDecoder(strings.NewReader(out))
		for dec.More() {
			var x struct {
				Enriched     []map[string]any `json:"enriched"`
				EnrichErrors []string         `json:"enrich_errors"`
			}
			if err := dec.Decode(&x); err != nil {
				t.Fatalf("explain output is not JSON: %v\n%s", err, out)
			}
			if len(x.Enriched) != 1 || len(x.EnrichErrors) != 0 {
				t.Fatalf("explanation with enriched %v and errors %q, want one event and no errors:\n%s", x.Enriched, x.EnrichErrors, out)
			}
			got = append(got, x.Enriched[0])
		}
		if dns.Count("PTR", "203.0.113.7") == before {
			t.Fatalf("--dns-server %s got no PTR query for 203.0.113.7; output:\n%s", dns.Addr(), out)
		}
		if len(got) == 0 || got[0]["src_host"] != nil || attempt == 3 {
			break
		}
		t.Logf("attempt %d: reverse DNS answered after the timeout; trying again", attempt)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("explain enriched (-want +got):\n%s", diff)
	}
}
