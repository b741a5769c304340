package enrich

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// DefaultLists returns the lists vigil ships, by name. A list the
// configuration names replaces the default of that name entirely. It
// returns new slices on every call.
//
//   - sensitive_paths: HTTP paths that must never be served: the
//     application's /data/ directory, VCS metadata, environment and
//     credential files, database dumps, backups and editor leftovers, server
//     status pages (rule catalog 13 and 14).
//   - restricted_paths: staff areas that should be reachable from internal
//     networks only (rule catalog 15).
//   - admin_interfaces: well-known administration front ends that scanners
//     probe (rule catalog 15, probe tier).
//   - scanner_user_agents: user agents of attack and scanning tools (rule
//     catalog 17).
//   - static_paths: static assets, ignored when counting forced browsing
//     (rule catalog 16).
//   - default_admin_accounts: default and root-like administrator names
//     (rule catalog 10).
//   - admin_users: the site's administrators; empty until configured.
func DefaultLists() map[string][]string {
	return map[string][]string{
		"sensitive_paths": {
			"/data", "/data/*",
			"*/.git", "*/.git/*", "*/.svn/*", "*/.hg/*", "*/.bzr/*",
			"*/.env", "*/.env.*", "*/.htpasswd", "*/.htaccess", "*/.ds_store",
			"*/.aws/*", "*/.ssh/*", "*/id_rsa", "*/id_ed25519", "*/.bash_history",
			"*.sql", "*.sql.gz", "*.sql.zip", "*.sql.bz2", "*.sql.xz", "*.sqlite", "*.db",
			"*.bak", "*.old", "*.orig", "*.save", "*.swp", "*~",
			"*/backup.zip", "*/backup.tar.gz", "*/backup.tgz", "*/backup.rar", "*/backup.7z",
			"*/config.php.*", "*/wp-config.php.*", "*/configuration.php.*", "*/settings.php.*",
			"*/composer.json", "*/composer.lock", "*/package.json", "*/docker-compose.yml",
			"*/debug.log", "*/error.log", "*/error_log",
			"/server-status", "/server-status/*", "/server-info", "*/phpinfo.php",
		},
		"restricted_paths": {
			"/admin", "/admin/*", "/agent", "/agent/*",
		},
		"admin_interfaces": {
			"/phpmyadmin*", "/pma*", "/myadmin*", "/mysqladmin*", "/adminer*",
			"/admin*", "/administrator*", "/wp-admin*", "/wp-login*",
			"/manager*", "/cpanel*", "/webadmin*", "/panel*",
		},
		"scanner_user_agents": {
			"*sqlmap*", "*nikto*", "*gobuster*", "*feroxbuster*", "*fuzz faster u fool*", "*ffuf*",
			"*nmap*", "*masscan*", "*zgrab*", "*zmap*", "*nuclei*", "*wpscan*", "*whatweb*",
			"*wfuzz*", "*commix*", "*dirbuster*", "*dirb/*", "*hydra*", "*nessus*", "*openvas*",
			"*acunetix*", "*netsparker*", "*arachni*", "*skipfish*", "*w3af*", "*burpsuite*",
			"*owasp zap*", "*jaeles*", "*havij*", "*sqlninja*", "*zmeu*", "*morfeus*",
		},
		"static_paths": {
			"*.css", "*.js", "*.mjs", "*.map", "*.png", "*.jpg", "*.jpeg", "*.gif", "*.webp",
			"*.svg", "*.ico", "*.woff", "*.woff2", "*.ttf", "*.eot",
		},
		"default_admin_accounts": {
			"admin", "administrator", "root", "superadmin", "superuser", "sysadmin",
			"sa", "webadmin", "admin1", "default",
		},
		"admin_users": {},
	}
}

// Lists holds named value lists that rules consult (in_list in rule
// expressions). It is immutable after NewLists and safe for concurrent use.
//
// Matching is the same for every list: an entry matches a value that equals
// it, ignoring ASCII case; a '*' in an entry matches any run of characters,
// '/' included, so "/data/*" matches paths under /data/, "*.sql" dump files
// and "*sqlmap*" any user agent containing sqlmap. There is no escape for a
// literal '*'.
type Lists struct {
	lists map[string]*List
}

// NewLists builds the lists: the shipped DefaultLists, each replaced by the
// configured list of the same name. A configured list takes its entries
// from inline[name], from the file files[name], or from both (the union).
// A relative file path is resolved against baseDir, the config file's
// directory.
//
// A list file holds one entry per line; surrounding white space is
// trimmed, and blank lines and lines starting with '#' are ignored. List
// names are lower-case snake_case. Errors name the list, and for files the
// file and line; all are reported at once.
func NewLists(inline map[string][]string, files map[string]string, baseDir string) (*Lists, error) {
	entries := DefaultLists()
	var errs []error
	configured := slices.Collect(maps.Keys(inline))
	for name := range files {
		if _, ok := inline[name]; !ok {
			configured = append(configured, name)
		}
	}
	slices.Sort(configured)
	for _, name := range configured {
		if !validListName(name) {
			errs = append(errs, fmt.Errorf("lists.%s: list names are lower-case letters, digits and '_', starting with a letter", name))
			continue
		}
		var list []string
		for i, e := range inline[name] {
			e = strings.TrimSpace(e)
			if err := checkEntry(e); err != nil {
				errs = append(errs, fmt.Errorf("lists.%s[%d]: %w", name, i, err))
				continue
			}
			list = append(list, e)
		}
		if path, ok := files[name]; ok {
			fromFile, err := readListFile(path, baseDir)
			if err != nil {
				errs = append(errs, fmt.Errorf("list %s: %w", name, err))
			}
			list = append(list, fromFile...)
		}
		entries[name] = list
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	l := &Lists{lists: make(map[string]*List, len(entries))}
	for name, es := range entries {
		l.lists[name] = newList(name, es)
	}
	return l, nil
}

func validListName(name string) bool {
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func checkEntry(e string) error {
	switch {
	case e == "":
		return errors.New("empty entry")
	case !utf8.ValidString(e):
		return errors.New("entry is not valid UTF-8")
	case strings.ContainsFunc(e, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("entry %q contains a control character", e)
	}
	return nil
}

// maxListLine bounds one line of a list file.
const maxListLine = 64 << 10

func readListFile(path, baseDir string) ([]string, error) {
	if !filepath.IsAbs(path) && baseDir != "" {
		path = filepath.Join(baseDir, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	var errs []error
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), maxListLine)
	line := 0
	for sc.Scan() {
		line++
		e := strings.TrimSpace(sc.Text())
		if e == "" || e[0] == '#' {
			continue
		}
		if err := checkEntry(e); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", path, line, err))
			continue
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s:%d: %w", path, line+1, err))
	}
	return out, errors.Join(errs...)
}

// Has reports whether value matches an entry of the list called name. An
// unknown list has no entries.
func (l *Lists) Has(name, value string) bool {
	list, ok := l.lists[name]
	return ok && list.Match(value)
}

// List returns the list called name, for callers that resolve the name once
// (a rule compiling in_list) and match many values.
func (l *Lists) List(name string) (*List, bool) {
	list, ok := l.lists[name]
	return list, ok
}

// Names returns the names of all lists, sorted.
func (l *Lists) Names() []string {
	return slices.Sorted(maps.Keys(l.lists))
}

// List is one named list. It is immutable and safe for concurrent use.
type List struct {
	name     string
	entries  []string
	exact    map[string]struct{} // lower-case entries without '*'
	patterns []pattern
}

// pattern is a lower-cased entry split at its '*'s: at least two parts, the
// first anchored at the start of the value, the last at its end.
type pattern [][]byte

func newList(name string, entries []string) *List {
	l := &List{name: name, entries: slices.Clone(entries), exact: make(map[string]struct{})}
	for _, e := range entries {
		lower := string(appendLowerASCII(nil, e))
		if !strings.Contains(lower, "*") {
			l.exact[lower] = struct{}{}
			continue
		}
		var p pattern
		for part := range strings.SplitSeq(lower, "*") {
			p = append(p, []byte(part))
		}
		l.patterns = append(l.patterns, p)
	}
	return l
}

// Name returns the list's name.
func (l *List) Name() string { return l.name }

// Entries returns the list's entries as configured. The slice is a copy.
func (l *List) Entries() []string { return slices.Clone(l.entries) }

// Match reports whether value matches one of the entries (see Lists). It
// does not allocate for values up to 256 bytes.
func (l *List) Match(value string) bool {
	var buf [256]byte
	v := appendLowerASCII(buf[:0], value)
	if _, ok := l.exact[string(v)]; ok {
		return true
	}
	for _, p := range l.patterns {
		if p.match(v) {
			return true
		}
	}
	return false
}

// match reports whether v matches the glob p. Matching each middle part at
// its first occurrence is enough for globs whose only wildcard is '*'.
func (p pattern) match(v []byte) bool {
	first, last := p[0], p[len(p)-1]
	if len(v) < len(first)+len(last) || !bytes.HasPrefix(v, first) || !bytes.HasSuffix(v, last) {
		return false
	}
	rest := v[len(first) : len(v)-len(last)]
	for _, part := range p[1 : len(p)-1] {
		i := bytes.Index(rest, part)
		if i < 0 {
			return false
		}
		rest = rest[i+len(part):]
	}
	return true
}

// appendLowerASCII appends s to dst with ASCII letters lower-cased.
func appendLowerASCII(dst []byte, s string) []byte {
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
