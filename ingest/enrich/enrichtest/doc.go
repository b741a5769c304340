// Package enrichtest holds test fixtures for the enrichers of package
// enrich, for the tests of that package and of the packages that build an
// enrichment chain (internal/app, cmd/vigil). Only _test.go files may
// import it; a test of this package checks that.
//
// It has two parts:
//
//   - MaxMind databases built in the test (mmdb.go): CityDB and ASNDB turn
//     a map from CIDR to City or ASN into the bytes of a GeoLite2-City or
//     GeoLite2-ASN database, WriteDBs writes both into a directory, and
//     ReplaceFile swaps a file by rename, as geoipupdate does.
//   - DNS (dns.go), a real DNS server on a loopback port, UDP and TCP, for
//     reverse-DNS lookups: it answers PTR, A and AAAA from records a test
//     adds, NXDOMAIN for names it does not know, and can answer slowly,
//     with SERVFAIL or truncated.
//
// Helpers take a testing.TB, fail the test on a setup error, and clean up
// with the test. A DNS is safe for concurrent use.
package enrichtest
