package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
)

// LoadResult counts what Load imported.
type LoadResult struct {
	Files  int    // files read
	Events uint64 // events inserted
}

// Load imports into cfg.DSN the events of each path: an archive file
// (*.ndjson, one event a line), an archive directory, a spool segment
// (*.seg, read whole), or a spool directory (read from its cursor on, which
// Load advances after each insert, so an interrupted load resumes). The
// schema is migrated first. A malformed line stops the load with its
// file:line.
func Load(ctx context.Context, cfg Config, paths []string, logger *slog.Logger) (LoadResult, error) {
	var res LoadResult
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DSN == "" {
		return res, errors.New("store load: no clickhouse dsn")
	}
	conn, _, err := open(cfg, logger)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	if _, err := Migrate(ctx, conn, "", cfg.retentionDays()); err != nil {
		return res, err
	}
	d, err := dialectOf(ctx, conn)
	if err != nil {
		return res, err
	}
	var blk eventBlock
	insert := func(evs []event.Event) error {
		if err := insertEvents(ctx, conn, d, &blk, evs); err != nil {
			return err
		}
		res.Events += uint64(len(evs))
		return nil
	}
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return res, fmt.Errorf("store load: %w", err)
		}
		switch {
		case info.IsDir():
			segs, _ := filepath.Glob(filepath.Join(p, "*.seg"))
			if len(segs) > 0 {
				err = loadSpoolDir(p, cfg.BatchRows, insert, logger)
				res.Files += len(segs)
				break
			}
			files, _ := filepath.Glob(filepath.Join(p, archivePrefix+"*"+archiveSuffix))
			slices.Sort(files)
			if len(files) == 0 {
				return res, fmt.Errorf("store load: %s holds no spool segments or archive files", p)
			}
			for _, f := range files {
				if err = loadNDJSON(f, cfg.BatchRows, insert); err != nil {
					break
				}
				res.Files++
			}
		case strings.HasSuffix(p, ".seg"):
			err = loadSegment(p, cfg.BatchRows, insert)
			res.Files++
		default:
			err = loadNDJSON(p, cfg.BatchRows, insert)
			res.Files++
		}
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func loadNDJSON(path string, batch int, insert func([]event.Event) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store load: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var evs []event.Event
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(strings.TrimSpace(string(b))) > 0 {
			var e event.Event
			if jerr := json.Unmarshal(b, &e); jerr != nil {
				return fmt.Errorf("%s:%d: %w", path, line, jerr)
			}
			evs = append(evs, e)
			if len(evs) >= batch {
				if err := insert(evs); err != nil {
					return fmt.Errorf("%s:%d: %w", path, line, err)
				}
				evs = evs[:0]
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("store load: %w", err)
		}
	}
	if len(evs) > 0 {
		if err := insert(evs); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

func loadSegment(path string, batch int, insert func([]event.Event) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store load: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store load: %w", err)
	}
	var evs []event.Event
	var off int64
	for {
		p, next, err := readRecord(f, off, info.Size())
		if err != nil {
			return fmt.Errorf("%s: offset %d: %w", path, off, err)
		}
		if p == nil {
			break
		}
		if evs, err = decodeBatch(evs, p); err != nil {
			return fmt.Errorf("%s: offset %d: %w", path, off, err)
		}
		off = next
		if len(evs) >= batch {
			if err := insert(evs); err != nil {
				return err
			}
			evs = evs[:0]
		}
	}
	if len(evs) > 0 {
		return insert(evs)
	}
	return nil
}

func loadSpoolDir(dir string, batch int, insert func([]event.Event) error, logger *slog.Logger) error {
	sp, err := openSpool(dir, 1<<62, logger)
	if err != nil {
		return err
	}
	defer sp.close()
	r := &reader{s: sp, pos: sp.acked()}
	defer r.close()
	var evs []event.Event
	var end position
	flush := func() error {
		if len(evs) == 0 {
			return nil
		}
		if err := insert(evs); err != nil {
			return err
		}
		evs = evs[:0]
		return sp.ack(end)
	}
	for {
		p, e, err := r.next()
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		if p == nil {
			break
		}
		if evs, err = decodeBatch(evs, p); err != nil {
			return fmt.Errorf("%s: segment %d offset %d: %w", dir, e.seq, e.off, err)
		}
		end = e
		if len(evs) >= batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
