package app

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/vigil-sec/vigil/internal/config"
)

// watchSettle is how long the rule files must stay unchanged before a
// reload: an editor's save (write to a temporary, rename) or a deployment
// copying a directory of rules becomes one reload.
const watchSettle = 500 * time.Millisecond

// ruleFiles is what the rules watch: whole directories, and single files
// by their directory (an editor or a config manager replaces a file by
// renaming another over it, which a watch on the file itself would miss).
type ruleFiles struct {
	dirs  map[string]bool            // rule directories: any *.yml, *.yaml
	files map[string]map[string]bool // directory → names of rule and list files
}

// watchedFiles lists the rule paths and list files of cfg.
func watchedFiles(cfg *config.Config) ruleFiles {
	w := ruleFiles{dirs: map[string]bool{}, files: map[string]map[string]bool{}}
	addFile := func(p string) {
		dir, name := filepath.Split(filepath.Clean(p))
		dir = filepath.Clean(dir)
		if w.files[dir] == nil {
			w.files[dir] = map[string]bool{}
		}
		w.files[dir][name] = true
	}
	for _, p := range cfg.Rules.Paths {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			w.dirs[filepath.Clean(p)] = true
		} else {
			addFile(p)
		}
	}
	for _, p := range cfg.ListFiles {
		addFile(p)
	}
	return w
}

// relevant reports whether a change to path may change the rules.
func (w ruleFiles) relevant(path string) bool {
	dir, name := filepath.Split(path)
	dir = filepath.Clean(dir)
	if w.dirs[dir] && (strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".yaml")) {
		return true
	}
	return w.files[dir][name]
}

// watchDirs are the directories to watch, sorted.
func (w ruleFiles) watchDirs() []string {
	var out []string
	for d := range w.dirs {
		out = append(out, d)
	}
	for d := range w.files {
		if !w.dirs[d] {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// watchRules asks for a reload on trigger once the rule and list files of
// the current config have changed and then stayed unchanged for
// watchSettle. On rearm, after a reload, it watches the files of the
// config then running (current), so that a reload that adds a rule
// directory watches it too. It returns when ctx ends; without inotify it
// logs why and returns, leaving SIGHUP.
func watchRules(ctx context.Context, current func() *config.Config, trigger func(), rearm <-chan struct{}, logger *slog.Logger) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		logger.Warn("cannot watch rule files; reload them with SIGHUP", "err", err)
		return
	}
	defer w.Close()

	var files ruleFiles
	watching := map[string]bool{}
	arm := func() {
		files = watchedFiles(current())
		want := map[string]bool{}
		for _, d := range files.watchDirs() {
			want[d] = true
			if watching[d] {
				continue
			}
			if err := w.Add(d); err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					logger.Warn("cannot watch rule files; reload them with SIGHUP", "dir", d, "err", err)
				}
				continue
			}
			watching[d] = true
		}
		for d := range watching {
			if !want[d] {
				w.Remove(d)
				delete(watching, d)
			}
		}
	}
	arm()

	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod || !files.relevant(ev.Name) {
				continue
			}
			logger.Debug("rule file changed", "path", ev.Name, "op", ev.Op.String())
			settle.Reset(watchSettle)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			// An overflow loses events: reload to be sure.
			logger.Warn("rule file watch", "err", err)
			settle.Reset(watchSettle)
		case <-settle.C:
			logger.Info("rule files changed; reloading")
			trigger()
		case <-rearm:
			arm()
		}
	}
}
