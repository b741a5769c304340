package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/ingest/enrich"
	"github.com/vigil-sec/vigil/internal/event"
)

// The enrichers vigil builds are ingest stages.
var (
	_ ingest.Enricher = (*enrich.ReverseDNS)(nil)
	_ ingest.Enricher = (*enrich.Zones)(nil)
	_ ingest.Enricher = (*enrich.Geo)(nil)
)

// EnrichOptions name the enrichment applied to parsed events. The zero
// value classifies network zones with the default internal networks and
// does nothing else.
type EnrichOptions struct {
	Network enrich.NetworkConfig
	// Geo configures geo-IP. Nil turns it off; a zero GeoConfig looks for
	// the databases in the usual install paths and goes without when none
	// is there.
	Geo *enrich.GeoConfig
	// RDNS configures forward-confirmed reverse DNS. Nil turns it off.
	RDNS *enrich.RDNSConfig
}

// DefaultEnrichOptions is the enrichment of a run without a config file:
// the default internal networks, geo-IP from the usual install paths, no
// reverse DNS (a replay of an old log should not resolve its addresses
// today unless asked to).
func DefaultEnrichOptions() EnrichOptions {
	return EnrichOptions{Network: enrich.DefaultNetworkConfig(), Geo: &enrich.GeoConfig{}}
}

// enrichers is the built enrichment chain, in the order it must run:
// reverse DNS first (the zone of a verified internal hostname depends on
// it), then the network zone, then geo-IP.
type enrichers struct {
	chain []ingest.Enricher
	rdns  *enrich.ReverseDNS
	geo   *enrich.Geo
	zones *enrich.Zones
}

func newEnrichers(opts EnrichOptions, logger *slog.Logger) (*enrichers, error) {
	e := &enrichers{}
	if opts.RDNS != nil {
		r, err := enrich.NewReverseDNS(*opts.RDNS, logger)
		if err != nil {
			return nil, err
		}
		e.rdns = r
		e.chain = append(e.chain, r)
	}
	z, err := enrich.NewZones(opts.Network)
	if err != nil {
		e.Close()
		return nil, err
	}
	e.zones = z
	e.chain = append(e.chain, z)
	if opts.Geo != nil {
		g, err := enrich.NewGeo(*opts.Geo, logger)
		if err != nil {
			e.Close()
			return nil, err
		}
		e.geo = g
		if g.Enabled() {
			e.chain = append(e.chain, g)
		}
	}
	return e, nil
}

// run keeps the geo databases current until ctx is done.
func (e *enrichers) run(ctx context.Context) error {
	if e.geo == nil || !e.geo.Enabled() {
		<-ctx.Done()
		return nil
	}
	return e.geo.Run(ctx)
}

// enrich applies the chain to ev and returns the errors, which leave the
// event as it was for that enricher.
func (e *enrichers) enrich(ctx context.Context, ev *event.Event) []error {
	var errs []error
	for _, en := range e.chain {
		if err := en.Enrich(ctx, ev); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Close releases the databases and stops background lookups.
func (e *enrichers) Close() error {
	var errs []error
	if e.rdns != nil {
		errs = append(errs, e.rdns.Close())
	}
	if e.geo != nil {
		errs = append(errs, e.geo.Close())
	}
	return errors.Join(errs...)
}

// enrichedFields returns the enrichment fields that differ between before
// and after, under their canonical names: what enrichment added to an event.
func enrichedFields(before, after *event.Event) map[string]any {
	m := make(map[string]any)
	set := func(name string, changed bool, v any) {
		if changed {
			m[name] = v
		}
	}
	set("src_host", before.SrcHost != after.SrcHost, after.SrcHost)
	set("src_host_verified", before.SrcHostVerified != after.SrcHostVerified, after.SrcHostVerified)
	set("src_zone", before.SrcZone != after.SrcZone, after.SrcZone)
	set("geo_country", before.GeoCountry != after.GeoCountry, after.GeoCountry)
	set("geo_city", before.GeoCity != after.GeoCity, after.GeoCity)
	set("geo_lat", before.GeoLat != after.GeoLat, after.GeoLat)
	set("geo_lon", before.GeoLon != after.GeoLon, after.GeoLon)
	set("geo_accuracy_km", before.GeoAccuracyKm != after.GeoAccuracyKm, after.GeoAccuracyKm)
	set("asn", before.ASN != after.ASN, after.ASN)
	set("as_org", before.ASOrg != after.ASOrg, after.ASOrg)
	return m
}
