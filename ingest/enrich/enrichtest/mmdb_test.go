package enrichtest_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/ingest/enrich"
	"github.com/vigil-sec/vigil/ingest/enrich/enrichtest"
	"github.com/vigil-sec/vigil/internal/event"
)

// TestWriteDBs reads the databases back through enrich.Geo, the reader
// they are made for.
func TestWriteDBs(t *testing.T) {
	dir := t.TempDir()
	city, asn := enrichtest.WriteDBs(t, dir, map[string]enrichtest.City{
		"203.0.113.0/24":  {Country: "DE", City: "Berlin", Lat: 52.52, Lon: 13.405, AccuracyKm: 20, AllLanguages: true},
		"2001:db8:1::/48": {Country: "JP", NoLocation: true},
	}, map[string]enrichtest.ASN{
		"203.0.113.0/24": {Number: 64500, Org: "Example Transit"},
	})
	if city != filepath.Join(dir, enrichtest.CityFile) || asn != filepath.Join(dir, enrichtest.ASNFile) {
		t.Errorf("WriteDBs paths = %q, %q", city, asn)
	}
	g, err := enrich.NewGeo(enrich.GeoConfig{City: city, ASN: asn}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	tests := []struct {
		ip   string
		want event.Event
	}{
		{"203.0.113.9", event.Event{GeoCountry: "DE", GeoCity: "Berlin", GeoLat: 52.52, GeoLon: 13.405, GeoAccuracyKm: 20, ASN: 64500, ASOrg: "Example Transit"}},
		{"2001:db8:1::9", event.Event{GeoCountry: "JP"}},
		{"192.0.2.9", event.Event{}},
	}
	for _, tc := range tests {
		ev := event.Event{SrcIP: netip.MustParseAddr(tc.ip)}
		if err := g.Enrich(context.Background(), &ev); err != nil {
			t.Errorf("Enrich(%s): %v", tc.ip, err)
		}
		tc.want.SrcIP = ev.SrcIP
		if diff := cmp.Diff(tc.want, ev, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("Enrich(%s) mismatch (-want +got):\n%s", tc.ip, diff)
		}
	}

	// A nil map writes no file.
	dir = t.TempDir()
	city, asn = enrichtest.WriteDBs(t, dir, map[string]enrichtest.City{"203.0.113.0/24": {Country: "FR"}}, nil)
	if asn != "" {
		t.Errorf("WriteDBs with no ASN records returned %q", asn)
	}
	if _, err := os.Stat(filepath.Join(dir, enrichtest.ASNFile)); !os.IsNotExist(err) {
		t.Errorf("WriteDBs with no ASN records wrote a file: %v", err)
	}
	if _, err := enrich.NewGeo(enrich.GeoConfig{ASN: city}, nil); err == nil {
		t.Error("a City database opened as an ASN one: its type is not set")
	}
}
