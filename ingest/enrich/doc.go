// Package enrich adds to an event what its log line does not say: where the
// source address is (geo-IP), who it belongs to (reverse DNS) and which
// network zone it lies in. Every enricher has the shape of ingest.Enricher,
//
//	Enrich(ctx context.Context, ev *event.Event) error
//
// and they should run in this order, because each may use what the
// previous one found:
//
//   - ReverseDNS (rdns.go) resolves the PTR name of ev.SrcIP into SrcHost
//     and forward-confirms it (SrcHostVerified: an A/AAAA lookup of the name
//     returns SrcIP), for the events a `when` Predicate (when.go) selects.
//     Answers, failures included, are cached; concurrent lookups of one
//     address share one query; Enrich never waits longer than the timeout.
//   - Geo (geo.go) fills GeoCountry, GeoCity, GeoLat, GeoLon, GeoAccuracyKm
//     from a MaxMind City database and ASN, ASOrg from an ASN database
//     (GeoLite2 or GeoIP2 .mmdb files, or compatible ones). It skips private,
//     loopback, link-local, multicast, unspecified and CGNAT addresses. With
//     no database configured or found it is disabled and does nothing. Its
//     Run method watches the database files and reopens a file replaced on
//     disk (geoipupdate writes a temporary file and renames it) without
//     disturbing lookups in flight.
//   - Zones (netzone.go) sets SrcZone: internal, trusted (the login
//     allowlist) or external, from the configured networks and, for a
//     verified SrcHost, the internal domains. It also hands the access-log
//     parser its trusted reverse proxies.
//
// Lists (lists.go) are the named value lists rules consult with in_list:
// sensitive_paths, scanner_user_agents, default_admin_accounts and others,
// from the config file, from list files, or the shipped defaults. They are
// not an enricher; they live here beside the network configuration because
// both are site knowledge an administrator maintains.
//
// # Concurrency
//
// Every enricher, Predicate and Lists value is safe for concurrent use by
// any number of pipeline workers once its constructor has returned; the
// pipeline calls Enrich from several goroutines on different events, never
// on the same event at once. Enrich modifies only the event it is given.
// An enricher that needs a background goroutine (Geo's file watcher) has a
// Run(ctx) error method that blocks until ctx is cancelled and returns nil
// then. An enricher that holds resources (Geo's database files,
// ReverseDNS's lookups in flight) has a Close method; call it after Run has
// returned. Geo.Close waits for lookups in flight, and Enrich after Close
// does nothing. An Enrich error leaves the event usable: the pipeline
// counts the error and passes the event on.
package enrich
