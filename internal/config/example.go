package config

import _ "embed"

// Example is the annotated example configuration, vigil.example.yml: every
// section with a comment on each key. `vigil check-config --example`
// prints it; a test loads it.
//
//go:embed vigil.example.yml
var Example []byte
