package enrichtest

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Database types, as MaxMind's free databases declare them.
const (
	cityType = "GeoLite2-City"
	asnType  = "GeoLite2-ASN"
)

// File names WriteDBs uses, those of MaxMind's free databases.
const (
	CityFile = "GeoLite2-City.mmdb"
	ASNFile  = "GeoLite2-ASN.mmdb"
)

// City is one network's record in a City database. Besides these fields
// the record has what a real one has: continent, registered country,
// subdivision, postal code and time zone.
type City struct {
	Country    string // ISO code; also the registered country
	City       string // English name; empty leaves out city, subdivision and postal code
	Lat, Lon   float64
	AccuracyKm uint16
	NoLocation bool // leave out the location (latitude, longitude, radius)
	// AllLanguages gives every name in eight languages, as GeoLite2
	// does, for records as large as real ones; else English only.
	AllLanguages bool
}

// ASN is one network's record in an ASN database.
type ASN struct {
	Number uint32
	Org    string
}

// names returns localized names: eight languages when all is set, else
// English only.
func names(en string, all bool) mmdbtype.Map {
	m := mmdbtype.Map{"en": mmdbtype.String(en)}
	if all {
		for _, l := range []string{"de", "es", "fr", "ja", "pt-BR", "ru", "zh-CN"} {
			m[mmdbtype.String(l)] = mmdbtype.String(en + " (" + l + ")")
		}
	}
	return m
}

func (c City) record() mmdbtype.Map {
	country := mmdbtype.Map{"iso_code": mmdbtype.String(c.Country), "geoname_id": mmdbtype.Uint32(2921044), "names": names(c.Country+"-land", c.AllLanguages)}
	m := mmdbtype.Map{
		"continent":          mmdbtype.Map{"code": mmdbtype.String("EU"), "geoname_id": mmdbtype.Uint32(6255148), "names": names("Europe", c.AllLanguages)},
		"country":            country,
		"registered_country": country,
	}
	if c.City != "" {
		m["city"] = mmdbtype.Map{"geoname_id": mmdbtype.Uint32(2950159), "names": names(c.City, c.AllLanguages)}
		m["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String("BE"), "geoname_id": mmdbtype.Uint32(2950157), "names": names(c.City+" state", c.AllLanguages)}}
		m["postal"] = mmdbtype.Map{"code": mmdbtype.String("10115")}
	}
	if !c.NoLocation {
		m["location"] = mmdbtype.Map{
			"latitude":        mmdbtype.Float64(c.Lat),
			"longitude":       mmdbtype.Float64(c.Lon),
			"accuracy_radius": mmdbtype.Uint16(c.AccuracyKm),
			"time_zone":       mmdbtype.String("Europe/Berlin"),
		}
	}
	return m
}

func (a ASN) record() mmdbtype.Map {
	return mmdbtype.Map{
		"autonomous_system_number":       mmdbtype.Uint32(a.Number),
		"autonomous_system_organization": mmdbtype.String(a.Org),
	}
}

// CityDB returns a GeoLite2-City database with one record per CIDR of
// recs. Reserved ranges (private, documentation, loopback) may be used.
func CityDB(t testing.TB, recs map[string]City) []byte {
	t.Helper()
	m := make(map[string]mmdbtype.Map, len(recs))
	for cidr, c := range recs {
		m[cidr] = c.record()
	}
	return buildDB(t, cityType, m)
}

// ASNDB returns a GeoLite2-ASN database with one record per CIDR of recs.
func ASNDB(t testing.TB, recs map[string]ASN) []byte {
	t.Helper()
	m := make(map[string]mmdbtype.Map, len(recs))
	for cidr, a := range recs {
		m[cidr] = a.record()
	}
	return buildDB(t, asnType, m)
}

// buildDB returns a MaxMind database of type dbType with one record per
// CIDR of records.
func buildDB(t testing.TB, dbType string, records map[string]mmdbtype.Map) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		RecordSize:              28,
		IncludeReservedNetworks: true, // documentation and private ranges
	})
	if err != nil {
		t.Fatalf("new %s database: %v", dbType, err)
	}
	for cidr, rec := range records {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatalf("%s database: %v", dbType, err)
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatalf("%s database: insert %s: %v", dbType, cidr, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatalf("write %s database: %v", dbType, err)
	}
	return buf.Bytes()
}

// WriteDBs writes a City database of city and an ASN database of asn into
// dir, under CityFile and ASNFile, and returns their paths. A nil map
// writes no file and returns "" for it.
func WriteDBs(t testing.TB, dir string, city map[string]City, asn map[string]ASN) (cityPath, asnPath string) {
	t.Helper()
	if city != nil {
		cityPath = filepath.Join(dir, CityFile)
		ReplaceFile(t, cityPath, CityDB(t, city))
	}
	if asn != nil {
		asnPath = filepath.Join(dir, ASNFile)
		ReplaceFile(t, asnPath, ASNDB(t, asn))
	}
	return cityPath, asnPath
}

// ReplaceFile writes data to a new file next to path and renames it over
// path, as geoipupdate does, so that a reader never sees a partial file.
func ReplaceFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
}
