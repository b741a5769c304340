package enrich

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/ingest/enrich/enrichtest"
	"github.com/vigil-sec/vigil/internal/event"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, timeout)
		}
		<-tick.C
	}
}

// syncBuffer is a bytes.Buffer safe for a logger used from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	var b syncBuffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

// geoFields is what Geo sets on an event.
type geoFields struct {
	Country, City string
	Lat, Lon      float64
	AccuracyKm    uint16
	ASN           uint32
	ASOrg         string
}

func lookup(t testing.TB, g *Geo, ip string) geoFields {
	t.Helper()
	var ev event.Event
	if ip != "" {
		ev.SrcIP = netip.MustParseAddr(ip)
	}
	if err := g.Enrich(context.Background(), &ev); err != nil {
		t.Errorf("Enrich(%s): %v", ip, err)
	}
	return geoFields{ev.GeoCountry, ev.GeoCity, ev.GeoLat, ev.GeoLon, ev.GeoAccuracyKm, ev.ASN, ev.ASOrg}
}

// writeTestDBs writes the City and ASN databases most tests use.
func writeTestDBs(t *testing.T, dir string) (city, asn string) {
	t.Helper()
	return enrichtest.WriteDBs(t, dir, map[string]enrichtest.City{
		"203.0.113.0/24":  {Country: "DE", City: "Berlin", Lat: 52.52, Lon: 13.405, AccuracyKm: 20},
		"198.51.100.0/24": {Country: "US", NoLocation: true},
		"2001:db8:1::/48": {Country: "JP", City: "Tokyo", Lat: 35.69, Lon: 139.69, AccuracyKm: 50},
		// Data for ranges Geo must skip: if a lookup happened, it would show.
		"10.0.0.0/8":    {Country: "XX", City: "Private"},
		"100.64.0.0/10": {Country: "XX", City: "CGNAT"},
		"127.0.0.0/8":   {Country: "XX", City: "Loopback"},
		"fd00::/8":      {Country: "XX", City: "ULA"},
		"fe80::/10":     {Country: "XX", City: "LinkLocal"},
	}, map[string]enrichtest.ASN{
		"203.0.113.0/24":  {Number: 64500, Org: "Example Transit"},
		"198.51.100.0/24": {Number: 64501, Org: "Example Hosting"},
		"2001:db8:1::/48": {Number: 64502, Org: "Example v6"},
		"10.0.0.0/8":      {Number: 64999, Org: "Private"},
	})
}

func TestGeoEnrich(t *testing.T) {
	city, asn := writeTestDBs(t, t.TempDir())
	g, err := NewGeo(GeoConfig{City: city, ASN: asn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	berlin := geoFields{"DE", "Berlin", 52.52, 13.405, 20, 64500, "Example Transit"}
	tests := []struct {
		name, ip string
		want     geoFields
	}{
		{"ipv4 with city", "203.0.113.7", berlin},
		{"ipv4-mapped ipv6", "::ffff:203.0.113.7", berlin},
		{"ipv6 with city", "2001:db8:1:2::42", geoFields{"JP", "Tokyo", 35.69, 139.69, 50, 64502, "Example v6"}},
		{"country only", "198.51.100.9", geoFields{Country: "US", ASN: 64501, ASOrg: "Example Hosting"}},
		{"not in database", "192.0.2.1", geoFields{}},
		{"ipv6 not in database", "2001:db8:2::1", geoFields{}},
		{"no address", "", geoFields{}},
		{"private skipped", "10.1.2.3", geoFields{}},
		{"cgnat skipped", "100.64.1.1", geoFields{}},
		{"loopback skipped", "127.0.0.1", geoFields{}},
		{"ula skipped", "fd00::1", geoFields{}},
		{"link-local skipped", "fe80::1%eth0", geoFields{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, lookup(t, g, tc.ip)); diff != "" {
				t.Errorf("Enrich(%s) mismatch (-want +got):\n%s", tc.ip, diff)
			}
		})
	}
}

func TestSkipGeo(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		{"10.0.0.1", true}, {"172.16.5.4", true}, {"192.168.1.1", true},
		{"127.0.0.1", true}, {"::1", true}, {"169.254.1.1", true}, {"fe80::1", true},
		{"224.0.0.1", true}, {"ff02::1", true}, {"0.0.0.0", true}, {"::", true},
		{"100.64.0.0", true}, {"100.127.255.255", true}, {"fc00::1", true},
		{"100.63.255.255", false}, {"100.128.0.0", false},
		{"203.0.113.1", false}, {"198.51.100.1", false}, {"192.0.2.1", false}, {"2001:db8::1", false},
		{"8.8.8.8", false}, {"2a00:1450::1", false},
	}
	for _, tc := range tests {
		if got := skipGeo(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("skipGeo(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	if !skipGeo(netip.Addr{}) {
		t.Error("skipGeo(invalid) = false")
	}
}

func TestGeoOnlyCity(t *testing.T) {
	city, _ := writeTestDBs(t, t.TempDir())
	g, err := NewGeo(GeoConfig{City: city}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	want := geoFields{Country: "DE", City: "Berlin", Lat: 52.52, Lon: 13.405, AccuracyKm: 20}
	if diff := cmp.Diff(want, lookup(t, g, "203.0.113.7")); diff != "" {
		t.Errorf("City only (-want +got):\n%s", diff)
	}
}

func TestGeoSearchAndDisabled(t *testing.T) {
	dir := t.TempDir()
	city, asn := writeTestDBs(t, dir)
	garbage := filepath.Join(dir, "GeoIP2-City.mmdb")
	writeFile(t, garbage, "not a database")
	missing := filepath.Join(dir, "missing.mmdb")

	logger, logs := testLogger()
	g, err := newGeo(GeoConfig{}, logger, []string{missing, dir, garbage, city}, []string{missing, asn})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if !g.Enabled() {
		t.Fatal("Geo disabled although databases were found")
	}
	if got := lookup(t, g, "203.0.113.7"); got.City != "Berlin" || got.ASN != 64500 {
		t.Errorf("found databases not used: %+v", got)
	}
	if !strings.Contains(logs.String(), "geoip database found but unusable, skipped") || !strings.Contains(logs.String(), garbage) {
		t.Errorf("no Warn about the unusable file %s in logs:\n%s", garbage, logs)
	}

	logger, logs = testLogger()
	g, err = newGeo(GeoConfig{}, logger, []string{missing}, []string{missing})
	if err != nil {
		t.Fatal(err)
	}
	if g.Enabled() {
		t.Fatal("Geo enabled without databases")
	}
	if !strings.Contains(logs.String(), "level=INFO msg=\"geoip disabled, no database found\"") {
		t.Errorf("no Info about the disabled Geo in logs:\n%s", logs)
	}
	if got := lookup(t, g, "203.0.113.7"); got != (geoFields{}) {
		t.Errorf("disabled Geo set fields: %+v", got)
	}
	if err := g.Run(context.Background()); err != nil { // returns at once
		t.Errorf("Run on a disabled Geo: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("Close on a disabled Geo: %v", err)
	}

	city2, asn2 := DefaultGeoPaths()
	if len(city2) == 0 || len(asn2) == 0 || !strings.HasSuffix(city2[len(city2)-1], "GeoLite2-City.mmdb") {
		t.Errorf("DefaultGeoPaths() = %q, %q", city2, asn2)
	}
}

func TestGeoConfiguredErrors(t *testing.T) {
	dir := t.TempDir()
	city, asn := writeTestDBs(t, dir)
	garbage := filepath.Join(dir, "garbage.mmdb")
	writeFile(t, garbage, "not a database")
	tests := []struct {
		name string
		cfg  GeoConfig
		want string
	}{
		{"missing city", GeoConfig{City: filepath.Join(dir, "nope.mmdb")}, "open geoip city database: stat " + filepath.Join(dir, "nope.mmdb")},
		{"missing asn", GeoConfig{City: city, ASN: filepath.Join(dir, "nope.mmdb")}, "open geoip asn database"},
		{"not a database", GeoConfig{City: garbage}, "open geoip city database: " + garbage},
		{"asn file as city", GeoConfig{City: asn}, "a GeoLite2-ASN database cannot answer city lookups"},
		{"city file as asn", GeoConfig{ASN: city}, "a GeoLite2-City database cannot answer asn lookups"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewGeo(tc.cfg, nil)
			if err == nil {
				_ = g.Close()
				t.Fatalf("NewGeo(%+v) succeeded, want error with %q", tc.cfg, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewGeo error %q lacks %q", err, tc.want)
			}
		})
	}
}

// runGeo starts g.Run and stops it when the test ends.
func runGeo(t *testing.T, g *Geo) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		_ = g.Close()
	})
}

func TestGeoReloadOnRename(t *testing.T) {
	for _, inMemory := range []bool{false, true} {
		t.Run(fmt.Sprintf("in_memory=%v", inMemory), func(t *testing.T) {
			city, asn := writeTestDBs(t, t.TempDir())
			logger, logs := testLogger()
			// No periodic check: the directory watch alone must notice.
			g, err := NewGeo(GeoConfig{City: city, ASN: asn, CheckInterval: -1, InMemory: inMemory}, logger)
			if err != nil {
				t.Fatal(err)
			}
			runGeo(t, g)
			if got := lookup(t, g, "203.0.113.7"); got.City != "Berlin" {
				t.Fatalf("before replace: %+v", got)
			}
			enrichtest.ReplaceFile(t, city, enrichtest.CityDB(t, map[string]enrichtest.City{
				"203.0.113.0/24": {Country: "FR", City: "Paris", Lat: 48.86, Lon: 2.35, AccuracyKm: 10},
			}))
			enrichtest.ReplaceFile(t, asn, enrichtest.ASNDB(t, map[string]enrichtest.ASN{
				"203.0.113.0/24": {Number: 64511, Org: "New Transit"},
			}))
			want := geoFields{"FR", "Paris", 48.86, 2.35, 10, 64511, "New Transit"}
			waitFor(t, 10*time.Second, "new data after rename", func() bool { return lookup(t, g, "203.0.113.7") == want })
			if got := lookup(t, g, "2001:db8:1::1"); got != (geoFields{}) {
				t.Errorf("old data for an address the new databases lack: %+v", got)
			}
			if n := strings.Count(logs.String(), "geoip database reloaded"); n < 2 {
				t.Errorf("%d reload logs, want at least 2:\n%s", n, logs)
			}
		})
	}
}

// TestGeoReloadPeriodic swaps a symlinked directory, which a watch on the
// directory the path names does not see; the periodic check must.
func TestGeoReloadPeriodic(t *testing.T) {
	root := t.TempDir()
	v1, v2 := filepath.Join(root, "v1"), filepath.Join(root, "v2")
	for _, d := range []string{v1, v2} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeTestDBs(t, v1)
	enrichtest.ReplaceFile(t, filepath.Join(v2, enrichtest.CityFile), enrichtest.CityDB(t, map[string]enrichtest.City{
		"203.0.113.0/24": {Country: "FR", City: "Paris", Lat: 48.86, Lon: 2.35, AccuracyKm: 10},
	}))
	current := filepath.Join(root, "current")
	if err := os.Symlink("v1", current); err != nil {
		t.Fatal(err)
	}
	g, err := NewGeo(GeoConfig{City: filepath.Join(current, "GeoLite2-City.mmdb"), CheckInterval: 20 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runGeo(t, g)
	if got := lookup(t, g, "203.0.113.7"); got.City != "Berlin" {
		t.Fatalf("before swap: %+v", got)
	}
	if err := os.Symlink("v2", current+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(current+".new", current); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "new data after symlink swap", func() bool { return lookup(t, g, "203.0.113.7").City == "Paris" })
}

func TestGeoFailedReloadKeepsOld(t *testing.T) {
	dir := t.TempDir()
	city, asn := writeTestDBs(t, dir)
	logger, logs := testLogger()
	g, err := NewGeo(GeoConfig{City: city, ASN: asn, CheckInterval: -1}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	berlin := lookup(t, g, "203.0.113.7")

	enrichtest.ReplaceFile(t, city, []byte("truncated download"))
	err = g.Reload()
	if err == nil || !strings.Contains(err.Error(), "reload geoip city database: "+city) {
		t.Errorf("Reload after a bad file = %v, want an error naming %s", err, city)
	}
	if got := lookup(t, g, "203.0.113.7"); got != berlin {
		t.Errorf("after failed reload: %+v, want the old %+v", got, berlin)
	}
	if err := g.Reload(); err != nil {
		t.Errorf("second Reload of the same bad file = %v, want nil (not retried)", err)
	}

	// A wrong database type is refused like a corrupt one.
	enrichtest.ReplaceFile(t, city, enrichtest.ASNDB(t, map[string]enrichtest.ASN{"203.0.113.0/24": {Number: 1, Org: "x"}}))
	if err := g.Reload(); err == nil || !strings.Contains(err.Error(), "cannot answer city lookups") {
		t.Errorf("Reload with an ASN file as City = %v", err)
	}

	// A deleted file is reported once; the open reader keeps serving.
	if err := os.Remove(asn); err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(); err == nil {
		t.Error("Reload after the ASN file was deleted = nil, want an error")
	}
	if err := g.Reload(); err != nil {
		t.Errorf("second Reload of the deleted file = %v, want nil", err)
	}
	if got := lookup(t, g, "203.0.113.7"); got != berlin {
		t.Errorf("after deleting the file: %+v, want the old %+v", got, berlin)
	}

	// A good file is picked up again.
	enrichtest.ReplaceFile(t, city, enrichtest.CityDB(t, map[string]enrichtest.City{"203.0.113.0/24": {Country: "FR", City: "Paris"}}))
	if err := g.Reload(); err != nil {
		t.Fatalf("Reload of a good file: %v", err)
	}
	if got := lookup(t, g, "203.0.113.7"); got.City != "Paris" || got.ASN != 64500 {
		t.Errorf("after good reload: %+v", got)
	}
	if !strings.Contains(logs.String(), "geoip database reloaded") {
		t.Errorf("no reload log:\n%s", logs)
	}

	// Run logs a failed reload at Warn.
	enrichtest.ReplaceFile(t, city, []byte("bad again"))
	g.check()
	if !strings.Contains(logs.String(), `level=WARN msg="geoip database reload failed, keeping the old one"`) {
		t.Errorf("no Warn for a failed reload:\n%s", logs)
	}
}

func TestGeoClose(t *testing.T) {
	city, asn := writeTestDBs(t, t.TempDir())
	g, err := NewGeo(GeoConfig{City: city, ASN: asn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, g, "203.0.113.7"); got != (geoFields{}) {
		t.Errorf("Enrich after Close set %+v", got)
	}
	enrichtest.ReplaceFile(t, city, enrichtest.CityDB(t, map[string]enrichtest.City{"203.0.113.0/24": {Country: "FR"}}))
	if err := g.Reload(); err != nil {
		t.Errorf("Reload after Close: %v", err)
	}
	if got := lookup(t, g, "203.0.113.7"); got != (geoFields{}) {
		t.Errorf("Reload after Close reopened: %+v", got)
	}
	if err := g.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// generation returns databases whose every value encodes n, so that a
// lookup shows which generation answered and whether the answer is whole.
func generation(t testing.TB, n int) (city, asn []byte) {
	city = enrichtest.CityDB(t, map[string]enrichtest.City{
		"203.0.113.0/24":  {Country: "DE", City: "City-" + strconv.Itoa(n), Lat: float64(n), Lon: -float64(n), AccuracyKm: uint16(n)},
		"2001:db8:1::/48": {Country: "JP", City: "City-" + strconv.Itoa(n), Lat: float64(n), Lon: -float64(n), AccuracyKm: uint16(n)},
	})
	asn = enrichtest.ASNDB(t, map[string]enrichtest.ASN{
		"203.0.113.0/24":  {Number: uint32(64500 + n), Org: "AS-" + strconv.Itoa(n)},
		"2001:db8:1::/48": {Number: uint32(64500 + n), Org: "AS-" + strconv.Itoa(n)},
	})
	return city, asn
}

// TestGeoConcurrentReload looks up from many goroutines while the files
// are replaced again and again, through Reload and through Run at once.
// Under -race it also shows that no lookup touches a closed reader. Every
// answer must come whole from one generation, and each goroutine must never
// see a generation older than one it has already seen.
func TestGeoConcurrentReload(t *testing.T) {
	const generations = 16
	for _, inMemory := range []bool{false, true} {
		t.Run(fmt.Sprintf("in_memory=%v", inMemory), func(t *testing.T) {
			dir := t.TempDir()
			cityPath, asnPath := filepath.Join(dir, "GeoLite2-City.mmdb"), filepath.Join(dir, "GeoLite2-ASN.mmdb")
			dbs := make([][2][]byte, generations+1)
			for n := 1; n <= generations; n++ {
				dbs[n][0], dbs[n][1] = generation(t, n)
			}
			enrichtest.ReplaceFile(t, cityPath, dbs[1][0])
			enrichtest.ReplaceFile(t, asnPath, dbs[1][1])
			g, err := NewGeo(GeoConfig{City: cityPath, ASN: asnPath, CheckInterval: 5 * time.Millisecond, InMemory: inMemory}, nil)
			if err != nil {
				t.Fatal(err)
			}
			runGeo(t, g)

			var stop atomic.Bool
			var lookups atomic.Int64
			var wg sync.WaitGroup
			for w := range 8 {
				ip := netip.MustParseAddr([]string{"203.0.113.7", "2001:db8:1::7"}[w%2])
				wg.Go(func() {
					lastCity, lastASN := 0, 0
					for !stop.Load() {
						ev := event.Event{SrcIP: ip}
						if err := g.Enrich(context.Background(), &ev); err != nil {
							t.Errorf("Enrich: %v", err)
							return
						}
						lookups.Add(1)
						n, err := strconv.Atoi(strings.TrimPrefix(ev.GeoCity, "City-"))
						if err != nil || n < 1 || n > generations || ev.GeoLat != float64(n) || ev.GeoLon != -float64(n) || ev.GeoAccuracyKm != uint16(n) {
							t.Errorf("torn or unknown City answer: %+v", ev)
							return
						}
						a := int(ev.ASN) - 64500
						if a < 1 || a > generations || ev.ASOrg != "AS-"+strconv.Itoa(a) {
							t.Errorf("torn or unknown ASN answer: %d %q", ev.ASN, ev.ASOrg)
							return
						}
						if n < lastCity || a < lastASN {
							t.Errorf("went back in time: city %d after %d, asn %d after %d", n, lastCity, a, lastASN)
							return
						}
						lastCity, lastASN = n, a
					}
				})
			}
			for n := 2; n <= generations; n++ {
				enrichtest.ReplaceFile(t, cityPath, dbs[n][0])
				enrichtest.ReplaceFile(t, asnPath, dbs[n][1])
				if n%2 == 0 {
					if err := g.Reload(); err != nil {
						t.Errorf("Reload generation %d: %v", n, err)
					}
				}
				before := lookups.Load()
				waitFor(t, 10*time.Second, "lookups between replacements", func() bool { return lookups.Load() > before+50 })
			}
			waitFor(t, 10*time.Second, "the last generation", func() bool {
				f := lookup(t, g, "203.0.113.7")
				return f.City == "City-"+strconv.Itoa(generations) && f.ASN == uint32(64500+generations)
			})
			stop.Store(true)
			wg.Wait()
			t.Logf("%d lookups across %d replacements", lookups.Load(), generations-1)
		})
	}
}

// BenchmarkGeoLookup measures Enrich with City and ASN databases whose
// records are as large as GeoLite2's (names in eight languages,
// subdivisions, postal code, time zone).
func BenchmarkGeoLookup(b *testing.B) {
	dir := b.TempDir()
	recs := map[string]enrichtest.City{}
	asns := map[string]enrichtest.ASN{}
	for i := range 256 {
		recs[fmt.Sprintf("203.0.%d.0/24", i)] = enrichtest.City{Country: "DE", City: fmt.Sprintf("City %d", i), Lat: 52.5, Lon: 13.4, AccuracyKm: 20, AllLanguages: true}
		asns[fmt.Sprintf("203.0.%d.0/24", i)] = enrichtest.ASN{Number: uint32(64500 + i), Org: fmt.Sprintf("Example Networks %d GmbH", i)}
	}
	recs["2001:db8::/32"] = enrichtest.City{Country: "JP", City: "Tokyo", Lat: 35.69, Lon: 139.69, AccuracyKm: 50, AllLanguages: true}
	asns["2001:db8::/32"] = enrichtest.ASN{Number: 64499, Org: "Example v6"}
	cityPath, asnPath := enrichtest.WriteDBs(b, dir, recs, asns)
	for _, bc := range []struct {
		name string
		cfg  GeoConfig
		ip   string
	}{
		{"city+asn/v4", GeoConfig{City: cityPath, ASN: asnPath}, "203.0.113.7"},
		{"city+asn/v6", GeoConfig{City: cityPath, ASN: asnPath}, "2001:db8::7"},
		{"city/v4", GeoConfig{City: cityPath}, "203.0.113.7"},
		{"asn/v4", GeoConfig{ASN: asnPath}, "203.0.113.7"},
		{"skipped_private", GeoConfig{City: cityPath, ASN: asnPath}, "10.1.2.3"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, err := NewGeo(bc.cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			ip := netip.MustParseAddr(bc.ip)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				ev := event.Event{SrcIP: ip}
				if err := g.Enrich(ctx, &ev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
	b.Run("city+asn/parallel", func(b *testing.B) {
		g, err := NewGeo(GeoConfig{City: cityPath, ASN: asnPath}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer g.Close()
		ip := netip.MustParseAddr("203.0.113.7")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ev := event.Event{SrcIP: ip}
				_ = g.Enrich(context.Background(), &ev)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
	})
}
