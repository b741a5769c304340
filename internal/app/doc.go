// Package app builds vigil's components from their options and runs them.
// It is the only package that knows all the others: cmd/vigil parses flags
// and calls into app; app joins sources, parsers and sinks into an
// ingest.Pipeline.
//
// For now it holds the offline commands (Replay, Explain, Gen); the daemon
// (vigil run) arrives with the config package.
package app
