package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/internal/event"
)

// sliceSource sends fixed batches, then returns; it records commits.
type sliceSource struct {
	batches [][]ingest.Line
	mu      sync.Mutex
	commits []int64 // End of the last line of each committed batch
}

func (s *sliceSource) Name() string { return "test" }

func (s *sliceSource) Run(ctx context.Context, out chan<- []ingest.Line) error {
	for _, b := range s.batches {
		select {
		case out <- b:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

func (s *sliceSource) Commit(lines []ingest.Line) {
	s.mu.Lock()
	s.commits = append(s.commits, lines[len(lines)-1].End)
	s.mu.Unlock()
}

// hostEnricher names every address and fails on one, to show that a failed
// enrichment keeps the event.
type hostEnricher struct{}

func (hostEnricher) Enrich(_ context.Context, ev *event.Event) error {
	if !ev.SrcIP.IsValid() {
		return nil
	}
	ev.SrcHost = "host-" + ev.SrcIP.String()
	if ev.Action == "login" && ev.Outcome == "success" {
		return errors.New("lookup timed out")
	}
	return nil
}

type memSink struct {
	mu   sync.Mutex
	evs  []event.Event
	fail error
}

func (m *memSink) Write(_ context.Context, evs []event.Event) error {
	if m.fail != nil {
		return m.fail
	}
	m.mu.Lock()
	m.evs = append(m.evs, evs...)
	m.mu.Unlock()
	return nil
}

func lines(texts ...string) []ingest.Line {
	var out []ingest.Line
	var off int64
	for _, t := range texts {
		out = append(out, ingest.Line{Source: "test", Path: "auth.log", Offset: off, End: off + int64(len(t)) + 1, Text: t,
			Time: time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)})
		off += int64(len(t)) + 1
	}
	return out
}

func TestPipelineKeepsEveryLineAndCommitsInOrder(t *testing.T) {
	all := lines(
		"Mar  3 09:17:08 hd1 sshd[20441]: Invalid user oracle from 198.51.100.23 port 61240",
		"this is not a log line at all",
		"Mar  3 09:17:40 hd1 sshd[20440]: message repeated 3 times: [ Failed password for root from 198.51.100.23 port 61234 ssh2]",
		"Mar  3 09:18:01 hd1 sshd[20450]: Accepted publickey for deploy from 10.20.4.30 port 40022 ssh2",
	)
	src := &sliceSource{batches: [][]ingest.Line{all[:2], all[2:]}}
	sink := &memSink{}
	p := ingest.NewPipeline(ingest.PipelineConfig{
		Inputs:    []ingest.Input{{Source: src, Parser: parse.NewSSHD(parse.Options{Location: time.UTC}), Kind: event.KindAuth}},
		Enrichers: []ingest.Enricher{hostEnricher{}},
		Sinks:     []ingest.Sink{sink},
		Unparsed:  parse.Unparsed,
	})
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}

	var got []string
	for _, ev := range sink.evs {
		got = append(got, fmt.Sprintf("%s/%s", ev.Action, ev.Outcome))
	}
	want := []string{"login/failure", "unparsed/unknown", "login/failure", "login/failure", "login/failure", "login/success"}
	if !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	for _, ev := range sink.evs {
		if want := ev.SrcIP.IsValid(); (ev.SrcHost != "") != want {
			t.Errorf("event %q: src_host %q; the enricher runs on every event with an address", ev.Raw, ev.SrcHost)
		}
	}
	un := sink.evs[1]
	if un.Raw != all[1].Text || un.Attrs["parse_error"] == "" || un.Kind != event.KindAuth {
		t.Errorf("unparsed event = %+v, want the raw line, kind auth and the parse error", un)
	}
	ids := map[event.ID]bool{}
	for _, ev := range sink.evs {
		if ev.EventID.IsZero() || ids[ev.EventID] {
			t.Errorf("event %q has a zero or repeated event_id %s", ev.Raw, ev.EventID)
		}
		ids[ev.EventID] = true
	}
	if want := []int64{all[1].End, all[3].End}; !slices.Equal(src.commits, want) {
		t.Errorf("commits = %v, want %v", src.commits, want)
	}
	per, total := p.Stats().Parsers()
	if s := per["sshd"]; s.Lines != 4 || s.Unparsed != 1 || s.Events != 5 || total.Lines != 4 || s.EnrichErrors != 1 {
		t.Errorf("stats = %+v (total %+v), want 4 lines, 5 events, 1 unparsed", s, total)
	}
}

func TestPipelineSinkErrorStopsWithoutCommit(t *testing.T) {
	all := lines("Mar  3 09:18:01 hd1 sshd[20450]: Accepted publickey for deploy from 10.20.4.30 port 40022 ssh2")
	src := &sliceSource{batches: [][]ingest.Line{all, all, all}}
	sink := &memSink{fail: errors.New("disk full")}
	p := ingest.NewPipeline(ingest.PipelineConfig{
		Inputs:   []ingest.Input{{Source: src, Parser: parse.NewSSHD(parse.Options{})}},
		Sinks:    []ingest.Sink{sink},
		Unparsed: parse.Unparsed,
	})
	err := p.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Run = %v, want the sink's error", err)
	}
	if len(src.commits) != 0 {
		t.Errorf("commits = %v after a failed write, want none", src.commits)
	}
}

// countingSink fails on its failAt-th write (1-based; 0 never) and records
// the raw lines it was given, copied.
type countingSink struct {
	writes, failAt int
	raws           []string
	delay          time.Duration
}

func (c *countingSink) Write(_ context.Context, evs []event.Event) error {
	c.writes++
	if c.writes == c.failAt {
		return errors.New("clickhouse gone")
	}
	time.Sleep(c.delay)
	for i := range evs {
		c.raws = append(c.raws, evs[i].Raw)
	}
	return nil
}

// numbered returns n batches of one numbered sshd line each.
func numbered(n int) [][]ingest.Line {
	var texts []string
	for i := range n {
		texts = append(texts, fmt.Sprintf("Mar  3 09:18:01 hd1 sshd[%d]: Failed password for root from 198.51.100.7 port %d ssh2", i, i))
	}
	all := lines(texts...)
	var out [][]ingest.Line
	for i := range all {
		out = append(out, all[i:i+1])
	}
	return out
}

// TestPipelineSlowSinkKeepsOrder: the sinks run behind the parser, on a
// goroutine of their own; a slow sink still gets every batch, in order,
// with events intact though the parser went on, and each batch is
// committed after it was written.
func TestPipelineSlowSinkKeepsOrder(t *testing.T) {
	batches := numbered(50)
	src := &sliceSource{batches: batches}
	sink := &countingSink{delay: time.Millisecond}
	p := ingest.NewPipeline(ingest.PipelineConfig{
		Inputs:   []ingest.Input{{Source: src, Parser: parse.NewSSHD(parse.Options{Location: time.UTC})}},
		Sinks:    []ingest.Sink{sink},
		Unparsed: parse.Unparsed,
	})
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.raws) != len(batches) {
		t.Fatalf("the sink got %d events, want %d", len(sink.raws), len(batches))
	}
	for i, b := range batches {
		if sink.raws[i] != b[0].Text {
			t.Fatalf("event %d is %q, want %q", i, sink.raws[i], b[0].Text)
		}
		if src.commits[i] != b[0].End {
			t.Fatalf("commit %d at %d, want %d", i, src.commits[i], b[0].End)
		}
	}
}

// TestPipelineSinkFailsMidway: the batches before the failing write are
// committed, in order; the failing one and every later one are not.
func TestPipelineSinkFailsMidway(t *testing.T) {
	batches := numbered(40)
	src := &sliceSource{batches: batches}
	sink := &countingSink{failAt: 7}
	p := ingest.NewPipeline(ingest.PipelineConfig{
		Inputs:   []ingest.Input{{Source: src, Parser: parse.NewSSHD(parse.Options{Location: time.UTC})}},
		Sinks:    []ingest.Sink{sink},
		Unparsed: parse.Unparsed,
	})
	err := p.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "clickhouse gone") {
		t.Fatalf("Run = %v, want the sink's error", err)
	}
	if sink.writes != 7 {
		t.Errorf("the sink was written %d times; after the failure it must not be", sink.writes)
	}
	var want []int64
	for _, b := range batches[:6] {
		want = append(want, b[0].End)
	}
	if !slices.Equal(src.commits, want) {
		t.Errorf("commits = %v, want the first 6 batches %v", src.commits, want)
	}
	if _, total := p.Stats().Parsers(); total.Lines != 6 {
		t.Errorf("stats count %d lines, want the 6 written", total.Lines)
	}
}
