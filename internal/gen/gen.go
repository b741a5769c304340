package gen

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Names of the files Generate writes.
const (
	FileAuth   = "auth.log"
	FileAccess = "access.log"
	FileAudit  = "helpdesk.json"
	FileTruth  = "truth.json"
)

// Defaults and limits of Options.
const (
	DefaultScenario = "mixed"
	DefaultLines    = 10000
	MaxLines        = 5_000_000
	// Span is how long the generated activity lasts, from Options.Start.
	Span = 10 * time.Hour
	// Host is the syslog host name in auth.log.
	Host = "hd1"
	// VHost is the web site the access log and referers belong to.
	VHost = "helpdesk.example.com"
)

// DefaultStart is the Start used when Options.Start is zero: a Monday
// morning, so that the output does not depend on the clock.
var DefaultStart = time.Date(2026, time.March, 2, 8, 0, 0, 0, time.UTC)

// Attack kinds, the values of Attacker.Attack.
const (
	// One address, 30-50 failed ssh attempts in about two minutes, mostly root.
	AttackSSHBruteforceFast = "ssh_bruteforce_fast"
	// One address, one failed ssh attempt every 3-5 minutes for 3.5-4.5 hours.
	AttackSSHBruteforceSlow = "ssh_bruteforce_slow"
	// One address, 15-25 account names, 1-2 attempts each, within 20 minutes.
	AttackSSHPasswordSpray = "ssh_password_spray"
	// 12-20 addresses, 2-3 account names each, one attempt per name, all
	// inside 8 minutes and 36+ attempts in all (Distributed).
	AttackSSHCredentialStuffing = "ssh_credential_stuffing"
	// One address, 6-12 failures for a real account, then Accepted password
	// for it (the account is compromised).
	AttackSSHSuccessAfterFailures = "ssh_success_after_failures"
	// One address, 80-200 requests in a few minutes with a scanner user
	// agent, mostly 404 (wp-login.php, .env, .git/HEAD, phpmyadmin, ...).
	AttackWebScan = "web_scan"
	// One address fetching 4-6 sensitive paths answered 200 (/data/...,
	// /.env, /.git/config, /backup.zip).
	AttackWebSensitiveServed = "web_sensitive_served"
	// One address, 20-40 helpdesk login_failure in 1-3 minutes against real
	// agents and generic names (the agents are attacked, not compromised).
	AttackHelpdeskLoginBurst = "helpdesk_login_failure_burst"
	// A real agent's account logs in from an external address and replies to
	// tickets (the account is compromised).
	AttackHelpdeskExternalReply = "helpdesk_agent_external_reply"
	// A real admin's account logs in from an external address without MFA
	// and changes a role (the account is compromised).
	AttackHelpdeskAdminNoMFA = "helpdesk_admin_no_mfa"
)

// Options says what Generate writes. The zero value of each field but Out
// selects its default.
type Options struct {
	Scenario string    // one of Scenarios(); "" means DefaultScenario
	Lines    int       // approximate total of log lines over all files; 0 means DefaultLines
	Out      string    // directory to write to; created if missing
	Seed     int64     // the same seed and options give the same bytes
	Start    time.Time // start of the activity; zero means DefaultStart
}

// Truth is the ground truth of one generated data set, written as
// truth.json. Its JSON shape is stable: detection tests read it.
type Truth struct {
	Scenario string    `json:"scenario"`
	Seed     int64     `json:"seed"`
	Lines    int       `json:"lines"` // Options.Lines after defaults
	Start    time.Time `json:"start"` // activity starts here ...
	End      time.Time `json:"end"`   // ... and ends before here (Start + Span)
	Files    []string  `json:"files"` // log files written, in Out

	// Attackers lists every attacking address with what it did, sorted by
	// First then IP. An address takes part in one attack only.
	Attackers []Attacker `json:"attackers"`
	// CompromisedUsers are the real accounts an attacker address logged in
	// with successfully (ssh or helpdesk), sorted.
	CompromisedUsers []string `json:"compromised_users"`
	// BenignIPs are all addresses with benign activity, sorted. They are
	// disjoint from the attacker addresses.
	BenignIPs []netip.Addr `json:"benign_ips"`
	// BenignUsers are the accounts with benign activity, sorted. Some of
	// them are also targets of attacks (Attacker.Users) or compromised.
	BenignUsers []string `json:"benign_users"`

	Counts Counts `json:"counts"`
}

// Attacker is one attacking address.
type Attacker struct {
	IP     netip.Addr `json:"ip"`
	Attack string     `json:"attack"` // one of the Attack* constants
	File   string     `json:"file"`   // the log file holding the attack
	// Users are the account names the address tried or used, sorted.
	Users []string `json:"users"`
	// Compromised are the accounts this address logged in with.
	Compromised []string `json:"compromised,omitempty"`
	// Events counts the attack's events as vigil normalizes them: failed
	// and successful logins for sshd (an "Invalid user" line with its
	// "Failed ... invalid user" line is one attempt, "message repeated N
	// times" is N), requests for web, audit records for the helpdesk.
	Events int `json:"events"`
	// First and Last are the times of the first and last attack event, at
	// the precision the log writes them (seconds; milliseconds in
	// helpdesk.json).
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Distributed marks an address of a many-address attack (credential
	// stuffing): on purpose it stays below every per-address threshold, and
	// only the global rule can see the attack.
	Distributed bool `json:"distributed,omitempty"`
}

// Counts are totals of the data set.
type Counts struct {
	Lines        map[string]int `json:"lines"`         // lines per file
	AttackLines  map[string]int `json:"attack_lines"`  // of which written by attacks
	AttackEvents map[string]int `json:"attack_events"` // Attacker.Events summed per attack kind
}

type scenario struct {
	name                  string
	auth, web, audit      float64 // share of Lines per file; 0: the file is not written
	ssh, webAtk, helpdesk bool    // which attacks run
}

var scenarios = []scenario{
	{name: "mixed", auth: 0.30, web: 0.55, audit: 0.15, ssh: true, webAtk: true, helpdesk: true},
	{name: "bruteforce", auth: 1, ssh: true},
	{name: "web", web: 1, webAtk: true},
	{name: "helpdesk", audit: 1, helpdesk: true},
	{name: "benign", auth: 0.30, web: 0.55, audit: 0.15},
}

// Scenarios returns the names Options.Scenario accepts:
//
//	mixed       all three logs, every attack, benign traffic (the default)
//	bruteforce  auth.log only: the ssh attacks
//	web         access.log only: scanning and sensitive paths served
//	helpdesk    helpdesk.json only: login burst, external reply, admin without MFA
//	benign      all three logs, no attack at all (for false-positive tests)
func Scenarios() []string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.name
	}
	return names
}

// Generate writes the logs of opts.Scenario and truth.json into opts.Out and
// returns the truth it wrote.
func Generate(opts Options) (Truth, error) {
	if opts.Scenario == "" {
		opts.Scenario = DefaultScenario
	}
	idx := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == opts.Scenario })
	if idx < 0 {
		return Truth{}, fmt.Errorf("unknown scenario %q (want one of %s)", opts.Scenario, strings.Join(Scenarios(), ", "))
	}
	switch {
	case opts.Lines == 0:
		opts.Lines = DefaultLines
	case opts.Lines < 0 || opts.Lines > MaxLines:
		return Truth{}, fmt.Errorf("lines %d out of range 1..%d", opts.Lines, MaxLines)
	}
	if opts.Out == "" {
		return Truth{}, errors.New("no output directory")
	}
	if opts.Start.IsZero() {
		opts.Start = DefaultStart
	}
	opts.Start = opts.Start.UTC().Truncate(time.Millisecond)

	g := newGenerator(opts, scenarios[idx])
	g.run()

	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return Truth{}, err
	}
	for _, f := range g.files() {
		if err := f.write(opts.Out); err != nil {
			return Truth{}, err
		}
	}
	truth := g.truth()
	data, err := json.MarshalIndent(truth, "", "  ")
	if err != nil {
		return Truth{}, err
	}
	path := filepath.Join(opts.Out, FileTruth)
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return Truth{}, err
	}
	end := truth.End
	if err := os.Chtimes(path, end, end); err != nil {
		return Truth{}, err
	}
	return truth, nil
}

// LoadTruth reads a truth.json written by Generate.
func LoadTruth(path string) (Truth, error) {
	var t Truth
	data, err := os.ReadFile(path)
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal(data, &t); err != nil {
		return t, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// window is a half-open time interval in Unix nanoseconds.
type window struct{ from, to int64 }

type generator struct {
	opts  Options
	sc    scenario
	start int64 // Unix ns
	end   int64
	mult  int // instances of each attack

	auth, web, audit *logFile

	addrs addrPool
	names namePool
	pids  map[int]struct{}
	uids  int

	attackers   []*Attacker
	compromised map[string]struct{}
	benignIPs   map[netip.Addr]struct{}
	benignUsers map[string]struct{}
	// blackout holds, per account, the windows in which no benign activity
	// of that account is generated: around attacks on it, so that rules
	// keyed by user never tie a benign address to an attack.
	blackout map[string][]window
	// quiet holds the windows in which no benign login fails: around
	// credential stuffing, which only a global rule sees.
	quiet []window

	sshUsers []*sshUser // core population; attacks pick targets from it
	agents   []*agent
}

func newGenerator(opts Options, sc scenario) *generator {
	g := &generator{
		opts:        opts,
		sc:          sc,
		start:       opts.Start.UnixNano(),
		end:         opts.Start.Add(Span).UnixNano(),
		mult:        min(max(opts.Lines/50000, 1), 4),
		addrs:       newAddrPool(),
		names:       newNamePool(),
		pids:        make(map[int]struct{}),
		compromised: make(map[string]struct{}),
		benignIPs:   make(map[netip.Addr]struct{}),
		benignUsers: make(map[string]struct{}),
		blackout:    make(map[string][]window),
	}
	// Sizing the arenas up front saves copying them over and over as they
	// grow: the lines average about 110 (auth), 250 (access) and 230
	// (audit) bytes.
	newFile := func(name string, share float64, lineLen int) *logFile {
		if share == 0 {
			return nil
		}
		n := int(float64(opts.Lines)*share*1.05) + 2000
		return &logFile{name: name, data: make([]byte, 0, n*lineLen), recs: make([]record, 0, n)}
	}
	g.auth = newFile(FileAuth, sc.auth, 115)
	g.web = newFile(FileAccess, sc.web, 260)
	g.audit = newFile(FileAudit, sc.audit, 240)
	return g
}

// rng returns the random source of one component. Separate sources keep
// components independent: adding lines to one does not reshuffle another.
func (g *generator) rng(component string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(component))
	return rand.New(rand.NewPCG(uint64(g.opts.Seed), h.Sum64()))
}

func (g *generator) files() []*logFile {
	var fs []*logFile
	for _, f := range []*logFile{g.auth, g.web, g.audit} {
		if f != nil {
			fs = append(fs, f)
		}
	}
	return fs
}

// minBenign is the least benign traffic each file gets, however small Lines.
const minBenign = 40

func (g *generator) run() {
	g.population()
	if g.sc.ssh {
		g.sshAttacks(g.rng("ssh-attacks"))
	}
	if g.sc.webAtk {
		g.webAttacks(g.rng("web-attacks"))
	}
	if g.sc.helpdesk {
		g.helpdeskAttacks(g.rng("helpdesk-attacks"))
	}
	// Benign traffic fills what the attacks left of Lines, shared out by
	// the scenario's weights: each file ends near its attack lines plus its
	// share.
	attack := 0
	for _, f := range g.files() {
		attack += f.attack
	}
	benign := max(g.opts.Lines-attack, 0)
	budget := func(f *logFile, share float64) int {
		return f.attack + max(int(float64(benign)*share+0.5), minBenign)
	}
	// Benign helpdesk first: in mixed it also writes the agents' requests
	// to access.log, which count toward that file's budget.
	if g.audit != nil {
		g.benignHelpdesk(g.rng("helpdesk-benign"), budget(g.audit, g.sc.audit))
	}
	if g.auth != nil {
		g.benignSSH(g.rng("ssh-benign"), budget(g.auth, g.sc.auth))
	}
	if g.web != nil {
		g.benignWeb(g.rng("web-benign"), budget(g.web, g.sc.web))
	}
}

// newAttacker registers an attacking address.
func (g *generator) newAttacker(ip netip.Addr, attack, file string) *Attacker {
	a := &Attacker{IP: ip, Attack: attack, File: file}
	g.attackers = append(g.attackers, a)
	return a
}

// event records one attack event of a at time t, for user (if any).
func (a *Attacker) event(t int64, user string, n int) {
	// Times as the log writes them: seconds in syslog and nginx stamps.
	prec := time.Second
	if a.File == FileAudit {
		prec = time.Millisecond
	}
	ts := time.Unix(0, t).UTC().Truncate(prec)
	if a.Events == 0 || ts.Before(a.First) {
		a.First = ts
	}
	if ts.After(a.Last) {
		a.Last = ts
	}
	a.Events += n
	if user != "" && !slices.Contains(a.Users, user) {
		a.Users = append(a.Users, user)
	}
}

func (g *generator) compromise(a *Attacker, user string) {
	g.compromised[user] = struct{}{}
	if !slices.Contains(a.Compromised, user) {
		a.Compromised = append(a.Compromised, user)
	}
}

func (g *generator) benign(ip netip.Addr, user string) {
	g.benignIPs[ip] = struct{}{}
	if user != "" {
		g.benignUsers[user] = struct{}{}
	}
}

// block keeps benign activity of user out of [from, to).
func (g *generator) block(user string, from, to int64) {
	g.blackout[user] = append(g.blackout[user], window{from, to})
}

// blocked reports the end of the latest blackout window of user that
// overlaps [from, to), or 0.
func (g *generator) blocked(user string, from, to int64) int64 {
	var until int64
	for _, w := range g.blackout[user] {
		if w.from < to && from < w.to && w.to > until {
			until = w.to
		}
	}
	return until
}

// isQuiet reports whether no benign login may fail at t.
func (g *generator) isQuiet(t int64) bool {
	for _, w := range g.quiet {
		if w.from <= t && t < w.to {
			return true
		}
	}
	return false
}

func (g *generator) truth() Truth {
	t := Truth{
		Scenario:         g.sc.name,
		Seed:             g.opts.Seed,
		Lines:            g.opts.Lines,
		Start:            time.Unix(0, g.start).UTC(),
		End:              time.Unix(0, g.end).UTC(),
		Files:            []string{},
		Attackers:        []Attacker{},
		CompromisedUsers: []string{},
		BenignIPs:        []netip.Addr{},
		BenignUsers:      []string{},
		Counts: Counts{
			Lines:        map[string]int{},
			AttackLines:  map[string]int{},
			AttackEvents: map[string]int{},
		},
	}
	for _, f := range g.files() {
		t.Files = append(t.Files, f.name)
		t.Counts.Lines[f.name] = len(f.recs)
		t.Counts.AttackLines[f.name] = f.attack
	}
	for _, a := range g.attackers {
		if a.Events == 0 {
			continue
		}
		if a.Users == nil {
			a.Users = []string{}
		}
		slices.Sort(a.Users)
		slices.Sort(a.Compromised)
		t.Attackers = append(t.Attackers, *a)
		t.Counts.AttackEvents[a.Attack] += a.Events
	}
	slices.SortStableFunc(t.Attackers, func(a, b Attacker) int {
		return cmp.Or(a.First.Compare(b.First), a.IP.Compare(b.IP))
	})
	for u := range g.compromised {
		t.CompromisedUsers = append(t.CompromisedUsers, u)
	}
	slices.Sort(t.CompromisedUsers)
	for ip := range g.benignIPs {
		t.BenignIPs = append(t.BenignIPs, ip)
	}
	slices.SortFunc(t.BenignIPs, netip.Addr.Compare)
	for u := range g.benignUsers {
		t.BenignUsers = append(t.BenignUsers, u)
	}
	slices.Sort(t.BenignUsers)
	return t
}
