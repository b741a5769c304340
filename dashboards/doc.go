// Package dashboards holds vigil's analyst surface: the Grafana dashboards
// for the ClickHouse data source plugin (grafana-clickhouse-datasource), the
// provisioning files that install them and the data source, and the analyst
// query library. It embeds them all in Files, so that tests and commands read
// exactly what Grafana and analysts get:
//
//	grafana/*.json                           dashboards: overview, authentication, web, alerts
//	provisioning/datasources/clickhouse.yml  the ClickHouse data source (uid vigil-clickhouse)
//	provisioning/dashboards/vigil.yml        the dashboard provider (folder "vigil")
//	queries/*.sql                            the analyst query library
//	compose/                                 what docker-compose.yml mounts besides these
//
// The SQL in both places reads the tables internal/store creates (see
// internal/store/README.md for the schema) and runs unchanged on both of its
// dialects: baseline (ClickHouse 18.16, ts as DateTime, src_ip as
// FixedString(16)) and modern (>= 23.8, DateTime64(3) and IPv6). It uses only
// functions both have: addresses are shown with IPv6NumToString (IPv4 as
// a.b.c.d once the ::ffff: prefix is cut) and times are compared as DateTime.
//
// The one exception is the plugin's $__timeInterval(col) macro, which the
// plugin expands to toStartOfInterval, a function ClickHouse 18.16 does not
// have; the dashboards target the modern server that docker-compose.yml
// runs, and the tests expand the macro for 18.16 to the equivalent
// arithmetic on Unix seconds.
//
// Each library query starts with a header comment: a title line, a
// description, and under "Parameters:" one line per parameter written as
// ClickHouse's server-side placeholder {name:Type} followed by what to pass.
// On a modern server run a query with
//
//	clickhouse-client --param_user=alice --param_from='2026-03-02 00:00:00' \
//	    --param_to='2026-03-03 00:00:00' --queries-file dashboards/queries/failed_logins_for_user.sql
//
// On 18.16, which has no query parameters, Query.Bind substitutes typed,
// escaped literals instead.
//
// Everything here is read-only data; the functions are safe for concurrent
// use.
package dashboards

import "embed"

// Files holds the dashboards, the provisioning files, the query library and
// the compose files, under the paths listed in the package comment.
//
//go:embed grafana/*.json provisioning queries/*.sql compose
var Files embed.FS
