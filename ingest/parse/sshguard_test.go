package parse

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

// sshguardCorpus is SSHGuard's parser test vectors, shared by the project
// (see its README.md for the format).
const sshguardCorpus = "../../../shared/corpus/sshguard-parser-tests/tests.txt"

// sshguardSections are the sections of the corpus whose vectors are sshd
// (or Dropbear) lines.
var sshguardSections = []string{"SSH", "Banner formats"}

const sshguardGolden = "testdata/sshguard.disagreements.golden"

// sshguardVector is one test of the corpus: an input line and sshguard's
// verdict, "*" or "<service> <address> <kind> <dangerousness>".
type sshguardVector struct {
	section, input, want string
}

func readSSHGuardVectors(t *testing.T) []sshguardVector {
	t.Helper()
	f, err := os.Open(sshguardCorpus)
	if errors.Is(err, os.ErrNotExist) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sshguard corpus missing: %v", err)
		}
		t.Skipf("sshguard corpus missing: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		vecs    []sshguardVector
		section string
		pending []string
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "#### "); ok {
			section = strings.TrimSpace(strings.TrimSuffix(name, "{{{"))
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pending = append(pending, line)
		if len(pending) == 3 {
			// The mode is the first word; a fold marker ("M }}}") may follow.
			mode, _, _ := strings.Cut(pending[2], " ")
			if mode != "M" && mode != "X" {
				t.Fatalf("corpus: test %q ends with %q, want M or X", pending[0], pending[2])
			}
			if slices.Contains(sshguardSections, section) && mode == "M" {
				vecs = append(vecs, sshguardVector{section: section, input: pending[0], want: pending[1]})
			}
			pending = pending[:0]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Fatalf("corpus ends inside a test: %q", pending)
	}
	return vecs
}

// sshguardVerdict is "attack <address>" or "none".
func sshguardVerdict(want string) string {
	if want == "*" {
		return "none"
	}
	f := strings.Fields(want)
	if len(f) != 4 {
		return "malformed " + want
	}
	return "attack " + f[1]
}

// vigilVerdict runs one line through a fresh sshd parser and applies
// vigil's policy: the line is an attack when it yields a failed login, or a
// login_probe whose reason hostileProbe counts; the address is that event's.
func vigilVerdict(input string) string {
	p := NewSSHD(Options{Location: time.UTC})
	ln := ingest.Line{Source: "sshguard", Text: input, Time: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)}
	evs, err := p.Parse(ln, nil)
	if err != nil {
		return "none"
	}
	for _, ev := range evs {
		if (ev.Action == event.ActionLogin && ev.Outcome == event.OutcomeFailure) ||
			(ev.Action == event.ActionLoginProbe && hostileProbe(ev.Reason)) {
			return "attack " + ev.SrcIP.String()
		}
	}
	return "none"
}

// TestSSHGuardCorpus holds vigil's sshd parser to sshguard's verdicts
// (attack or not, and from which address) on the sshd vectors of its test
// corpus. Where vigil differs on purpose, the golden file says why.
func TestSSHGuardCorpus(t *testing.T) {
	vecs := readSSHGuardVectors(t)
	if len(vecs) < 70 {
		t.Fatalf("read %d sshd vectors from the corpus, want about 77", len(vecs))
	}
	reasons := readDisagreements(t)

	var disagree []string
	agreed := 0
	for _, v := range vecs {
		// Check that sshguard's address is one vigil can represent.
		want := sshguardVerdict(v.want)
		if a, ok := strings.CutPrefix(want, "attack "); ok {
			if _, err := netip.ParseAddr(a); err != nil {
				t.Errorf("corpus verdict %q has a bad address", v.want)
			}
		}
		got := vigilVerdict(v.input)
		if got == want {
			agreed++
			continue
		}
		disagree = append(disagree, v.input+"\t"+want+"\t"+got)
	}
	pct := 100 * float64(agreed) / float64(len(vecs))
	t.Logf("sshguard corpus: vigil agrees on %d of %d sshd vectors (%.1f%%)", agreed, len(vecs), pct)
	if pct < 97 {
		t.Errorf("agreement %.1f%% is below 97%%", pct)
	}

	if *update {
		writeDisagreements(t, disagree, reasons)
		return
	}
	var got []string
	for _, d := range disagree {
		got = append(got, d)
		r, ok := reasons[d]
		switch {
		case !ok:
			t.Errorf("new disagreement with sshguard (explain it in %s, or fix the parser):\n\t%s", sshguardGolden, d)
		case strings.TrimSpace(r) == "":
			t.Errorf("disagreement without a reason in %s:\n\t%s", sshguardGolden, d)
		}
	}
	for d := range reasons {
		if !slices.Contains(got, d) {
			t.Errorf("%s lists a disagreement that no longer occurs (run with -update):\n\t%s", sshguardGolden, d)
		}
	}
}

// readDisagreements reads the golden file: one line per disagreement,
// "input<TAB>sshguard verdict<TAB>vigil verdict<TAB>why vigil differs".
// Lines starting with '#' are comments.
func readDisagreements(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(sshguardGolden)
	if errors.Is(err, os.ErrNotExist) && *update {
		return map[string]string{}
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("%s:%d: want 4 tab-separated fields, got %d", sshguardGolden, i+1, len(f))
		}
		out[strings.Join(f[:3], "\t")] = f[3]
	}
	return out
}

// writeDisagreements rewrites the golden file, keeping the reasons already
// written for disagreements that remain.
func writeDisagreements(t *testing.T, disagree []string, reasons map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# Lines of SSHGuard's sshd test vectors on which vigil's verdict differs from sshguard's.\n")
	b.WriteString("# input<TAB>sshguard<TAB>vigil<TAB>why vigil differs (hand-written; kept by -update).\n")
	for _, d := range disagree {
		fmt.Fprintf(&b, "%s\t%s\n", d, reasons[d])
	}
	if err := os.MkdirAll(filepath.Dir(sshguardGolden), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sshguardGolden, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
