// Package rules will hold vigil's detection rules: the YAML rule format,
// expression compilation and the event-time Engine with its bounded state.
// The shipped catalog goes into rules/builtin. Rules read event.Event only;
// they do not import ingest, the store or alert.
//
// The package is empty until the rules engine lands (issue #4); it exists
// so that the top-level layout of DESIGN.md is in place.
package rules
