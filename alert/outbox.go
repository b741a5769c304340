package alert

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vigil-sec/vigil/internal/event"
)

// The outbox is one append-only file, StateDir/alerts/outbox.log. Each
// record is
//
//	length  uint32, little endian: the size of payload
//	crc     uint32, little endian: CRC-32C (Castagnoli) of payload
//	payload JSON: {"op":"alert","seq":N,"receivers":[...],"alert":{...}}
//	          or  {"op":"ack","receiver":"slack-0","seqs":[N,...]}
//
// An alert record is appended and fsynced before Send returns; an ack
// record is appended (and fsynced) once a receiver has delivered, or given
// up on, the alerts it names. An alert is pending for a receiver until
// acknowledged by it. On open the file is read up to the first record that
// is short or fails its CRC (a write torn by a crash; everything after it
// is discarded) and then rewritten with only the pending alerts; it is
// rewritten the same way whenever it grows past compactBytes with little
// still pending, and truncated when nothing is.
const (
	outboxDir     = "alerts"
	outboxFile    = "outbox.log"
	maxRecordSize = 64 << 20
	compactBytes  = 4 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type outboxRecord struct {
	Op        string       `json:"op"`
	Seq       uint64       `json:"seq,omitempty"`
	Receivers []string     `json:"receivers,omitempty"`
	Alert     *event.Alert `json:"alert,omitempty"`
	Receiver  string       `json:"receiver,omitempty"`
	Seqs      []uint64     `json:"seqs,omitempty"`
}

// pendingAlert is an alert some receivers still have to deliver.
type pendingAlert struct {
	seq       uint64
	alert     event.Alert
	receivers []string
}

type outbox struct {
	path   string
	logger *slog.Logger

	// syncMu serialises fsyncs and compaction; it is taken before mu,
	// never while holding it.
	syncMu sync.Mutex
	synced uint64 // writes known durable; guarded by syncMu

	mu      sync.Mutex
	f       *os.File
	size    int64
	nextSeq uint64
	live    map[uint64]*pendingAlert
	closed  bool
	writes  atomic.Uint64 // records written
}

// openOutbox opens (creating) the outbox in stateDir and returns the
// alerts still pending, oldest first.
func openOutbox(stateDir string, logger *slog.Logger) (*outbox, []pendingAlert, error) {
	dir := filepath.Join(stateDir, outboxDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	o := &outbox{path: filepath.Join(dir, outboxFile), logger: logger, live: map[uint64]*pendingAlert{}, nextSeq: 1}
	if err := o.load(); err != nil {
		return nil, nil, err
	}
	if err := o.rewrite(); err != nil {
		return nil, nil, err
	}
	return o, o.pending(), nil
}

func (o *outbox) load() error {
	f, err := os.Open(o.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var off int64
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err != io.EOF {
				o.logger.Warn("alert outbox: discarding torn record", "path", o.path, "offset", off)
			}
			return nil
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		if n > maxRecordSize {
			o.logger.Warn("alert outbox: discarding the rest after a bad record length", "path", o.path, "offset", off)
			return nil
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil || crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(hdr[4:]) {
			o.logger.Warn("alert outbox: discarding the rest after a torn or corrupt record", "path", o.path, "offset", off)
			return nil
		}
		var rec outboxRecord
		if err := json.Unmarshal(payload, &rec); err != nil {
			o.logger.Warn("alert outbox: skipping an unreadable record", "path", o.path, "offset", off, "err", err)
			off += 8 + int64(n)
			continue
		}
		off += 8 + int64(n)
		o.apply(&rec)
	}
}

func (o *outbox) apply(rec *outboxRecord) {
	switch rec.Op {
	case "alert":
		if rec.Alert == nil {
			return
		}
		o.live[rec.Seq] = &pendingAlert{seq: rec.Seq, alert: *rec.Alert, receivers: rec.Receivers}
		if rec.Seq >= o.nextSeq {
			o.nextSeq = rec.Seq + 1
		}
	case "ack":
		for _, s := range rec.Seqs {
			o.ackOne(rec.Receiver, s)
		}
	}
}

func (o *outbox) ackOne(receiver string, seq uint64) {
	p := o.live[seq]
	if p == nil {
		return
	}
	p.receivers = slices.DeleteFunc(p.receivers, func(r string) bool { return r == receiver })
	if len(p.receivers) == 0 {
		delete(o.live, seq)
	}
}

func (o *outbox) pending() []pendingAlert {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]pendingAlert, 0, len(o.live))
	for _, p := range o.live {
		out = append(out, pendingAlert{seq: p.seq, alert: p.alert, receivers: slices.Clone(p.receivers)})
	}
	slices.SortFunc(out, func(a, b pendingAlert) int { return cmpUint(a.seq, b.seq) })
	return out
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func encodeRecord(rec *outboxRecord) ([]byte, error) {
	payload, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 8+len(payload))
	binary.LittleEndian.PutUint32(buf[:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[4:8], crc32.Checksum(payload, crcTable))
	copy(buf[8:], payload)
	return buf, nil
}

// rewrite replaces the file with the live alerts only. The caller holds
// no lock; rewrite takes both.
func (o *outbox) rewrite() error {
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rewriteLocked()
}

func (o *outbox) rewriteLocked() error {
	seqs := make([]uint64, 0, len(o.live))
	for s := range o.live {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	var data []byte
	for _, s := range seqs {
		p := o.live[s]
		rec, err := encodeRecord(&outboxRecord{Op: "alert", Seq: p.seq, Receivers: p.receivers, Alert: &p.alert})
		if err != nil {
			return err
		}
		data = append(data, rec...)
	}
	if err := writeFileAtomic(o.path, data); err != nil {
		return fmt.Errorf("rewrite %s: %w", o.path, err)
	}
	f, err := os.OpenFile(o.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if o.f != nil {
		o.f.Close()
	}
	o.f = f
	o.size = int64(len(data))
	o.synced = o.writes.Load()
	return nil
}

var errOutboxClosed = errors.New("alert outbox is closed")

// append writes rec and returns once it is on disk. Concurrent appends
// share fsyncs.
func (o *outbox) append(rec *outboxRecord) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return errOutboxClosed
	}
	if rec.Op == "alert" {
		rec.Seq = o.nextSeq
	}
	buf, err := encodeRecord(rec)
	if err != nil {
		o.mu.Unlock()
		return err
	}
	if _, err := o.f.Write(buf); err != nil {
		// Cut a partial write off, so that the records after it stay
		// readable.
		_ = o.f.Truncate(o.size)
		o.mu.Unlock()
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	o.size += int64(len(buf))
	if rec.Op == "alert" {
		o.nextSeq++
		o.live[rec.Seq] = &pendingAlert{seq: rec.Seq, alert: *rec.Alert, receivers: rec.Receivers}
	} else {
		for _, s := range rec.Seqs {
			o.ackOne(rec.Receiver, s)
		}
	}
	mine := o.writes.Add(1)
	o.mu.Unlock()

	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	if o.synced >= mine {
		return nil
	}
	upto := o.writes.Load()
	o.mu.Lock()
	f := o.f
	o.mu.Unlock()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", o.path, err)
	}
	o.synced = upto
	return nil
}

// add makes a durable for receivers and returns its sequence number.
func (o *outbox) add(a *event.Alert, receivers []string) (uint64, error) {
	rec := &outboxRecord{Op: "alert", Receivers: receivers, Alert: a}
	if err := o.append(rec); err != nil {
		return 0, err
	}
	return rec.Seq, nil
}

// ack records that receiver is done with seqs, and compacts the file when
// that leaves little pending.
func (o *outbox) ack(receiver string, seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	if err := o.append(&outboxRecord{Op: "ack", Receiver: receiver, Seqs: seqs}); err != nil {
		return err
	}
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	switch {
	case len(o.live) == 0 && o.size > 0:
		if err := o.f.Truncate(0); err != nil {
			return err
		}
		o.size = 0
		if err := o.f.Sync(); err != nil {
			return err
		}
		o.synced = o.writes.Load()
	case o.size > compactBytes && int64(len(o.live))*4096 < o.size:
		return o.rewriteLocked()
	}
	return nil
}

// len returns the number of alerts pending.
func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.live)
}

func (o *outbox) close() error {
	o.syncMu.Lock()
	defer o.syncMu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	err := o.f.Sync()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	return err
}
