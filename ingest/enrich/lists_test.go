package enrich

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestListsDefaults(t *testing.T) {
	l, err := NewLists(nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		list, value string
		want        bool
	}{
		{"sensitive_paths", "/data/", true},
		{"sensitive_paths", "/data/attachments/4711.pdf", true},
		{"sensitive_paths", "/data", true},
		{"sensitive_paths", "/database", false},
		{"sensitive_paths", "/assets/data/x.png", false},
		{"sensitive_paths", "/.git/config", true},
		{"sensitive_paths", "/app/.git/HEAD", true},
		{"sensitive_paths", "/.gitignore", false},
		{"sensitive_paths", "/.env", true},
		{"sensitive_paths", "/.env.production", true},
		{"sensitive_paths", "/.environment", false},
		{"sensitive_paths", "/backup.zip", true},
		{"sensitive_paths", "/dump.SQL", true},
		{"sensitive_paths", "/include/config.php.bak", true},
		{"sensitive_paths", "/include/config.php", false},
		{"sensitive_paths", "/index.php~", true},
		{"sensitive_paths", "/server-status", true},
		{"sensitive_paths", "/tickets/view.php", false},
		{"restricted_paths", "/admin/settings", true},
		{"restricted_paths", "/administrator", false},
		{"restricted_paths", "/scp/admin", false},
		{"admin_interfaces", "/phpMyAdmin/index.php", true},
		{"admin_interfaces", "/wp-login.php", true},
		{"scanner_user_agents", "sqlmap/1.7.2#stable (https://sqlmap.org)", true},
		{"scanner_user_agents", "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000003)", true},
		{"scanner_user_agents", "Fuzz Faster U Fool v2.1.0", true},
		{"scanner_user_agents", "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)", true},
		{"scanner_user_agents", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", false},
		{"scanner_user_agents", "", false},
		{"static_paths", "/css/site.min.CSS", true},
		{"static_paths", "/scp/tickets.php", false},
		{"default_admin_accounts", "Administrator", true},
		{"default_admin_accounts", "root", true},
		{"default_admin_accounts", "rooted", false},
		{"default_admin_accounts", "jdoe", false},
		{"admin_users", "admin", false},
		{"no_such_list", "admin", false},
	}
	for _, tc := range tests {
		if got := l.Has(tc.list, tc.value); got != tc.want {
			t.Errorf("Has(%q, %q) = %v, want %v", tc.list, tc.value, got, tc.want)
		}
	}
	want := []string{"admin_interfaces", "admin_users", "default_admin_accounts", "restricted_paths", "scanner_user_agents", "sensitive_paths", "static_paths"}
	if got := l.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
}

func TestListMatch(t *testing.T) {
	tests := []struct {
		entry, value string
		want         bool
	}{
		{"admin", "admin", true},
		{"admin", "ADMIN", true},
		{"Admin", "admin", true},
		{"admin", "admin2", false},
		{"admin", " admin", false},
		{"/data/*", "/data/", true},
		{"/data/*", "/DATA/x", true},
		{"/data/*", "/data", false},
		{"*.sql", "x.sql", true},
		{"*.sql", ".sql", true},
		{"*.sql", "x.sql.gz", false},
		{"*sqlmap*", "sqlmap", true},
		{"*sqlmap*", "xSQLMAPx", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "acb", false},
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"*/.git/*", "/x/.git/HEAD", true},
		{"*", "", true},
		{"**", "anything", true},
		{"x**y", "xy", true},
		{"é*", "é-unicode", true},
		{"*ab*ab*", "abab", true},
		{"*ab*ab*", "aba", false},
	}
	for _, tc := range tests {
		l := newList("t", []string{tc.entry})
		if got := l.Match(tc.value); got != tc.want {
			t.Errorf("entry %q: Match(%q) = %v, want %v", tc.entry, tc.value, got, tc.want)
		}
	}
	long := "/data/" + strings.Repeat("x", 1000)
	if !newList("t", []string{"/data/*"}).Match(long) {
		t.Error("Match failed on a value longer than its stack buffer")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestListsConfigured(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "admins.txt"), "# site administrators\n\n  alice  \nbob\n   # indented comment\nCarol\n")
	abs := filepath.Join(t.TempDir(), "paths.txt")
	writeFile(t, abs, "/secret/*\n")
	l, err := NewLists(
		map[string][]string{
			"admin_users":     {"root-ish"},
			"sensitive_paths": {"/only-this"},
			"vpn_users":       {"eve"},
		},
		map[string]string{
			"admin_users": "admins.txt", // relative: resolved against baseDir
			"keys":        abs,
		},
		dir,
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		list, value string
		want        bool
	}{
		{"admin_users", "alice", true},
		{"admin_users", "carol", true},
		{"admin_users", "root-ish", true}, // inline and file are merged
		{"admin_users", "# site administrators", false},
		{"admin_users", "", false},
		{"sensitive_paths", "/only-this", true},
		{"sensitive_paths", "/.git/config", false}, // configured list replaces the default
		{"vpn_users", "EVE", true},
		{"keys", "/secret/x", true},
		{"scanner_user_agents", "sqlmap/1.7", true}, // untouched defaults stay
	} {
		if got := l.Has(tc.list, tc.value); got != tc.want {
			t.Errorf("Has(%q, %q) = %v, want %v", tc.list, tc.value, got, tc.want)
		}
	}
	list, ok := l.List("admin_users")
	if !ok || list.Name() != "admin_users" {
		t.Fatalf("List(admin_users) = %v, %v", list, ok)
	}
	if got, want := list.Entries(), []string{"root-ish", "alice", "bob", "Carol"}; !slices.Equal(got, want) {
		t.Errorf("Entries() = %q, want %q", got, want)
	}
	if _, ok := l.List("nope"); ok {
		t.Error("List(nope) found a list")
	}
}

func TestListsErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bad.txt"), "ok\n# comment\nbad\x01entry\nfine\n\xff\xfe\n")
	writeFile(t, filepath.Join(dir, "long.txt"), "a\n"+strings.Repeat("x", maxListLine+1)+"\n")
	tests := []struct {
		name   string
		inline map[string][]string
		files  map[string]string
		want   []string
	}{
		{"bad name", map[string][]string{"Admin-Users": {"x"}}, nil, []string{"lists.Admin-Users: list names are lower-case"}},
		{"empty inline entry", map[string][]string{"admin_users": {"a", "  "}}, nil, []string{"lists.admin_users[1]: empty entry"}},
		{"missing file", nil, map[string]string{"admin_users": "missing.txt"}, []string{"list admin_users:", filepath.Join(dir, "missing.txt")}},
		{"bad lines name file and line", nil, map[string]string{"x": "bad.txt"}, []string{
			filepath.Join(dir, "bad.txt") + `:3: entry "bad\x01entry" contains a control character`,
			filepath.Join(dir, "bad.txt") + ":5: entry is not valid UTF-8",
		}},
		{"line too long", nil, map[string]string{"x": "long.txt"}, []string{filepath.Join(dir, "long.txt") + ":2: bufio.Scanner: token too long"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewLists(tc.inline, tc.files, dir)
			if err == nil {
				t.Fatalf("NewLists succeeded, want an error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NewLists error %q lacks %q", err, w)
				}
			}
		})
	}
}

func BenchmarkListMatch(b *testing.B) {
	l, err := NewLists(nil, nil, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, list, value string }{
		{"user_exact", "default_admin_accounts", "jdoe"},
		{"path_miss", "sensitive_paths", "/scp/tickets.php"},
		{"ua_miss", "scanner_user_agents", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
	} {
		list, _ := l.List(bc.list)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if list.Match(bc.value) {
					b.Fatal("unexpected match")
				}
			}
		})
	}
}
