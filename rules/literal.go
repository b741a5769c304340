package rules

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A rule's regular expression usually runs on lines it does not match, and
// Go's regexp scans such a line at a cost that grows with the pattern: an
// alternation of a dozen crash signatures costs microseconds per error
// line. Most such patterns require one of a few literal strings in any
// match, so matcher first looks for those, folding case the way the
// pattern does, and runs the regexp only on the lines that hold one.

// matcher returns re.MatchString, preceded by a literal prefilter when the
// pattern has one.
func matcher(re *regexp.Regexp) func(string) bool {
	lits, fold := requiredLiterals(re.String())
	if lits == nil {
		return re.MatchString
	}
	return func(s string) bool {
		if !containsAny(s, lits, fold) {
			return false
		}
		return re.MatchString(s)
	}
}

// requiredLiterals returns strings of which every match of pattern holds
// at least one, or nil when there is no useful set. With fold the strings
// are in folded form (foldKey) and the subject must be folded too.
func requiredLiterals(pattern string) (lits []string, fold bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, false
	}
	re = re.Simplify()
	set, ok := required(re)
	if !ok || len(set) == 0 || len(set) > 32 {
		return nil, false
	}
	for _, l := range set {
		if l.fold {
			fold = true
		}
		if utf8.RuneCountInString(l.s) < 3 || strings.ContainsRune(l.s, utf8.RuneError) {
			// Too short to rule out much; or U+FFFD, which regexp also
			// reads from an invalid byte.
			return nil, false
		}
	}
	for _, l := range set {
		// Folding a case-sensitive literal among folded ones only widens
		// the filter, which stays correct.
		if fold {
			l.s = string(foldKey(nil, l.s))
		}
		lits = append(lits, l.s)
	}
	return lits, fold
}

type literal struct {
	s    string
	fold bool
}

// required returns a set of literals one of which every match of re
// contains, and whether there is one.
func required(re *syntax.Regexp) ([]literal, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return []literal{{string(re.Rune), re.Flags&syntax.FoldCase != 0}}, true
	case syntax.OpCapture:
		return required(re.Sub[0])
	case syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpAlternate:
		var all []literal
		for _, sub := range re.Sub {
			set, ok := required(sub)
			if !ok {
				return nil, false
			}
			all = append(all, set...)
		}
		return all, true
	case syntax.OpConcat:
		// Any part's set will do; take the one whose shortest literal is
		// longest.
		var best []literal
		bestLen := 0
		for _, sub := range re.Sub {
			set, ok := required(sub)
			if !ok {
				continue
			}
			shortest := -1
			for _, l := range set {
				if n := utf8.RuneCountInString(l.s); shortest < 0 || n < shortest {
					shortest = n
				}
			}
			if shortest > bestLen {
				best, bestLen = set, shortest
			}
		}
		return best, best != nil
	}
	return nil, false
}

// containsAny reports whether s holds one of lits, folding s first when
// fold.
func containsAny(s string, lits []string, fold bool) bool {
	var buf [512]byte
	if fold {
		s = view(foldKey(buf[:0], s))
	}
	for _, l := range lits {
		if strings.Contains(s, l) {
			return true
		}
	}
	return false
}

// foldKey appends s with every rune replaced by the smallest rune of its
// case-folding orbit, so that two runes match under (?i) exactly when
// their keys are equal (K, k and the Kelvin sign all become K). Invalid
// bytes become U+FFFD, as regexp reads them.
func foldKey(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			// The orbits of ASCII letters are their two cases plus, for k
			// and s, a non-ASCII rune: the upper case is the smallest.
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		dst = utf8.AppendRune(dst, foldMin(r))
	}
	return dst
}

func foldMin(r rune) rune {
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return least
}
