package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
)

func runVigil(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

func TestExplain(t *testing.T) {
	line := "Mar  3 09:17:09 hd1 sshd[20441]: Failed password for root from 2001:db8::7%eth0 port 61240 ssh2"
	out, _, err := runVigil(t, "", "explain", "--tz", "UTC", line, "garbage")
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Line   int           `json:"line"`
		Parser string        `json:"parser"`
		Events []event.Event `json:"events"`
		Error  string        `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var x struct {
			Line   int           `json:"line"`
			Parser string        `json:"parser"`
			Events []event.Event `json:"events"`
			Error  string        `json:"error"`
		}
		if err := dec.Decode(&x); err != nil {
			t.Fatalf("explain output is not JSON: %v\n%s", err, out)
		}
		got = append(got, x)
	}
	if len(got) != 2 {
		t.Fatalf("explain printed %d objects, want 2:\n%s", len(got), out)
	}
	ev := got[0].Events
	if got[0].Parser != "sshd" || len(ev) != 1 || ev[0].Action != "login" || ev[0].Outcome != "failure" ||
		ev[0].SrcIP.String() != "2001:db8::7" || ev[0].User != "root" || ev[0].Host != "hd1" {
		t.Errorf("explain of a failed login = %+v", got[0])
	}
	if got[1].Error == "" || len(got[1].Events) != 0 {
		t.Errorf("explain of garbage = %+v, want an error and no events", got[1])
	}
}

func TestGenReplay(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runVigil(t, "", "gen", "--scenario", "mixed", "--lines", "3000", "--out", dir, "--seed", "3")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "attacking addresses") {
		t.Errorf("gen said %q", out)
	}
	for _, name := range []string{"auth.log", "access.log", "helpdesk.json", "truth.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("gen did not write %s: %v", name, err)
		}
	}

	auth := filepath.Join(dir, "auth.log")
	_, summary, err := runVigil(t, "", "replay", "--tz", "UTC", "--output", "none", auth)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(summary, "unparsed 0 ") || !strings.Contains(summary, "lines/s") {
		t.Errorf("replay summary of a generated auth.log:\n%s", summary)
	}

	events, _, err := runVigil(t, "", "replay", "--tz", "UTC", "--format", "sshd", auth)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(auth)
	if err != nil {
		t.Fatal(err)
	}
	nlines := bytes.Count(data, []byte("\n"))
	sc := bufio.NewScanner(strings.NewReader(events))
	sc.Buffer(nil, 1<<20)
	n, failures := 0, 0
	for sc.Scan() {
		var ev event.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %d is not JSON: %v", n, err)
		}
		if ev.Action == "unparsed" {
			t.Errorf("generated line not parsed: %q (%s)", ev.Raw, ev.Attrs["parse_error"])
		}
		if ev.Action == "login" && ev.Outcome == "failure" {
			failures++
		}
		n++
	}
	if n < nlines {
		t.Errorf("replay wrote %d events for %d lines; every line gives at least one", n, nlines)
	}
	if failures == 0 {
		t.Error("a mixed scenario's auth.log gave no failed logins")
	}

	again, _, err := runVigil(t, "", "replay", "--tz", "UTC", "--format", "sshd", auth)
	if err != nil {
		t.Fatal(err)
	}
	if again != events {
		t.Error("two replays of the same file wrote different events")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"replay"}, {"gen"}, {"explain", "--format", "xml", "x"}} {
		_, _, err := runVigil(t, "", args...)
		if err == nil {
			t.Errorf("vigil %v succeeded, want an error", args)
		}
	}
	out, _, err := runVigil(t, "", "version")
	if err != nil || !strings.HasPrefix(out, "vigil ") {
		t.Errorf("version = %q, %v", out, err)
	}
}
