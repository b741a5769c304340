package enrich

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	geoip2 "github.com/oschwald/geoip2-golang/v2"

	"github.com/vigil-sec/vigil/internal/event"
)

// GeoConfig configures Geo, the geo-IP enricher.
//
// City and ASN are paths to MaxMind DB (.mmdb) files: a City database
// (GeoLite2-City, GeoIP2-City, or a Country or compatible DB-IP database)
// and an ASN database (GeoLite2-ASN or GeoIP2-ISP). Either may be empty to
// go without that half. When both are empty, Geo looks for the files in the
// places DefaultGeoPaths lists and uses the first of each it finds.
type GeoConfig struct {
	City string `yaml:"city"`
	ASN  string `yaml:"asn"`
	// CheckInterval is how often Run checks, besides watching the
	// directories, whether a database file was replaced: the fallback for
	// file systems without change notification and for directories swapped
	// through a symlink. Zero means one minute; a negative value turns the
	// periodic check off.
	CheckInterval time.Duration `yaml:"check_interval"`
	// InMemory reads each database into memory instead of mapping the file.
	// It costs the file's size in memory (about 60 MB for GeoLite2-City) but
	// makes vigil immune to a database rewritten in place (cp over the live
	// file), which crashes a process that maps it with SIGBUS. Tools that
	// replace the file by rename, as geoipupdate does, are safe either way.
	InMemory bool `yaml:"in_memory"`
}

// DefaultGeoPaths returns where Geo looks for databases when GeoConfig
// names none, in order of preference: the commercial GeoIP2 files before the
// free GeoLite2 ones, each in the directories geoipupdate and distribution
// packages use (/usr/share/GeoIP, /var/lib/GeoIP, /usr/local/share/GeoIP,
// /usr/local/var/GeoIP).
func DefaultGeoPaths() (city, asn []string) {
	dirs := []string{"/usr/share/GeoIP", "/var/lib/GeoIP", "/usr/local/share/GeoIP", "/usr/local/var/GeoIP"}
	for _, name := range []string{"GeoIP2-City.mmdb", "GeoLite2-City.mmdb"} {
		for _, d := range dirs {
			city = append(city, filepath.Join(d, name))
		}
	}
	for _, name := range []string{"GeoIP2-ISP.mmdb", "GeoLite2-ASN.mmdb"} {
		for _, d := range dirs {
			asn = append(asn, filepath.Join(d, name))
		}
	}
	return city, asn
}

// defaultCheckInterval is the period of Run's fallback check.
const defaultCheckInterval = time.Minute

// watchDebounce is how long Run waits after the last change notification
// before it checks the files, so that a file written in several steps is
// opened once, complete.
const watchDebounce = 250 * time.Millisecond

// Geo fills the geo-IP fields of events from MaxMind databases: from the
// City database GeoCountry (ISO 3166-1 code), GeoCity (English name),
// GeoLat, GeoLon and GeoAccuracyKm; from the ASN database ASN and ASOrg. It
// sets only the fields the database has data for.
//
// Geo skips addresses that no geo database can place: private (RFC 1918,
// IPv6 unique local fc00::/7), loopback, link-local, multicast,
// unspecified and carrier-grade NAT (100.64.0.0/10). It does look up
// documentation and other reserved ranges (192.0.2.0/24, 2001:db8::/32, ...):
// a real database has no data for them, so the lookup is harmless, and
// tests can use them with a database built for the purpose.
//
// A Geo with no database (none configured, none found) is disabled: Enrich
// does nothing, and NewGeo has said so in an Info log.
//
// Geo is safe for concurrent use. Run reopens a database file that was
// replaced on disk; lookups in flight finish on the old reader, which is
// closed only after they have.
type Geo struct {
	logger   *slog.Logger
	interval time.Duration
	inMemory bool

	// reloadMu serialises reopening and Close, so that reopening can take
	// its time without holding mu.
	reloadMu sync.Mutex
	closed   bool // written under reloadMu and mu
	// mu guards the readers in city and asn: Enrich holds it for reading
	// across its lookups, a swap holds it for writing. A replaced reader is
	// closed after the swap has released mu, when no lookup can still be
	// using it.
	mu   sync.RWMutex
	city *geoDB // nil when there is no City database
	asn  *geoDB // nil when there is no ASN database
}

// geoDB is one database file and the reader open on it.
type geoDB struct {
	kind string // "city" or "asn", for logs and errors
	path string
	r    *geoip2.Reader // guarded by Geo.mu; nil after Close
	info os.FileInfo    // identity of the file r was opened from; guarded by Geo.reloadMu
	// failed is the identity of a file version that could not be opened;
	// it is not retried until the file changes again. missing records that
	// the file could not be stat'ed, so that this is reported once. Both are
	// guarded by Geo.reloadMu.
	failed  os.FileInfo
	missing bool
}

// NewGeo opens the configured databases, or when cfg names none, those it
// finds at DefaultGeoPaths. A configured file that cannot be opened, or is
// not a database of the right type, is an error; a file found by searching
// that cannot be opened is logged at Warn and skipped. A nil logger
// discards logs. The caller runs Run to pick up replaced files and calls
// Close when done.
func NewGeo(cfg GeoConfig, logger *slog.Logger) (*Geo, error) {
	city, asn := DefaultGeoPaths()
	return newGeo(cfg, logger, city, asn)
}

// newGeo is NewGeo with the search paths as parameters, for tests.
func newGeo(cfg GeoConfig, logger *slog.Logger, cityPaths, asnPaths []string) (*Geo, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Geo{
		logger:   logger.With("component", "geoip"),
		interval: cfg.CheckInterval,
		inMemory: cfg.InMemory,
	}
	if g.interval == 0 {
		g.interval = defaultCheckInterval
	}
	if cfg.City != "" || cfg.ASN != "" {
		var err error
		if g.city, err = g.openConfigured("city", cfg.City); err != nil {
			return nil, err
		}
		if g.asn, err = g.openConfigured("asn", cfg.ASN); err != nil {
			g.closeAll()
			return nil, err
		}
		return g, nil
	}
	g.city = g.search("city", cityPaths)
	g.asn = g.search("asn", asnPaths)
	if g.city == nil && g.asn == nil {
		g.logger.Info("geoip disabled, no database found", "searched", slices.Concat(cityPaths, asnPaths))
	}
	return g, nil
}

func (g *Geo) openConfigured(kind, path string) (*geoDB, error) {
	if path == "" {
		return nil, nil
	}
	db := &geoDB{kind: kind, path: path}
	r, info, err := g.open(db)
	if err != nil {
		return nil, fmt.Errorf("open geoip %s database: %w", kind, err)
	}
	db.r, db.info = r, info
	g.logOpened(db, "geoip database opened")
	return db, nil
}

func (g *Geo) search(kind string, paths []string) *geoDB {
	for _, path := range paths {
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		db := &geoDB{kind: kind, path: path}
		r, info, err := g.open(db)
		if err != nil {
			g.logger.Warn("geoip database found but unusable, skipped", "path", path, "err", err)
			continue
		}
		db.r, db.info = r, info
		g.logOpened(db, "geoip database opened")
		return db
	}
	return nil
}

func (g *Geo) logOpened(db *geoDB, msg string) {
	md := db.r.Metadata()
	g.logger.Info(msg, "path", db.path, "type", md.DatabaseType, "built", md.BuildTime().UTC())
}

// open opens db.path and checks that it is a database of db.kind. It
// returns the identity of the file as stat saw it before opening: if the
// file is replaced in between, the next check sees a change and opens it
// again, which is harmless.
func (g *Geo) open(db *geoDB) (*geoip2.Reader, os.FileInfo, error) {
	info, err := os.Stat(db.path)
	if err != nil {
		return nil, nil, err
	}
	var r *geoip2.Reader
	if g.inMemory {
		var b []byte
		if b, err = os.ReadFile(db.path); err == nil {
			r, err = geoip2.OpenBytes(b)
		}
	} else {
		r, err = geoip2.Open(db.path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", db.path, err)
	}
	// A lookup of any address tells whether the database type supports the
	// method: geoip2 answers InvalidMethodError before it looks anything up.
	probe := netip.IPv6Unspecified()
	switch db.kind {
	case "city":
		_, err = r.City(probe)
	case "asn":
		_, err = r.ASN(probe)
	}
	var invalid geoip2.InvalidMethodError
	if errors.As(err, &invalid) {
		_ = r.Close()
		return nil, nil, fmt.Errorf("%s: a %s database cannot answer %s lookups", db.path, invalid.DatabaseType, db.kind)
	}
	return r, info, nil
}

// Enabled reports whether Geo has at least one database.
func (g *Geo) Enabled() bool {
	return g.city != nil || g.asn != nil
}

// Enrich looks up ev.SrcIP (see Geo). It never blocks on I/O: the
// databases are in memory or mapped. An error means a database is corrupt
// at the place the address leads to; the fields it could fill are set.
func (g *Geo) Enrich(_ context.Context, ev *event.Event) error {
	a := ev.SrcIP.Unmap().WithZone("")
	if g.city == nil && g.asn == nil || skipGeo(a) {
		return nil
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	var errs []error
	if g.city != nil && g.city.r != nil {
		rec, err := g.city.r.City(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("geoip city lookup %s: %w", a, err))
		} else {
			setCity(ev, rec)
		}
	}
	if g.asn != nil && g.asn.r != nil {
		rec, err := g.asn.r.ASN(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("geoip asn lookup %s: %w", a, err))
		} else if rec.AutonomousSystemNumber != 0 && rec.AutonomousSystemNumber <= math.MaxUint32 {
			ev.ASN = uint32(rec.AutonomousSystemNumber)
			ev.ASOrg = rec.AutonomousSystemOrganization
		}
	}
	return errors.Join(errs...)
}

func setCity(ev *event.Event, rec *geoip2.City) {
	if rec.Country.ISOCode != "" {
		ev.GeoCountry = rec.Country.ISOCode
	}
	if rec.City.Names.English != "" {
		ev.GeoCity = rec.City.Names.English
	}
	if loc := rec.Location; loc.HasCoordinates() {
		ev.GeoLat, ev.GeoLon = *loc.Latitude, *loc.Longitude
		ev.GeoAccuracyKm = loc.AccuracyRadius
	}
}

// skipGeo reports whether a is an address no geo database can place.
func skipGeo(a netip.Addr) bool {
	if !a.IsValid() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() ||
		a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	if a.Is4() {
		b := a.As4()
		return b[0] == 100 && b[1]&0xc0 == 64 // 100.64.0.0/10, RFC 6598
	}
	return false
}

// Run watches the database files and reopens one that was replaced: it
// watches their directories for changes (a rename over the file, as
// geoipupdate does) and also checks every CheckInterval. A file that cannot
// be opened is logged at Warn and the old reader stays in use; that
// version of the file is not retried. Run blocks until ctx is cancelled and
// returns nil then; for a disabled Geo it returns nil at once. Start Run
// at most once.
func (g *Geo) Run(ctx context.Context) error {
	if !g.Enabled() {
		return nil
	}
	var events <-chan fsnotify.Event
	var watchErrs <-chan error
	if w, err := fsnotify.NewWatcher(); err != nil {
		g.logger.Warn("geoip file watch unavailable, checking periodically only", "err", err)
	} else {
		defer w.Close()
		for _, dir := range g.dirs() {
			if err := w.Add(dir); err != nil {
				g.logger.Warn("geoip file watch unavailable, checking periodically only", "path", dir, "err", err)
			}
		}
		events, watchErrs = w.Events, w.Errors
	}
	// A file replaced between NewGeo and the watch above sent no event
	// we could see: look once now that the watch is in place.
	g.check()
	var tick <-chan time.Time
	if g.interval > 0 {
		t := time.NewTicker(g.interval)
		defer t.Stop()
		tick = t.C
	}
	debounce := time.NewTimer(watchDebounce)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-events:
			if !ok {
				events = nil // the watcher died; the periodic check remains
				continue
			}
			// Any change in the directory may be ours (a temporary file
			// renamed over it, a symlink swapped): check after it settles.
			debounce.Reset(watchDebounce)
		case err, ok := <-watchErrs:
			if !ok {
				watchErrs = nil
				continue
			}
			// An overflow may have dropped our event: check now.
			g.logger.Warn("geoip file watch error, checking the files", "err", err)
			g.check()
		case <-debounce.C:
			g.check()
		case <-tick:
			g.check()
		}
	}
}

func (g *Geo) dirs() []string {
	var dirs []string
	for _, db := range []*geoDB{g.city, g.asn} {
		if db != nil {
			dirs = append(dirs, filepath.Dir(db.path))
		}
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// check reopens changed databases and logs the outcome.
func (g *Geo) check() {
	for _, db := range []*geoDB{g.city, g.asn} {
		if db == nil {
			continue
		}
		if err := g.reopenIfChanged(db); err != nil {
			g.logger.Warn("geoip database reload failed, keeping the old one", "path", db.path, "err", err)
		}
	}
}

// Reload reopens every database file that changed since it was opened,
// as Run does when it notices a change; a SIGHUP handler may call it. A file
// that cannot be opened leaves the old reader in use, and its error is
// returned; that version of the file is not retried. Reload after Close
// does nothing.
func (g *Geo) Reload() error {
	var errs []error
	for _, db := range []*geoDB{g.city, g.asn} {
		if db == nil {
			continue
		}
		if err := g.reopenIfChanged(db); err != nil {
			errs = append(errs, fmt.Errorf("reload geoip %s database: %w", db.kind, err))
		}
	}
	return errors.Join(errs...)
}

// reopenIfChanged opens db.path again when the file is no longer the one
// the reader was opened from (another inode, size or modification time),
// swaps the new reader in and logs that at Info.
func (g *Geo) reopenIfChanged(db *geoDB) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	if g.closed {
		return nil
	}
	fi, err := os.Stat(db.path)
	if err != nil {
		// Deleted or unreadable: keep serving the open reader, which stays
		// valid (the mapping of a removed file lives on). Report it once.
		if db.missing {
			return nil
		}
		db.missing = true
		return err
	}
	db.missing = false
	if sameVersion(fi, db.info) || sameVersion(fi, db.failed) {
		return nil
	}
	r, info, err := g.open(db)
	if err != nil {
		db.failed = fi
		return err
	}
	db.failed = nil
	g.mu.Lock()
	old := db.r
	db.r = r
	g.mu.Unlock()
	db.info = info
	// Lookups hold mu for reading while they use a reader, and the swap
	// held it for writing, so no lookup is still using old.
	if err := old.Close(); err != nil {
		g.logger.Warn("close replaced geoip database", "path", db.path, "err", err)
	}
	g.logOpened(db, "geoip database reloaded")
	return nil
}

// sameVersion reports whether a and b describe the same version of a file:
// the same inode, size and modification time.
func sameVersion(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return false
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// Close closes the databases. Enrich calls after Close do nothing, and so
// do Run's checks and Reload. Close waits for lookups in flight.
func (g *Geo) Close() error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	return g.closeAll()
}

func (g *Geo) closeAll() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	var errs []error
	for _, db := range []*geoDB{g.city, g.asn} {
		if db != nil && db.r != nil {
			errs = append(errs, db.r.Close())
			db.r = nil
		}
	}
	return errors.Join(errs...)
}
