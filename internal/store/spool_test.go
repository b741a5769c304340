package store

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/chtest"
	"github.com/vigil-sec/vigil/internal/event"
)

// proxy forwards TCP connections to a real server. Down closes its
// listener and every connection, so that nothing listens on its port; Up
// listens on the same port again.
type proxy struct {
	t      testing.TB
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newProxy(t testing.TB, target string) *proxy {
	p := &proxy{t: t, target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.Down(); p.wg.Wait() })
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[u] = true, true
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			p.wg.Go(func() { pipe(u, c) })
			p.wg.Go(func() { pipe(c, u) })
		}
	})
}

func (p *proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) Up() {
	var ln net.Listener
	var err error
	// The port was just released; give the kernel a moment if it refuses.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ln, err = net.Listen("tcp", p.addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWriterSpoolsWhileClickHouseIsDown takes the writer's port away in
// the middle of a replay (nothing listens on it) and brings it back while
// events keep coming: every event arrives once the spool drained. The
// outage lasts until the writer failed five inserts (a few seconds of
// backoff), or VIGIL_TEST_OUTAGE (a duration, e.g. 30s) if that is longer.
func TestWriterSpoolsWhileClickHouseIsDown(t *testing.T) {
	db := chtest.New(t)
	px := newProxy(t, db.Addr)
	dsn := "clickhouse://" + px.addr + "/" + db.Name
	w, err := NewWriter(Config{DSN: dsn, SpoolDir: t.TempDir(), BatchRows: 5000}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	runWriter(t, w)
	var outage time.Duration
	if v := os.Getenv("VIGIL_TEST_OUTAGE"); v != "" {
		if outage, err = time.ParseDuration(v); err != nil {
			t.Fatalf("VIGIL_TEST_OUTAGE: %v", err)
		}
	}
	evs := sshdEvents(0, 80_000, 2)
	writeAll(t, w, evs[:20_000], 500)
	flush(t, w)

	// The replay goes on in the background through the outage.
	replay, resume := make(chan struct{}), make(chan struct{})
	var written atomic.Int64
	go func() {
		defer close(replay)
		for i := 20_000; i < len(evs); i += 250 {
			if err := w.Write(context.Background(), evs[i:i+250]); err != nil {
				t.Error(err)
				return
			}
			written.Store(int64(i + 250))
			if i == 40_000 {
				<-resume // wait until the outage is under way
			}
		}
	}()
	px.Down()
	downAt := time.Now()
	waitFor(t, "failed inserts while down", func() bool {
		return w.Stats().Retries >= 5 && written.Load() > 40_000 && time.Since(downAt) >= outage
	})
	st := w.Stats()
	if st.SpoolBytes == 0 || st.Inserted > uint64(written.Load()) {
		t.Errorf("while down: %+v", st)
	}
	t.Logf("down for %s: %d events written, %d inserted, %d failed inserts, spool %d bytes",
		time.Since(downAt).Round(time.Millisecond), written.Load(), st.Inserted, st.Retries, st.SpoolBytes)
	px.Up()
	close(resume)
	<-replay
	flush(t, w)

	got := storedIDs(t, db)
	n, sum, xor := idSums(evs)
	if got.rows != n || got.distinct != n || got.sum != sum || got.xor != xor {
		t.Errorf("stored %+v, want %d distinct rows", got, n)
	}
	if st := w.Stats(); st.Dropped != 0 {
		t.Errorf("dropped %d", st.Dropped)
	}
}

// TestSpoolDropsOldestWhenFull fills a small spool with nothing sending.
func TestSpoolDropsOldestWhenFull(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(dir, 1<<20, testLogger(t)) // 1 MiB cap, 1 MiB segments
	if err != nil {
		t.Fatal(err)
	}
	sp.segmentMax = 128 << 10
	evs := sshdEvents(0, 100, 3)
	payload := appendBatch(nil, evs)
	var written int
	for range (3 << 20) / len(payload) {
		if _, _, err := sp.append(payload); err != nil {
			t.Fatal(err)
		}
		written += len(evs)
	}
	total, dropped, _ := sp.stats()
	if total > 1<<20 {
		t.Errorf("spool holds %d bytes, cap 1 MiB", total)
	}
	if dropped == 0 || dropped%100 != 0 {
		t.Errorf("dropped %d events, want a positive multiple of 100", dropped)
	}
	// What is left reads back in order, and left + dropped = written.
	r := &reader{s: sp, pos: sp.acked()}
	defer r.close()
	var left int
	for {
		p, _, err := r.next()
		if err != nil {
			t.Fatal(err)
		}
		if p == nil {
			break
		}
		got, err := decodeBatch(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		left += len(got)
	}
	if uint64(left)+dropped != uint64(written) {
		t.Errorf("left %d + dropped %d != written %d", left, dropped, written)
	}
	if err := sp.close(); err != nil {
		t.Fatal(err)
	}
}

// TestSpoolRecoversTornTail cuts the last record in half, as a crash
// during write would, and flips a byte of an earlier one.
func TestSpoolRecoversTornTail(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(dir, 64<<20, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	evs := sshdEvents(0, 30, 4)
	for i := range 3 {
		if _, _, err := sp.append(appendBatch(nil, evs[i*10:(i+1)*10])); err != nil {
			t.Fatal(err)
		}
	}
	seg := sp.path(sp.segs[0].seq)
	size := sp.segs[0].size
	sp.close()
	if err := os.Truncate(seg, size-7); err != nil {
		t.Fatal(err)
	}
	sp, err = openSpool(dir, 64<<20, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	r := &reader{s: sp, pos: sp.acked()}
	defer r.close()
	var got []event.Event
	for {
		p, _, err := r.next()
		if err != nil {
			t.Fatal(err)
		}
		if p == nil {
			break
		}
		if got, err = decodeBatch(got, p); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 20 || got[19].EventID != evs[19].EventID {
		t.Fatalf("after a torn tail read %d events, want the first 20", len(got))
	}
	// New records append after the cut.
	if _, _, err := sp.append(appendBatch(nil, evs[20:])); err != nil {
		t.Fatal(err)
	}
	p, _, err := r.next()
	if err != nil || p == nil {
		t.Fatalf("record after recovery: %v", err)
	}
	// A flipped byte is caught by the CRC.
	b, _ := os.ReadFile(seg)
	b[20] ^= 0xff
	if err := os.WriteFile(filepath.Join(dir, "x.seg.bad"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(filepath.Join(dir, "x.seg.bad"))
	defer f.Close()
	if _, _, err := readRecord(f, 0, int64(len(b))); err == nil {
		t.Error("corrupt record passed its CRC")
	}
}

func TestCodecRoundTrip(t *testing.T) {
	evs := sshdEvents(0, 500, 5)
	evs[3].SrcIP = mustAddr("2001:db8::1")
	evs[4].Ts = time.Time{}
	evs[5].GeoLat, evs[5].SrcHostVerified, evs[5].HTTPBytes = -33.5, true, 1<<63
	p := appendBatch(nil, evs)
	got, err := decodeBatch(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		a, b := evs[i], got[i]
		if !a.Ts.Equal(b.Ts) || a.SrcIP != b.SrcIP || a.Raw != b.Raw || a.EventID != b.EventID ||
			a.GeoLat != b.GeoLat || a.HTTPBytes != b.HTTPBytes || a.SrcHostVerified != b.SrcHostVerified ||
			len(a.Attrs) != len(b.Attrs) || a.User != b.User || a.Outcome != b.Outcome {
			t.Fatalf("event %d: got %+v, want %+v", i, b, a)
		}
	}
	short := appendBatch(nil, evs[:3])
	for cut := range len(short) {
		if _, err := decodeBatch(nil, short[:cut]); err == nil {
			t.Fatalf("decoding %d of %d bytes succeeded", cut, len(short))
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(appendBatch(nil, sshdEvents(0, 3, 6)))
	f.Fuzz(func(t *testing.T, p []byte) {
		_, _ = decodeBatch(nil, p) // must not panic
	})
}

// TestSpoolSkipsCorruptRecord flips a byte inside the segment being
// written: the reader counts it, skips what follows, and goes on with new
// records.
func TestSpoolSkipsCorruptRecord(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(dir, 64<<20, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	evs := sshdEvents(0, 40, 8)
	var starts []position
	for i := range 3 {
		start, _, err := sp.append(appendBatch(nil, evs[i*10:(i+1)*10]))
		if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, start)
	}
	f, err := os.OpenFile(sp.path(starts[1].seq), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0xee}, starts[1].off+headerSize+3); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := &reader{s: sp, pos: sp.acked()}
	defer r.close()
	read := func() []byte {
		t.Helper()
		p, _, err := r.next()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := read(); p == nil {
		t.Fatal("first record missing")
	}
	if p := read(); p != nil {
		t.Fatal("read past a corrupt record")
	}
	if _, _, corrupt := sp.stats(); corrupt != 1 {
		t.Errorf("corrupt = %d, want 1", corrupt)
	}
	if _, _, err := sp.append(appendBatch(nil, evs[30:])); err != nil {
		t.Fatal(err)
	}
	p := read()
	got, err := decodeBatch(nil, p)
	if err != nil || len(got) != 10 || got[0].EventID != evs[30].EventID {
		t.Fatalf("record after the corrupt one: %d events, %v", len(got), err)
	}
}
