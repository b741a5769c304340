package app

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/ingest/parse"
	"github.com/vigil-sec/vigil/ingest/source"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/gen"
	"github.com/vigil-sec/vigil/rules"
	"github.com/vigil-sec/vigil/rules/builtin"
)

// TestLiveTailMatchesReplay tails a file while a writer appends a generated
// attack scenario to it in uneven bursts, runs the builtin rules on what
// the tail reads, and then replays the finished file: the two runs raise
// the same alerts, ids and evidence included. Detection runs on event time,
// so how the lines were batched on the way must not matter.
func TestLiveTailMatchesReplay(t *testing.T) {
	scen := t.TempDir()
	if _, err := gen.Generate(gen.Options{Scenario: "bruteforce", Lines: 6000, Out: scen, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(scen, gen.FileAuth))
	if err != nil {
		t.Fatal(err)
	}
	det, err := LoadDetection(config.Default(), builtin.FS, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	popts := parse.Options{Location: time.UTC}

	// Live: tail an empty file and append to it.
	path := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := source.NewFile(source.FileConfig{Name: "replay", Paths: []string{path}, RescanInterval: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := parse.New("sshd", popts)
	if err != nil {
		t.Fatal(err)
	}
	en, err := newEnrichers(EnrichOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer en.Close()
	engine, err := rules.NewEngine(det.Rules, rules.EngineConfig{Lists: det.Lists, Zones: en.zones})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		live []event.Alert
	)
	collect := func(_ context.Context, as []event.Alert) error {
		mu.Lock()
		defer mu.Unlock()
		live = append(live, as...)
		return nil
	}
	d := newDetector(engine, collect, false)
	pipe := ingest.NewPipeline(ingest.PipelineConfig{
		Inputs:    []ingest.Input{{Source: f, Parser: p, Kind: event.KindAuth}},
		Enrichers: en.chain,
		Sinks:     []ingest.Sink{d},
		Unparsed:  parse.Unparsed,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pipe.Run(ctx) }()

	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1+rng.IntN(8192))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
		if rng.IntN(4) == 0 {
			time.Sleep(time.Millisecond) // let the tail catch up now and then
		}
	}
	w.Close()
	lines := uint64(bytes.Count(data, []byte("\n")))
	deadline := time.Now().Add(60 * time.Second)
	for f.Stats().Lines < lines {
		if time.Now().After(deadline) {
			t.Fatalf("the tail read %d of %d lines", f.Stats().Lines, lines)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Replay the finished file.
	var replayed []event.Alert
	if _, err := Replay(context.Background(), ReplayOptions{
		Format: "sshd", Parse: popts, Paths: []string{path}, Output: OutputNone,
		Rules: det.Rules, Lists: det.Lists,
		Alerts: func(_ context.Context, as []event.Alert) error {
			replayed = append(replayed, as...)
			return nil
		},
	}); err != nil {
		t.Fatal(err)
	}

	if len(replayed) == 0 {
		t.Fatal("the replay raised no alert on a brute-force scenario")
	}
	jl, _ := json.MarshalIndent(live, "", " ")
	jr, _ := json.MarshalIndent(replayed, "", " ")
	if !bytes.Equal(jl, jr) {
		t.Errorf("live tail raised %d alerts, replay %d, and they differ", len(live), len(replayed))
		for i := range min(len(live), len(replayed)) {
			a, _ := json.Marshal(live[i])
			b, _ := json.Marshal(replayed[i])
			if !bytes.Equal(a, b) {
				t.Errorf("first difference at alert %d:\nlive:   %s\nreplay: %s", i, a, b)
				break
			}
		}
	}
	t.Logf("%d lines tailed live and replayed: %d alerts each", lines, len(replayed))
}
