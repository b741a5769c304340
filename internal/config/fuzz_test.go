package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vigil-sec/vigil/ingest/parse"
)

// FuzzParse feeds arbitrary files to Parse. Properties: it never panics;
// a rejected file gives Errors, each naming the file; an accepted file
// gives a Config every component accepts.
func FuzzParse(f *testing.F) {
	f.Add(Example)
	for _, pattern := range []string{"testdata/*.yml", "testdata/invalid/*.yml"} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	l := Loader{
		LookupEnv: func(string) (string, bool) { return "https://example.com/x", true },
		ReadFile:  func(string) ([]byte, error) { return []byte("https://example.com/secret\n"), nil },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := l.Parse(data, "f.yml")
		if err != nil {
			var list Errors
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("Parse error %T is not Errors: %v", err, err)
			}
			for _, e := range list {
				if e.File != "f.yml" || e.Msg == "" {
					t.Fatalf("error without file or message: %#v", e)
				}
			}
			return
		}
		if err := c.NetworkConfig().Validate(); err != nil {
			t.Fatalf("accepted network block fails enrich: %v", err)
		}
		if err := c.RDNSConfig().Validate(); err != nil {
			t.Fatalf("accepted rdns block fails enrich: %v", err)
		}
		for _, s := range c.Sources {
			if s.Name == "" || len(s.Paths) == 0 || !slices.Contains(parse.Formats(), s.Format) {
				t.Fatalf("accepted source %+v", s)
			}
			opts, err := c.ParseOptions(s)
			if err != nil {
				t.Fatalf("ParseOptions(%s): %v", s.Name, err)
			}
			if _, err := parse.New(s.Format, opts); err != nil {
				t.Fatalf("accepted source %s fails parse.New: %v", s.Name, err)
			}
		}
		if _, err := c.BuildLists(); err != nil && len(c.ListFiles) == 0 {
			t.Fatalf("accepted lists fail enrich.NewLists: %v", err)
		}
	})
}
