package rules

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestMatcherAgreesWithRegexp holds the literal prefilter to regexp's
// answers, on inputs built from the patterns' own pieces and from the runes
// that fold in surprising ways (the Kelvin sign folds with k, the long s
// with s) and invalid UTF-8.
func TestMatcherAgreesWithRegexp(t *testing.T) {
	patterns := []struct {
		re       string
		filtered bool // whether a prefilter is expected
	}{
		{`(?i)segmentation fault|exit signal (abort|segmentation)|core dumped|php fatal error|connection refused.*(mysql|postgres)|(could not|unable to) decrypt`, true},
		{`UID=0,|GID=(0|10|27),|(to|add user '[^']*' to) group '(root|sudo|wheel|adm)'`, true},
		{`(?i)kelvin|sssh`, true},
		{`(?i)(foo|bar)+baz`, true},
		{`x(abc){2,}y`, true},
		{`^/data/`, true},
		{`abc|d`, false},
		{`a.*b`, false},
		{`(?i)nikto`, true},
		{"\uFFFDabc", false},
		{`(abc)?def`, true},
	}
	pieces := []string{"segmentation fault", "SEGMENTATION", "exit signal abort", "core", "dumped", "PHP Fatal Error",
		"connection refused", "mysql", "Unable to decrypt", "UID=0,", "GID=27,", "add user 'bob' to group 'sudo'",
		"\u212Aelvin", "KELVIN", "\u017Fs\u017Fh", "SSSH", "fooBAZ", "barfoobaz", "xabcabcy", "xabcy", "/data/x", "abc", "d",
		"aXb", "NiKtO", "\xff", "\xffabc", "\uFFFDabc", "def", "abcdef", " ", "x", "é", "ǅ"}
	rng := rand.New(rand.NewPCG(5, 6))
	var inputs []string
	for range 3000 {
		var b strings.Builder
		for range rng.IntN(5) {
			p := pieces[rng.IntN(len(pieces))]
			if rng.IntN(4) == 0 && len(p) > 1 {
				p = p[rng.IntN(len(p)):] // a fragment, possibly cutting a rune
			}
			b.WriteString(p)
		}
		inputs = append(inputs, b.String())
	}
	for _, p := range patterns {
		re := regexp.MustCompile(p.re)
		lits, _ := requiredLiterals(re.String())
		if got := lits != nil; got != p.filtered {
			t.Errorf("%s: prefilter %v (%q), want %v", p.re, got, lits, p.filtered)
		}
		m := matcher(re)
		matched := 0
		for _, in := range inputs {
			want := re.MatchString(in)
			if got := m(in); got != want {
				t.Errorf("matcher(%s)(%q) = %v, regexp says %v", p.re, in, got, want)
			}
			if want {
				matched++
			}
		}
		if matched == 0 || matched == len(inputs) {
			t.Errorf("%s matched %d of %d inputs: the test does not discriminate", p.re, matched, len(inputs))
		}
	}
}

// TestFoldKey checks that runes match under (?i) exactly when their fold
// keys are equal.
func TestFoldKey(t *testing.T) {
	runes := []rune{'k', 'K', '\u212A', 's', 'S', '\u017F', 'a', 'A', 'é', 'É', 'ǅ', 'ǆ', 'Ǆ', 'ß', 'ẞ', '1', 'Σ', 'σ', 'ς'}
	for _, a := range runes {
		for _, b := range runes {
			re := regexp.MustCompile(`(?i)^` + regexp.QuoteMeta(string(a)) + `$`)
			want := re.MatchString(string(b))
			got := string(foldKey(nil, string(a))) == string(foldKey(nil, string(b)))
			if got != want {
				t.Errorf("fold keys of %q and %q equal: %v, regexp (?i) says %v", a, b, got, want)
			}
		}
	}
}
