package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Thread timestamps are forgotten after threadTTL, or beyond maxThreads,
// oldest first.
const (
	threadTTL  = 30 * 24 * time.Hour
	maxThreads = 100_000
)

type threadRef struct {
	TS      string    `json:"ts"`
	Channel string    `json:"channel"`
	At      time.Time `json:"at"`
}

// threads maps alert ids to the ts of their first message.
type threads struct {
	path string
	mu   sync.Mutex
	m    map[string]threadRef
}

func loadThreads(path string) (*threads, error) {
	t := &threads{path: path, m: map[string]threadRef{}}
	if path == "" {
		return t, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &t.m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func (t *threads) get(id string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[id].TS
}

func (t *threads) forget(ts string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, r := range t.m {
		if r.TS == ts {
			delete(t.m, id)
		}
	}
}

// add records ts as the thread of ids and saves the map.
func (t *threads) add(ids []string, ts, channel string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	for _, id := range ids {
		t.m[id] = threadRef{TS: ts, Channel: channel, At: now}
	}
	for id, r := range t.m {
		if now.Sub(r.At) > threadTTL {
			delete(t.m, id)
		}
	}
	if len(t.m) > maxThreads {
		type kv struct {
			id string
			at time.Time
		}
		all := make([]kv, 0, len(t.m))
		for id, r := range t.m {
			all = append(all, kv{id, r.At})
		}
		slices.SortFunc(all, func(a, b kv) int { return a.at.Compare(b.at) })
		for _, e := range all[:len(all)-maxThreads] {
			delete(t.m, e.id)
		}
	}
	if t.path == "" {
		return nil
	}
	data, err := json.Marshal(t.m)
	if err != nil {
		return err
	}
	return writeFileAtomic(t.path, data)
}

func writeFileAtomic(name string, data []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
