// Package store keeps events and alerts in ClickHouse.
//
// It owns the schema (embedded, versioned migrations in two dialects chosen
// from the server's version: baseline for old servers such as Debian's 18.16,
// modern for 23.8 and later), the batching event Writer with its on-disk
// spool, the Writer's ScanEvents, which reads stored events back in time
// order, the AlertWriter, retention by dropping daily partitions, a local
// NDJSON Archive for when no ClickHouse is configured, and Load, which
// imports an archive or a spool later.
//
// Everything talks to ClickHouse over the native protocol with LZ4, and
// every INSERT names its columns: ClickHouse 18.16 answers a column-less
// INSERT with an empty header. The analyst-facing description of the tables
// is README.md in this directory.
package store
