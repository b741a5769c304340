package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	// Embedded zone data: sources[].tz must work in a container image
	// without /usr/share/zoneinfo.
	_ "time/tzdata"

	"go.yaml.in/yaml/v3"
)

// MaxFileBytes bounds a config file and a secret file.
const MaxFileBytes = 4 << 20

// Loader loads configuration files. Its zero value reads the real file
// system and environment; tests and fuzzers set the fields instead.
type Loader struct {
	// LookupEnv looks up the variables of ${NAME} in secrets; nil means
	// os.LookupEnv. Only secrets (passwords, tokens, webhook URLs) expand
	// ${NAME}: this package is the only one in vigil that reads the
	// environment.
	LookupEnv func(name string) (string, bool)
	// ReadFile reads the config file (Load) and secret files; nil means
	// os.ReadFile, limited to MaxFileBytes.
	ReadFile func(path string) ([]byte, error)
}

// Load reads the configuration file at path with the zero Loader. An empty
// path means no file: Default.
func Load(path string) (*Config, error) { return Loader{}.Load(path) }

// Parse reads a configuration from data with the zero Loader; name is the
// file name used in errors and the base of relative paths.
func Parse(data []byte, name string) (*Config, error) { return Loader{}.Parse(data, name) }

// Load reads the configuration file at path. An empty path means no file:
// Default. Problems in the file are returned as Errors, all at once.
func (l Loader) Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := l.readFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return l.Parse(data, path)
}

// Parse reads a configuration from data, the contents of the file called
// name. It starts from Default and lays the file over it: a key the file
// does not give keeps its default, a list the file gives replaces the
// default list. It decodes strictly (an unknown key is an error), resolves
// relative paths against the directory of name, reads the *_file secrets,
// and validates everything. Every problem found is returned at once as
// Errors, each with file, line and key path.
func (l Loader) Parse(data []byte, name string) (*Config, error) {
	c := defaults()
	dir, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	if name != "" {
		abs, err := filepath.Abs(name)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", name, err)
		}
		c.File, dir = abs, filepath.Dir(abs)
	}
	errs := &errorList{file: name}
	d := &decoder{
		errs:      errs,
		pos:       make(map[string]position),
		set:       make(map[string]bool),
		lookupEnv: l.LookupEnv,
	}
	if d.lookupEnv == nil {
		d.lookupEnv = os.LookupEnv
	}
	root, ok := parseYAML(data, errs)
	if !ok {
		return nil, errs.err()
	}
	if root != nil && !isNull(root) {
		if root.Kind != yaml.MappingNode {
			d.fail(root, "", "a config file is a mapping of keys (state_dir, sources, alerts, ...), got %s", describe(root))
			return nil, errs.err()
		}
		d.decode(root, "", reflect.ValueOf(c).Elem())
	}
	v := &validator{errs: errs, pos: d.pos, failed: make(map[string]bool)}
	for _, e := range errs.errs {
		v.failed[e.Key] = true
	}
	c.fillDefaults(func(key string) bool { return d.set[key] })
	c.resolvePaths(dir)
	l.readSecrets(c, v)
	v.validate(c)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks a Config built or changed in code with the checks Parse
// runs. Its errors name keys but no lines. It does not fill defaults: start
// from Default, and give list entries (sources, receivers) every value they
// need.
func (c *Config) Validate() error {
	errs := &errorList{}
	v := &validator{errs: errs, pos: map[string]position{}, failed: map[string]bool{}}
	v.validate(c)
	return errs.err()
}

func (l Loader) readFile(path string) ([]byte, error) {
	if l.ReadFile != nil {
		return l.ReadFile(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxFileBytes)
	}
	return data, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses data as one YAML document. It returns nil for an empty
// file, and false after reporting a syntax error.
func parseYAML(data []byte, errs *errorList) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		syntaxError(err, errs)
		return nil, false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		syntaxError(err, errs)
		return nil, false
	default:
		errs.add(extra.Line, extra.Column, "", "a second YAML document: a config file holds one (remove the ---)")
		return nil, false
	}
	if len(doc.Content) == 0 {
		return nil, true
	}
	return doc.Content[0], true
}

func syntaxError(err error, errs *errorList) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		errs.add(line, 0, "", "%s", m[2])
		return
	}
	errs.add(0, 0, "", "%s", strings.TrimPrefix(msg, "yaml: "))
}
