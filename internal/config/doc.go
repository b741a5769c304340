// Package config reads vigil's configuration file: one YAML file whose
// keys DESIGN.md ("Config file") fixes, and Config, the value the rest of
// the program is built from.
//
// Load and Parse start from Default (builtin rules, RFC 1918 / loopback /
// ULA as internal networks, no ClickHouse, alerts to stdout, state in
// /var/lib/vigil) and lay the file over it. Decoding walks the yaml.Node
// tree so that every value keeps its line: it is strict (an unknown key is
// an error, with a suggestion for a near miss), and it goes on after a
// problem, so that validation can report every problem at once. They come
// back as Errors, one Error per problem, each printed as
//
//	vigil.yml:12: sources[1].format: unknown format "sshdd" (want sshd, access, errorlog, audit, regex, auto)
//
// Validation needs no I/O except time-zone names; the files a config names
// (rules, lists, GeoIP databases, logs) are opened by the components at
// start-up. Relative paths are resolved against the config file's
// directory. Durations are Go durations plus d for days (14d); sizes take
// units (64KiB, 1GiB). Top-level keys starting with x- are ignored, so that
// they can hold YAML anchors.
//
// Secrets (the ClickHouse password, Slack webhook URLs and tokens, webhook
// signing secrets) are secret.Secret values, given inline, as a *_file
// (read at load time and trimmed; the absolute path is kept so that a
// notifier can read it again) or with ${NAME} from the environment. Only
// secrets expand ${NAME}, and this is the only package of vigil that reads
// the environment. A Config can be printed, marshalled and logged without
// showing a secret, and no error message quotes one.
//
// Components that own a configuration type get it from a method:
// NetworkConfig, RDNSConfig and GeoConfig (ingest/enrich), FileConfig
// (ingest/source) and ParseOptions (ingest/parse). The store, rules and
// alert sections are plain structs here (ClickHouse, Rules, Alerts) that
// internal/app converts.
//
// Load, Parse and Default return a new Config each time; a Config is not
// modified by this package afterwards and may be read concurrently.
package config
