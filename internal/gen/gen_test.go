package gen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func generate(t *testing.T, opts Options) (string, Truth) {
	t.Helper()
	if opts.Out == "" {
		opts.Out = t.TempDir()
	}
	truth, err := Generate(opts)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", opts, err)
	}
	return opts.Out, truth
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		return nil
	}
	if data[len(data)-1] != '\n' {
		t.Fatalf("%s does not end in a newline", path)
	}
	return strings.Split(string(data[:len(data)-1]), "\n")
}

func TestScenarios(t *testing.T) {
	want := map[string]struct {
		files   []string
		attacks []string
	}{
		"mixed": {
			files: []string{FileAuth, FileAccess, FileAudit},
			attacks: []string{
				AttackSSHBruteforceFast, AttackSSHBruteforceSlow, AttackSSHPasswordSpray, AttackSSHCredentialStuffing,
				AttackSSHSuccessAfterFailures, AttackWebScan, AttackWebSensitiveServed,
				AttackHelpdeskLoginBurst, AttackHelpdeskExternalReply, AttackHelpdeskAdminNoMFA,
			},
		},
		"bruteforce": {
			files: []string{FileAuth},
			attacks: []string{
				AttackSSHBruteforceFast, AttackSSHBruteforceSlow, AttackSSHPasswordSpray, AttackSSHCredentialStuffing,
				AttackSSHSuccessAfterFailures,
			},
		},
		"web":      {files: []string{FileAccess}, attacks: []string{AttackWebScan, AttackWebSensitiveServed}},
		"helpdesk": {files: []string{FileAudit}, attacks: []string{AttackHelpdeskLoginBurst, AttackHelpdeskExternalReply, AttackHelpdeskAdminNoMFA}},
		"benign":   {files: []string{FileAuth, FileAccess, FileAudit}},
	}
	if got := Scenarios(); len(got) != len(want) || got[0] != DefaultScenario {
		t.Errorf("Scenarios() = %v", got)
	}
	for _, name := range Scenarios() {
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("scenario %q has no expectations in this test", name)
			}
			dir, truth := generate(t, Options{Scenario: name, Lines: 20000, Seed: 3})
			if truth.Scenario != name || truth.Seed != 3 || truth.Lines != 20000 {
				t.Errorf("truth header = %q %d %d", truth.Scenario, truth.Seed, truth.Lines)
			}
			if !slices.Equal(truth.Files, w.files) {
				t.Errorf("Files = %v, want %v", truth.Files, w.files)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var onDisk []string
			for _, e := range entries {
				onDisk = append(onDisk, e.Name())
			}
			wantDisk := append(slices.Clone(w.files), FileTruth)
			slices.Sort(wantDisk)
			if !slices.Equal(onDisk, wantDisk) {
				t.Errorf("files on disk = %v, want %v", onDisk, wantDisk)
			}
			var kinds []string
			for _, a := range truth.Attackers {
				if !slices.Contains(kinds, a.Attack) {
					kinds = append(kinds, a.Attack)
				}
			}
			slices.Sort(kinds)
			wantKinds := slices.Clone(w.attacks)
			slices.Sort(wantKinds)
			if !slices.Equal(kinds, wantKinds) {
				t.Errorf("attack kinds = %v, want %v", kinds, wantKinds)
			}
			total := 0
			for _, f := range truth.Files {
				n := len(readLines(t, filepath.Join(dir, f)))
				if truth.Counts.Lines[f] != n {
					t.Errorf("counts.lines[%s] = %d, file has %d", f, truth.Counts.Lines[f], n)
				}
				if a := truth.Counts.AttackLines[f]; a >= n || (len(w.attacks) > 0) != (a > 0) {
					t.Errorf("counts.attack_lines[%s] = %d of %d", f, a, n)
				}
				total += n
			}
			if total < 19400 || total > 20600 {
				t.Errorf("%d lines in all, want about 20000", total)
			}
			read, err := LoadTruth(filepath.Join(dir, FileTruth))
			if err != nil {
				t.Fatal(err)
			}
			a, _ := json.Marshal(read)
			b, _ := json.Marshal(truth)
			if !bytes.Equal(a, b) {
				t.Errorf("LoadTruth differs from the returned truth")
			}
		})
	}
}

func TestLineCounts(t *testing.T) {
	sizes := []int{3000, 50000, 200000}
	if testing.Short() {
		sizes = sizes[:2]
	}
	for _, n := range sizes {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			dir, truth := generate(t, Options{Lines: n, Seed: 11})
			total := 0
			for _, f := range truth.Files {
				total += len(readLines(t, filepath.Join(dir, f)))
			}
			if d := total - n; d < -n/50 || d > n/50 {
				t.Errorf("%d lines for Lines=%d", total, n)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	start := time.Date(2025, time.December, 31, 20, 0, 0, 0, time.UTC) // crosses the new year
	read := func(dir string) map[string][]byte {
		m := map[string][]byte{}
		for _, f := range []string{FileAuth, FileAccess, FileAudit, FileTruth} {
			data, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			m[f] = data
		}
		return m
	}
	a, _ := generate(t, Options{Lines: 30000, Seed: 7, Start: start})
	b, _ := generate(t, Options{Lines: 30000, Seed: 7, Start: start})
	c, _ := generate(t, Options{Lines: 30000, Seed: 8, Start: start})
	fa, fb, fc := read(a), read(b), read(c)
	for name := range fa {
		if !bytes.Equal(fa[name], fb[name]) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
		if bytes.Equal(fa[name], fc[name]) {
			t.Errorf("%s is the same for seeds 7 and 8", name)
		}
	}
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"unknown scenario", Options{Scenario: "ddos", Out: t.TempDir()}, `unknown scenario "ddos"`},
		{"negative lines", Options{Lines: -1, Out: t.TempDir()}, "out of range"},
		{"too many lines", Options{Lines: MaxLines + 1, Out: t.TempDir()}, "out of range"},
		{"no out", Options{}, "no output directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Generate(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Generate(%+v) = %v, want error containing %q", tc.opts, err, tc.wantErr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	dir, truth := generate(t, Options{})
	if truth.Scenario != DefaultScenario || truth.Lines != DefaultLines || !truth.Start.Equal(DefaultStart) || !truth.End.Equal(DefaultStart.Add(Span)) {
		t.Errorf("defaults: %q %d %v %v", truth.Scenario, truth.Lines, truth.Start, truth.End)
	}
	if len(truth.Attackers) == 0 || len(truth.CompromisedUsers) == 0 || len(truth.BenignIPs) == 0 {
		t.Errorf("empty truth: %+v", truth)
	}
	if _, err := os.Stat(filepath.Join(dir, FileTruth)); err != nil {
		t.Error(err)
	}
}

// The line shapes of rule catalog section 5, checked with plain patterns
// (the real parsers are tested in TestParsersAccept when they exist).
var (
	authRE    = regexp.MustCompile(`^([A-Z][a-z]{2} [ 1-3]\d \d\d:\d\d:\d\d) ` + Host + ` sshd\[(\d+)\]: (.+)$`)
	accessRE  = regexp.MustCompile(`^(\S+) - - \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000)\] "([A-Z]+) (/\S*) (HTTP/1\.1|HTTP/2\.0)" (\d{3}) (\d+) "([^"]*)" "([^"]+)"$`)
	auditTSRE = regexp.MustCompile(`^\{"ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",`)
	sshMsgRE  = []*regexp.Regexp{
		regexp.MustCompile(`^Invalid user \S+ from \S+ port \d+$`),
		regexp.MustCompile(`^Failed password for (invalid user )?\S+ from \S+ port \d+ ssh2$`),
		regexp.MustCompile(`^message repeated \d+ times: \[ Failed password for \S+ from \S+ port \d+ ssh2\]$`),
		regexp.MustCompile(`^Accepted (password|publickey) for \S+ from \S+ port \d+ ssh2(: (ED25519|RSA) SHA256:[A-Za-z0-9+/]{43})?$`),
		regexp.MustCompile(`^pam_unix\(sshd:auth\): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=\S+(  user=\S+)?$`),
		regexp.MustCompile(`^pam_unix\(sshd:auth\): check pass; user unknown$`),
		regexp.MustCompile(`^pam_unix\(sshd:session\): session (opened for user \S+\(uid=\d+\) by \(uid=0\)|closed for user \S+)$`),
		regexp.MustCompile(`^Connection closed by (invalid|authenticating) user \S+ \S+ port \d+ \[preauth\]$`),
		regexp.MustCompile(`^Received disconnect from \S+ port \d+:11: (Bye Bye \[preauth\]|disconnected by user)$`),
		regexp.MustCompile(`^Disconnected from ((invalid|authenticating) user \S+ \S+ port \d+ \[preauth\]|user \S+ \S+ port \d+)$`),
		regexp.MustCompile(`^error: maximum authentication attempts exceeded for \S+ from \S+ port \d+ ssh2 \[preauth\]$`),
		regexp.MustCompile(`^Disconnecting authenticating user \S+ \S+ port \d+: Too many authentication failures \[preauth\]$`),
		regexp.MustCompile(`^PAM \d more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=\S+  user=\S+$`),
		regexp.MustCompile(`^PAM service\(sshd\) ignoring max retries; \d > 3$`),
	}
	// Keys of each audit event, in order (rule catalog 5.4).
	auditKeys = map[string][]string{
		"login_success": {"ts", "app", "event", "user", "role", "src_ip", "session", "ua", "auth", "mfa", "remember_me"},
		"login_failure": {"ts", "app", "event", "user", "role", "src_ip", "ua", "reason", "attempt"},
		"ticket_reply":  {"ts", "app", "event", "user", "role", "src_ip", "session", "ticket_id", "channel"},
		"admin_action":  {"ts", "app", "event", "user", "role", "src_ip", "session", "op", "target", "old", "new"},
		"session_start": {"ts", "app", "event", "user", "role", "src_ip", "session", "remember_me", "idle_timeout_s", "absolute_timeout_s"},
		"session_end":   {"ts", "app", "event", "user", "role", "src_ip", "session", "reason", "duration_s"},
	}
)

// An activity is what the tests need from a line of any of the files.
type activity struct {
	ts      time.Time
	file    string
	ip      netip.Addr
	user    string
	failed  int  // login failures the line stands for, counted as vigil does
	success bool // a successful login
	// web
	method, path, ua string
	status           int
	// audit
	event, role, mfa, session string
}

// load reads the three files of dir, checks every line's shape, and returns
// the lines as activities in file order.
func load(t *testing.T, dir string, truth Truth) map[string][]activity {
	t.Helper()
	out := map[string][]activity{}
	year := truth.Start.Year()
	if slices.Contains(truth.Files, FileAuth) {
		invalidPid := map[string]bool{}
		var prev time.Time
		for i, ln := range readLines(t, filepath.Join(dir, FileAuth)) {
			m := authRE.FindStringSubmatch(ln)
			if m == nil {
				t.Fatalf("auth.log:%d: bad line %q", i+1, ln)
			}
			ts, err := time.Parse("Jan _2 15:04:05", m[1])
			if err != nil {
				t.Fatalf("auth.log:%d: %v", i+1, err)
			}
			ts = ts.AddDate(year, 0, 0)
			if ts.Before(prev) && prev.Month() == time.December && ts.Month() == time.January {
				year++
				ts = ts.AddDate(1, 0, 0)
			}
			prev = ts
			pid, msg := m[2], m[3]
			if !slices.ContainsFunc(sshMsgRE, func(re *regexp.Regexp) bool { return re.MatchString(msg) }) {
				t.Fatalf("auth.log:%d: unknown sshd message %q", i+1, msg)
			}
			a := activity{ts: ts, file: FileAuth}
			f := strings.Fields(msg)
			switch {
			case strings.HasPrefix(msg, "Invalid user "):
				a.user, a.failed = f[2], 1
				invalidPid[pid] = true
			case strings.HasPrefix(msg, "Failed password for invalid user ") && invalidPid[pid]:
				a.user = f[5] // same attempt as the Invalid user line
			case strings.HasPrefix(msg, "Failed password for "):
				a.user, a.failed = f[3], 1
			case strings.HasPrefix(msg, "message repeated "):
				a.user = f[8]
				a.failed, _ = strconv.Atoi(f[2])
			case strings.HasPrefix(msg, "Accepted "):
				a.user, a.success = f[3], true
			}
			if i := slices.Index(f, "port"); i > 0 {
				a.ip = netip.MustParseAddr(f[i-1])
			} else if strings.Contains(msg, "rhost=") {
				a.ip = netip.MustParseAddr(strings.TrimPrefix(f[slices.IndexFunc(f, func(s string) bool { return strings.HasPrefix(s, "rhost=") })], "rhost="))
			}
			out[FileAuth] = append(out[FileAuth], a)
		}
	}
	if slices.Contains(truth.Files, FileAccess) {
		for i, ln := range readLines(t, filepath.Join(dir, FileAccess)) {
			m := accessRE.FindStringSubmatch(ln)
			if m == nil {
				t.Fatalf("access.log:%d: bad line %q", i+1, ln)
			}
			ts, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[2])
			if err != nil {
				t.Fatalf("access.log:%d: %v", i+1, err)
			}
			status, _ := strconv.Atoi(m[6])
			out[FileAccess] = append(out[FileAccess], activity{
				ts: ts, file: FileAccess, ip: netip.MustParseAddr(m[1]),
				method: m[3], path: m[4], status: status, ua: m[9],
			})
		}
	}
	if slices.Contains(truth.Files, FileAudit) {
		for i, ln := range readLines(t, filepath.Join(dir, FileAudit)) {
			var rec struct {
				TS      time.Time `json:"ts"`
				App     string    `json:"app"`
				Event   string    `json:"event"`
				User    string    `json:"user"`
				Role    string    `json:"role"`
				SrcIP   string    `json:"src_ip"`
				MFA     string    `json:"mfa"`
				Session string    `json:"session"`
			}
			if err := json.Unmarshal([]byte(ln), &rec); err != nil {
				t.Fatalf("helpdesk.json:%d: %v in %q", i+1, err, ln)
			}
			if keys := jsonKeys(t, ln); !slices.Equal(keys, auditKeys[rec.Event]) {
				t.Fatalf("helpdesk.json:%d: keys %v, want %v", i+1, keys, auditKeys[rec.Event])
			}
			if rec.App != "helpdesk" || !auditTSRE.MatchString(ln) {
				t.Fatalf("helpdesk.json:%d: bad app or ts in %q", i+1, ln)
			}
			a := activity{
				ts: rec.TS, file: FileAudit, ip: netip.MustParseAddr(rec.SrcIP), user: rec.User,
				event: rec.Event, role: rec.Role, mfa: rec.MFA, session: rec.Session,
			}
			switch rec.Event {
			case "login_failure":
				a.failed = 1
			case "login_success":
				a.success = true
			}
			out[FileAudit] = append(out[FileAudit], a)
		}
	}
	return out
}

func jsonKeys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	var keys []string
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestOrderAndMtime(t *testing.T) {
	// Starting late on New Year's Eve puts RFC 3164 stamps across a year
	// boundary: the mtime must carry the year of the last line.
	for _, start := range []time.Time{{}, time.Date(2025, time.December, 31, 19, 0, 0, 0, time.UTC)} {
		dir, truth := generate(t, Options{Lines: 20000, Seed: 5, Start: start})
		acts := load(t, dir, truth)
		for _, f := range truth.Files {
			lines := acts[f]
			for i := 1; i < len(lines); i++ {
				if lines[i].ts.Before(lines[i-1].ts) {
					t.Fatalf("%s:%d: %v before %v", f, i+1, lines[i].ts, lines[i-1].ts)
				}
			}
			first, last := lines[0].ts, lines[len(lines)-1].ts
			if first.Before(truth.Start) || last.After(truth.End) {
				t.Errorf("%s spans %v..%v, outside %v..%v", f, first, last, truth.Start, truth.End)
			}
			st, err := os.Stat(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if mt := st.ModTime(); !mt.Truncate(time.Second).Equal(last.Truncate(time.Second)) {
				t.Errorf("%s: mtime %v, last line %v", f, mt, last)
			}
		}
	}
}

// TestTruth checks that truth.json tells the truth: every attacker did what
// its kind says, strongly enough for the catalog's thresholds, and no
// benign address did anything a rule could mistake for an attack.
func TestTruth(t *testing.T) {
	// Many small data sets: the protections tested (blackouts around
	// attacked accounts, typo caps) matter only when benign activity
	// happens to fall near an attack.
	for seed := range int64(12) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			t.Parallel()
			dir, truth := generate(t, Options{Lines: 8000, Seed: seed})
			checkTruth(t, truth, load(t, dir, truth))
		})
	}
	if testing.Short() {
		return
	}
	t.Run("150k", func(t *testing.T) { // three instances of each attack
		t.Parallel()
		dir, truth := generate(t, Options{Lines: 150000, Seed: 99})
		checkTruth(t, truth, load(t, dir, truth))
	})
}

func checkTruth(t *testing.T, truth Truth, acts map[string][]activity) {
	attackers := map[netip.Addr]Attacker{}
	benign := map[netip.Addr]bool{}
	for _, ip := range truth.BenignIPs {
		benign[ip] = true
	}
	for _, a := range truth.Attackers {
		if _, dup := attackers[a.IP]; dup {
			t.Errorf("attacker %v listed twice", a.IP)
		}
		if benign[a.IP] {
			t.Errorf("%v is both attacker and benign", a.IP)
		}
		attackers[a.IP] = a
	}
	for _, u := range truth.BenignUsers {
		if slices.Contains(sshAttackNames, u) || slices.Contains(helpdeskAttackNames, u) || u == "root" {
			t.Errorf("benign user %q is also a name attackers try", u)
		}
	}

	byIP := map[netip.Addr][]activity{}
	byUser := map[string][]activity{} // logins (failures and successes) of any file
	seen := map[netip.Addr]bool{}
	for _, f := range truth.Files {
		for _, a := range acts[f] {
			if !a.ip.IsValid() {
				continue
			}
			if _, ok := attackers[a.ip]; !ok && !benign[a.ip] {
				t.Fatalf("%s: address %v is neither attacker nor benign", f, a.ip)
			}
			seen[a.ip] = true
			byIP[a.ip] = append(byIP[a.ip], a)
			if a.failed > 0 || a.success {
				byUser[a.user] = append(byUser[a.user], a)
			}
		}
	}
	for ip := range benign {
		if !seen[ip] {
			t.Errorf("benign address %v appears in no log", ip)
		}
	}
	for _, acts := range byUser {
		slices.SortStableFunc(acts, func(a, b activity) int { return a.ts.Compare(b.ts) })
	}

	// Attackers.
	compromised := map[string]bool{}
	for _, a := range truth.Attackers {
		evs := byIP[a.IP]
		if len(evs) == 0 {
			t.Errorf("attacker %v (%s) appears in no log", a.IP, a.Attack)
			continue
		}
		n, failed, users := 0, 0, map[string]bool{}
		for _, e := range evs {
			if e.file != a.File && (a.File != FileAudit || e.file != FileAccess) {
				t.Errorf("attacker %v (%s) appears in %s too", a.IP, a.Attack, e.file)
			}
			switch {
			case e.file != a.File:
				continue // the web requests behind a helpdesk attack
			case e.file == FileAuth:
				n += e.failed
				if e.success {
					n++
				}
			default:
				n++
			}
			failed += e.failed
			if e.user != "" {
				users[e.user] = true
			}
		}
		if n != a.Events {
			t.Errorf("attacker %v (%s): %d events in the log, truth says %d", a.IP, a.Attack, n, a.Events)
		}
		for _, u := range a.Users {
			if a.File != FileAccess && !users[u] {
				t.Errorf("attacker %v (%s): user %q not in the log", a.IP, a.Attack, u)
			}
		}
		for _, u := range a.Compromised {
			compromised[u] = true
			if !slices.ContainsFunc(evs, func(e activity) bool { return e.success && e.user == u }) {
				t.Errorf("attacker %v (%s): no successful login of %q", a.IP, a.Attack, u)
			}
		}
		fails := func(e activity) bool { return e.failed > 0 }
		switch a.Attack {
		case AttackSSHBruteforceFast:
			if m := maxIn(evs, 2*time.Minute, fails); m < 30 {
				t.Errorf("fast brute force %v: at most %d failures in 2 min", a.IP, m)
			}
		case AttackSSHBruteforceSlow:
			if m := maxIn(evs, 4*time.Hour, fails); m <= 15 {
				t.Errorf("slow brute force %v: %d failures in 4 h", a.IP, m)
			}
			if m := maxIn(evs, 2*time.Minute, fails); m >= 8 {
				t.Errorf("slow brute force %v: %d failures in 2 min", a.IP, m)
			}
		case AttackSSHPasswordSpray:
			if d := maxDistinctUsers(evs, 20*time.Minute); d < 5 {
				t.Errorf("spray %v: %d distinct users in 20 min", a.IP, d)
			}
		case AttackSSHCredentialStuffing:
			if !a.Distributed || failed > 3 || len(users) > 3 {
				t.Errorf("stuffing %v: %d failures on %d users (distributed %v)", a.IP, failed, len(users), a.Distributed)
			}
		case AttackSSHSuccessAfterFailures, AttackHelpdeskLoginBurst:
			if failed < 5 {
				t.Errorf("%s %v: only %d failures", a.Attack, a.IP, failed)
			}
		case AttackWebScan:
			if m := maxIn(evs, 90*time.Second, func(e activity) bool { return e.status >= 400 && e.status < 500 }); m < 14 {
				t.Errorf("web scan %v: %d 4xx in 90 s", a.IP, m)
			}
			if !slices.ContainsFunc(scannerUAs, func(ua string) bool { return ua == evs[0].ua }) {
				t.Errorf("web scan %v: user agent %q", a.IP, evs[0].ua)
			}
		case AttackWebSensitiveServed:
			if !slices.ContainsFunc(evs, func(e activity) bool { return e.status == 200 && strings.HasPrefix(e.path, "/data/") }) {
				t.Errorf("sensitive %v: no /data/ file served", a.IP)
			}
		case AttackHelpdeskExternalReply:
			if !slices.ContainsFunc(evs, func(e activity) bool { return e.event == "ticket_reply" && e.role == "agent" }) {
				t.Errorf("external reply %v: no ticket_reply", a.IP)
			}
		case AttackHelpdeskAdminNoMFA:
			if !slices.ContainsFunc(evs, func(e activity) bool { return e.success && e.role == "admin" && e.mfa == "none" }) {
				t.Errorf("admin without MFA %v: no such login", a.IP)
			}
		}
	}
	var comp []string
	for u := range compromised {
		comp = append(comp, u)
	}
	slices.Sort(comp)
	if !slices.Equal(comp, truth.CompromisedUsers) {
		t.Errorf("compromised users %v, attackers' %v", truth.CompromisedUsers, comp)
	}
	// The global credential-stuffing thresholds, per wave.
	if truth.Counts.AttackEvents[AttackSSHCredentialStuffing] > 0 {
		var wave []activity
		for _, a := range truth.Attackers {
			if a.Attack == AttackSSHCredentialStuffing {
				wave = append(wave, byIP[a.IP]...)
			}
		}
		slices.SortFunc(wave, func(a, b activity) int { return a.ts.Compare(b.ts) })
		if m := maxIn(wave, 10*time.Minute, func(e activity) bool { return e.failed > 0 }); m < 30 {
			t.Errorf("credential stuffing: at most %d failures in 10 min", m)
		}
		// Only the attack fails logins near a wave: a global rule must not
		// pick a benign failure as its evidence.
		for ip := range benign {
			for _, e := range byIP[ip] {
				if e.failed == 0 {
					continue
				}
				for _, w := range wave {
					if d := e.ts.Sub(w.ts); d > -10*time.Minute && d < 10*time.Minute {
						t.Errorf("benign %v fails a login at %v, during credential stuffing", ip, e.ts)
						break
					}
				}
			}
		}
	}

	// Benign addresses stay clear of every rule.
	internal := netip.MustParsePrefix("10.0.0.0/8")
	for ip := range benign {
		evs := byIP[ip]
		users := map[string]bool{}
		for _, e := range evs {
			if e.user != "" {
				users[e.user] = true
			}
			switch e.file {
			case FileAccess:
				if e.path == "/.env" || e.path == "/backup.zip" || strings.HasPrefix(e.path, "/data/") || strings.HasPrefix(e.path, "/.git") {
					t.Errorf("benign %v requested %s", ip, e.path)
				}
				if slices.Contains(scannerUAs, e.ua) {
					t.Errorf("benign %v used a scanner user agent", ip)
				}
				if !internal.Contains(ip) && (strings.HasPrefix(e.path, "/agent/") || strings.HasPrefix(e.path, "/admin/")) {
					t.Errorf("external benign %v requested %s", ip, e.path)
				}
			case FileAudit:
				if !internal.Contains(ip) {
					t.Errorf("helpdesk activity from external benign %v", ip)
				}
				if e.success && (e.mfa == "none" || e.mfa == "") {
					t.Errorf("benign %v logged in without MFA", ip)
				}
				if e.success && e.role == "admin" {
					h := e.ts.Hour()*60 + e.ts.Minute()
					if wd := e.ts.Weekday(); wd == time.Saturday || wd == time.Sunday || h < 9*60 || h >= 17*60+30 {
						t.Errorf("benign admin login off hours at %v", e.ts)
					}
				}
			}
		}
		if len(users) > 1 {
			t.Errorf("benign %v used %d accounts", ip, len(users))
		}
		if m := maxIn(evs, 4*time.Hour, func(e activity) bool { return e.failed > 0 }); m > 1 {
			t.Errorf("benign %v: %d failed logins in 4 h", ip, m)
		}
		if m := maxIn(evs, 2*time.Minute, func(e activity) bool { return e.status >= 400 }); m > 2 {
			t.Errorf("benign %v: %d web errors in 2 min", ip, m)
		}
	}
	// No benign success follows failures of the same account, whoever
	// failed: "failures then success" keyed by user must not tie a benign
	// address to an attack.
	for user, evs := range byUser {
		for i, e := range evs {
			if !e.success || !benign[e.ip] {
				continue
			}
			n := 0
			for j := i - 1; j >= 0 && e.ts.Sub(evs[j].ts) <= 10*time.Minute; j-- {
				n += evs[j].failed
			}
			if n >= 3 {
				t.Errorf("benign login of %s from %v at %v follows %d failures", user, e.ip, e.ts, n)
			}
		}
	}
	// Real accounts under attack have no benign login around the attack.
	for _, a := range truth.Attackers {
		for _, u := range a.Users {
			for _, e := range byUser[u] {
				if benign[e.ip] && e.ts.After(a.First.Add(-10*time.Minute)) && e.ts.Before(a.Last.Add(10*time.Minute)) {
					t.Errorf("benign login of attacked %s from %v at %v, attack %s %v..%v", u, e.ip, e.ts, a.Attack, a.First, a.Last)
				}
			}
		}
	}
	// Helpdesk sessions of benign staff respect the timeouts.
	sessions := map[string][]activity{}
	for _, e := range acts[FileAudit] {
		if e.session != "" && benign[e.ip] {
			sessions[e.session] = append(sessions[e.session], e)
		}
	}
	for id, evs := range sessions {
		if evs[len(evs)-1].ts.Sub(evs[0].ts) > 8*time.Hour {
			t.Errorf("session %s longer than 8 h", id)
		}
		for i := 1; i < len(evs); i++ {
			if evs[i].ts.Sub(evs[i-1].ts) > 30*time.Minute {
				t.Errorf("session %s idle for %v", id, evs[i].ts.Sub(evs[i-1].ts))
			}
			if evs[i].ip != evs[0].ip {
				t.Errorf("session %s changes address", id)
			}
		}
	}
}

// maxIn returns the largest number of matching events (weighted by failed
// for logins) inside any window of length d.
func maxIn(evs []activity, d time.Duration, match func(activity) bool) int {
	var sel []activity
	for _, e := range evs {
		if match(e) {
			sel = append(sel, e)
		}
	}
	best, sum, lo := 0, 0, 0
	for _, e := range sel {
		sum += max(e.failed, 1)
		for e.ts.Sub(sel[lo].ts) >= d {
			sum -= max(sel[lo].failed, 1)
			lo++
		}
		best = max(best, sum)
	}
	return best
}

func maxDistinctUsers(evs []activity, d time.Duration) int {
	best := 0
	for i := range evs {
		users := map[string]bool{}
		for j := i; j < len(evs) && evs[j].ts.Sub(evs[i].ts) < d; j++ {
			if evs[j].failed > 0 {
				users[evs[j].user] = true
			}
		}
		best = max(best, len(users))
	}
	return best
}

func TestGenerateSpeed(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	t0 := time.Now()
	dir, _ := generate(t, Options{Lines: 200000, Seed: 1})
	el := time.Since(t0)
	t.Logf("200k lines in %v", el)
	if el > 10*time.Second { // generous: the race detector slows this ~10x
		t.Errorf("200k lines took %v", el)
	}
	if _, err := os.Stat(filepath.Join(dir, FileAccess)); err != nil {
		t.Error(err)
	}
}

func BenchmarkGenerate200k(b *testing.B) {
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate(Options{Lines: 200000, Out: dir, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
