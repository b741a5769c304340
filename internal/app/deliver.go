package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/store"
)

// DefaultReplayDrain bounds how long a replay waits for its alerts to be
// delivered after the last line. Slack posts about one message a second
// per channel, so a replay that raises a few hundred groups needs minutes.
const DefaultReplayDrain = 2 * time.Minute

// delivery hands a replay's alerts to a dispatcher built from a config's
// alerts block, the way the daemon does.
type delivery struct {
	disp     *alert.Dispatcher
	rec      *store.AlertWriter
	dir      string // the temporary outbox
	drain    time.Duration
	runDone  chan struct{}
	finished bool // finish ran: cleanup has nothing left to do
	logger   *slog.Logger
}

// startDelivery builds the receivers of cfg (without alerts.stdout: the
// replay's --output owns stdout) and runs a dispatcher over them whose
// outbox lives in a temporary directory, so that a replay never takes
// over the daemon's outbox. The silences `vigil silence` keeps in cfg's
// state directory apply. With sc's DSN set, alerts are also written to
// the alerts table.
func startDelivery(ctx context.Context, cfg *config.Config, sc store.Config, drain time.Duration, logger *slog.Logger) (*delivery, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir, err := os.MkdirTemp("", "vigil-replay-alerts-")
	if err != nil {
		return nil, err
	}
	d := &delivery{dir: dir, runDone: make(chan struct{}), logger: logger}
	ok := false
	defer func() {
		if !ok {
			d.cleanup()
		}
	}()
	if err := copySilences(filepath.Join(cfg.StateDir, "alerts"), dir); err != nil {
		return nil, err
	}
	receivers, err := configReceivers(cfg, dir, nil, logger)
	if err != nil {
		return nil, err
	}
	if len(receivers) == 0 {
		return nil, fmt.Errorf("%s: alerts: no Slack or webhook receiver to deliver the replay's alerts to", cfg.File)
	}
	ac, err := dispatcherConfig(cfg)
	if err != nil {
		return nil, err
	}
	ac.StateDir = dir
	if drain <= 0 {
		drain = DefaultReplayDrain
	}
	ac.DrainTimeout, d.drain = drain, drain
	if sc.DSN != "" {
		if d.rec, err = store.NewAlertWriter(sc, logger); err != nil {
			return nil, err
		}
		ac.Recorder = d.rec
	}
	if d.disp, err = alert.NewDispatcher(ac, receivers, logger); err != nil {
		return nil, err
	}
	go func() {
		defer close(d.runDone)
		// Close, not ctx, ends the run: it drains first. A cancelled
		// replay still delivers what it raised.
		d.disp.Run(context.WithoutCancel(ctx))
	}()
	ok = true
	return d, nil
}

// send is an AlertFunc: each alert is queued once it is in the outbox.
func (d *delivery) send(_ context.Context, alerts []event.Alert) error {
	for i := range alerts {
		if err := d.disp.Send(alerts[i]); err != nil {
			return fmt.Errorf("queue alert %s: %w", alerts[i].ID, err)
		}
	}
	return nil
}

// finish drains the dispatcher and reports what it delivered. Alerts it
// could not deliver stay in the outbox directory, which is kept and named
// in the error.
func (d *delivery) finish() (alert.Stats, error) {
	d.finished = true
	err := d.disp.Close()
	<-d.runDone
	st := d.disp.Stats()
	if d.rec != nil {
		err = errors.Join(err, d.rec.Close())
	}
	if st.Pending > 0 {
		return st, errors.Join(err, fmt.Errorf("%d alerts were not delivered within %s; they are kept in %s", st.Pending, d.drain, d.dir))
	}
	os.RemoveAll(d.dir)
	if st.Failed > 0 {
		err = errors.Join(err, fmt.Errorf("%d notifications were refused for good (the log says why)", st.Failed))
	}
	return st, err
}

// cleanup releases what finish would when a replay ends early: the
// dispatcher, the recorder and the outbox. After finish it does nothing.
func (d *delivery) cleanup() {
	if d.finished {
		return
	}
	if d.disp != nil {
		d.disp.Close()
		<-d.runDone
	}
	if d.rec != nil {
		d.rec.Close()
	}
	os.RemoveAll(d.dir)
}

// copySilences copies the silences file of the state directory from into
// the one at to, when there is one.
func copySilences(from, to string) error {
	b, err := os.ReadFile(alert.SilencesPath(from))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read silences: %w", err)
	}
	return os.WriteFile(alert.SilencesPath(to), b, 0o600)
}
