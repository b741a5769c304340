package gen

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// access writes one nginx "combined" line.
func (g *generator) access(t int64, ip netip.Addr, method, path, proto string, status int, bytes int64, referer, ua string) {
	b := g.web.begin(t)
	b = ip.AppendTo(b)
	b = append(b, " - - ["...)
	b = appendCLFStamp(b, t)
	b = append(b, "] \""...)
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, ' ')
	b = append(b, proto...)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, bytes, 10)
	b = append(b, " \""...)
	if referer == "" {
		referer = "-"
	}
	b = append(b, referer...)
	b = append(b, "\" \""...)
	b = append(b, ua...)
	g.web.commit(append(b, '"'))
}

const site = "https://" + VHost

// The web server's view of the paths attackers ask for: most do not exist,
// a few sensitive files do (the misconfiguration the sensitive-path rules
// are for). Scanners and the sensitive-path attacker see the same answers.
var existing = map[string]int64{
	"/":             8214,
	"/robots.txt":   68,
	"/.env":         1187,
	"/backup.zip":   48213377,
	"/favicon.ico":  1150,
	"/index.php":    8214,
	"/login.php":    6120,
	"/kb/index.php": 11410,
}

// serverAnswer returns the status and body size the server gives for a
// path requested by an attacker.
func serverAnswer(path string) (int, int64) {
	if n, ok := existing[path]; ok {
		return 200, n
	}
	switch {
	case path == "/data/" || path == "/.htaccess" || path == "/.htpasswd":
		return 403, 153 // nginx: no autoindex, deny rules
	case path == "/admin/" || path == "/agent/":
		return 302, 0 // to the login page
	case len(path) > 6 && path[:6] == "/data/":
		return 200, 0 // caller sets the size: attachment files are served
	}
	return 404, 153
}

var scanPaths = []string{
	"/wp-login.php", "/wp-admin/", "/xmlrpc.php", "/wp-content/plugins/", "/wp-includes/wlwmanifest.xml",
	"/.env", "/.env.bak", "/.env.local", "/.git/HEAD", "/.git/config", "/.svn/entries", "/.hg/store",
	"/phpmyadmin/", "/pma/", "/phpMyAdmin/index.php", "/myadmin/", "/mysql/", "/sqladmin/",
	"/administrator/", "/admin/", "/admin/login.php", "/agent/", "/manager/html", "/user/login",
	"/config.php.bak", "/config.php~", "/wp-config.php.bak", "/backup.sql", "/db.sql", "/dump.sql.gz",
	"/database.sql", "/site.tar.gz", "/www.zip", "/.htaccess", "/.htpasswd", "/.DS_Store",
	"/server-status", "/info.php", "/phpinfo.php", "/test.php", "/shell.php", "/cmd.php",
	"/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/cgi-bin/luci", "/boaform/admin/formLogin",
	"/actuator/health", "/actuator/env", "/.aws/credentials", "/debug.log", "/error.log",
	"/composer.json", "/composer.lock", "/package.json", "/.vscode/sftp.json", "/api/v1/users",
	"/console/", "/solr/admin/", "/owa/auth/logon.aspx", "/remote/login", "/global-protect/login.esp",
	"/data/", "/robots.txt", "/", "/sitemap.xml", "/login.php",
}

var scanDirs = []string{"/old/", "/backup/", "/new/", "/test/", "/dev/", "/tmp/", "/bak/", "/site/"}

var scanFiles = []string{"index.php", "config.php", "wp-config.php", "install.php", "setup.php", "admin.php", "db.php", ".env", "backup.tar.gz", "upload.php"}

var sqlmapProbes = []string{
	"1%27", "1%20AND%201%3D1", "1%20AND%201%3D2", "1%27%20AND%20%271%27%3D%271",
	"1%20ORDER%20BY%201--%20-", "1%20UNION%20ALL%20SELECT%20NULL--%20-",
	"1%29%20AND%20SLEEP%285%29--%20-", "-1%27%20OR%203%2B1-1-1%3D0%2B0%2B0%2B1--%20-",
}

func (g *generator) webAttacks(r *rand.Rand) {
	n0 := g.web.lines()
	for range g.mult {
		g.webScan(r)
		g.webSensitive(r)
	}
	g.web.attack += g.web.lines() - n0
}

// webScan writes a content-discovery burst with a scanner user agent.
func (g *generator) webScan(r *rand.Rand) {
	ip := g.addrs.attacker(r, 0.1)
	a := g.newAttacker(ip, AttackWebScan, FileAccess)
	ua := pick(r, scannerUAs)
	t := g.start + between(r, 15*time.Minute, Span-30*time.Minute)
	var paths []string
	for _, i := range r.Perm(len(scanPaths)) {
		if r.IntN(5) > 0 {
			paths = append(paths, scanPaths[i])
		}
	}
	for range 20 + r.IntN(60) {
		paths = append(paths, pick(r, scanDirs)+pick(r, scanFiles))
	}
	for _, p := range paths {
		status, n := serverAnswer(p)
		method := "GET"
		if r.IntN(12) == 0 {
			method = "HEAD"
		}
		g.access(t, ip, method, p, "HTTP/1.1", status, n, "", ua)
		a.event(t, "", 1)
		t += between(r, 40*time.Millisecond, 1500*time.Millisecond)
	}
	if ua == scannerUAs[0] { // sqlmap goes on to injections on the FAQ
		for _, p := range sqlmapProbes {
			status, n := 200, 9000+r.Int64N(3000)
			if r.IntN(4) == 0 {
				status, n = 500, 571
			}
			g.access(t, ip, "GET", "/kb/faq.php?id="+p, "HTTP/1.1", status, n, "", ua)
			a.event(t, "", 1)
			t += between(r, 200*time.Millisecond, 6*time.Second)
		}
	}
}

var dataFiles = []string{
	"/data/attachments/2026/02/invoice-4411.pdf",
	"/data/attachments/2026/02/passport-scan-1187.jpg",
	"/data/attachments/2026/03/contract-4502.pdf",
	"/data/exports/users-2026-03.csv",
	"/data/exports/tickets-full.csv",
}

// webSensitive writes a few direct hits on sensitive files that the server
// answers with content: the leak the sensitive-path rules look for.
func (g *generator) webSensitive(r *rand.Rand) {
	ip := g.addrs.attacker(r, 0.1)
	a := g.newAttacker(ip, AttackWebSensitiveServed, FileAccess)
	ua := pick(r, []string{"curl/8.5.0", "python-requests/2.31.0", "Wget/1.21.4", browserUAs[6]})
	t := g.start + between(r, 30*time.Minute, Span-time.Hour)
	paths := []string{"/.env", "/backup.zip"}
	for _, i := range r.Perm(len(dataFiles))[:2+r.IntN(3)] {
		paths = append(paths, dataFiles[i])
	}
	r.Shuffle(len(paths), func(i, j int) { paths[i], paths[j] = paths[j], paths[i] })
	for _, p := range paths {
		status, n := serverAnswer(p)
		if n == 0 {
			n = 40_000 + r.Int64N(2_000_000)
		}
		g.access(t, ip, "GET", p, "HTTP/1.1", status, n, "", ua)
		a.event(t, "", 1)
		t += between(r, 3*time.Second, 90*time.Second)
	}
}

// echo writes an access-log line for a helpdesk action when access.log is
// part of the scenario.
func (g *generator) echo(t int64, ip netip.Addr, method, path string, status int, bytes int64, referer, ua string) {
	if g.web == nil {
		return
	}
	g.access(t, ip, method, path, "HTTP/2.0", status, bytes, referer, ua)
}

// echoLogin writes the requests around a successful helpdesk login at t.
func (g *generator) echoLogin(r *rand.Rand, t int64, ip netip.Addr, ua string, admin bool) {
	if g.web == nil {
		return
	}
	g.echo(t-between(r, 8*time.Second, 25*time.Second), ip, "GET", "/agent/login.php", 200, 4790+r.Int64N(40), "", ua)
	g.echo(t-between(r, 50*time.Millisecond, 300*time.Millisecond), ip, "POST", "/agent/login.php", 302, 0, site+"/agent/login.php", ua)
	home := "/agent/index.php"
	if admin {
		home = "/admin/index.php"
	}
	t += between(r, 100*time.Millisecond, 400*time.Millisecond)
	g.echo(t, ip, "GET", home, 200, 18000+r.Int64N(9000), site+"/agent/login.php", ua)
	for _, as := range agentAssets {
		t += between(r, 20*time.Millisecond, 200*time.Millisecond)
		if r.IntN(3) == 0 {
			g.echo(t, ip, "GET", as.path, 200, as.bytes, site+home, ua)
		} else {
			g.echo(t, ip, "GET", as.path, 304, 0, site+home, ua)
		}
	}
}

// echoReply writes the requests of a ticket reply posted at t.
func (g *generator) echoReply(r *rand.Rand, t int64, ip netip.Addr, ua, ticket string) {
	if g.web == nil {
		return
	}
	path := "/agent/tickets.php?id=" + ticket[2:]
	g.echo(t-between(r, 30*time.Second, 90*time.Second), ip, "GET", path, 200, 25000+r.Int64N(30000), site+"/agent/index.php", ua)
	g.echo(t-between(r, 20*time.Millisecond, 200*time.Millisecond), ip, "POST", path, 302, 0, site+path, ua)
	g.echo(t+between(r, 100*time.Millisecond, 400*time.Millisecond), ip, "GET", path, 200, 26000+r.Int64N(30000), site+path, ua)
}

func (g *generator) echoLogout(r *rand.Rand, t int64, ip netip.Addr, ua string) {
	if g.web == nil {
		return
	}
	g.echo(t-between(r, 20*time.Millisecond, 200*time.Millisecond), ip, "GET", "/agent/logout.php", 302, 0, site+"/agent/index.php", ua)
	g.echo(t+between(r, 50*time.Millisecond, 300*time.Millisecond), ip, "GET", "/agent/login.php", 200, 4790+r.Int64N(40), site+"/agent/index.php", ua)
}

type asset struct {
	path  string
	bytes int64
}

var portalAssets = []asset{
	{"/css/osticket.css", 21764},
	{"/assets/default/css/theme.css", 34612},
	{"/js/jquery-3.7.1.min.js", 87533},
	{"/js/osticket.js", 11907},
	{"/assets/default/images/logo.png", 9321},
	{"/favicon.ico", 1150},
}

var agentAssets = []asset{
	{"/agent/css/scp.css", 42110},
	{"/agent/js/scp.js", 23871},
	{"/js/jquery-3.7.1.min.js", 87533},
	{"/agent/images/logo.png", 7421},
}

type portalPage struct {
	path  string
	bytes int64
	id    bool // path ends in "=" and takes a number
}

var portalPages = []portalPage{
	{"/", 8214, false},
	{"/index.php", 8214, false},
	{"/kb/index.php", 11410, false},
	{"/kb/faq.php?id=", 9400, true},
	{"/kb/faq.php?id=", 9400, true},
	{"/kb/faq.php?cid=", 12800, true},
	{"/kb/search.php?q=printer", 10020, false},
	{"/kb/search.php?q=vpn+setup", 9850, false},
	{"/open.php", 15320, false},
	{"/view.php", 5210, false},
	{"/tickets.php", 13450, false},
	{"/tickets.php?id=", 21700, true},
	{"/login.php", 6120, false},
	{"/account.php", 7040, false},
}

// missingPages are what real visitors ask for and do not find: old links,
// icons browsers probe for. At most a few per visitor.
var missingPages = []string{
	"/apple-touch-icon.png", "/apple-touch-icon-precomposed.png", "/kb/faq.php/print",
	"/kb/article/printer-setup", "/tickets/old", "/images/banner-old.jpg",
}

type webClient struct {
	ip     netip.Addr
	ua     string
	cached bool
	miss   int // 404s so far
}

// benignWeb writes benign visits until access.log holds budget lines.
func (g *generator) benignWeb(r *rand.Rand, budget int) {
	if budget >= 20000 {
		g.monitor(r)
	}
	for g.web.lines() < budget {
		c := &webClient{ua: pick(r, browserUAs)}
		visits := 1 + r.IntN(3)
		if r.IntN(10) < 7 {
			c.ip = g.addrs.home(r)
		} else {
			c.ip = g.addrs.internal(r)
			c.ua = pick(r, deskUAs)
			visits += 2
		}
		t := g.start
		for range visits {
			if g.web.lines() >= budget {
				break
			}
			t = max(t, g.start+between(r, 0, Span-20*time.Minute)) + between(r, time.Minute, 10*time.Minute)
			if t >= g.end-int64(15*time.Minute) {
				break
			}
			t = g.visit(r, c, t)
			g.benign(c.ip, "")
		}
	}
}

// visit writes one visit to the portal from t and returns when it ended.
func (g *generator) visit(r *rand.Rand, c *webClient, t int64) int64 {
	ref := "-"
	if r.IntN(3) == 0 {
		ref = "https://www.google.com/"
	}
	for range 1 + r.IntN(8) {
		if t > g.end-int64(time.Minute) {
			break
		}
		if c.miss < 2 && r.IntN(60) == 0 {
			c.miss++
			g.access(t, c.ip, "GET", pick(r, missingPages), "HTTP/2.0", 404, 153, ref, c.ua)
			t += between(r, 2*time.Second, 20*time.Second)
			continue
		}
		p := pick(r, portalPages)
		path := p.path
		if p.id {
			path += strconv.Itoa(1 + r.IntN(400))
		}
		g.access(t, c.ip, "GET", path, "HTTP/2.0", 200, p.bytes-400+r.Int64N(800), ref, c.ua)
		ta := t
		for _, as := range portalAssets {
			ta += between(r, 15*time.Millisecond, 250*time.Millisecond)
			switch {
			case !c.cached:
				g.access(ta, c.ip, "GET", as.path, "HTTP/2.0", 200, as.bytes, site+path, c.ua)
			case r.IntN(5) == 0:
				g.access(ta, c.ip, "GET", as.path, "HTTP/2.0", 304, 0, site+path, c.ua)
			}
		}
		c.cached = true
		ref = site + path
		t += between(r, 4*time.Second, 90*time.Second)
		if p.path == "/open.php" && r.IntN(2) == 0 {
			// The visitor submits a ticket and lands on it.
			g.access(t, c.ip, "POST", "/open.php", "HTTP/2.0", 302, 0, ref, c.ua)
			t += between(r, 100*time.Millisecond, 500*time.Millisecond)
			path = "/tickets.php?id=" + strconv.Itoa(4000+r.IntN(6000))
			g.access(t, c.ip, "GET", path, "HTTP/2.0", 200, 21300+r.Int64N(900), ref, c.ua)
			ref = site + path
			t += between(r, 4*time.Second, 60*time.Second)
		}
	}
	return t
}

// monitor writes an uptime check from one internal host every minute.
func (g *generator) monitor(r *rand.Rand) {
	ip := g.addrs.internal(r)
	for t := g.start + between(r, 0, time.Minute); t < g.end; t += int64(time.Minute) + between(r, 0, 200*time.Millisecond) {
		g.access(t, ip, "GET", "/healthz", "HTTP/1.1", 200, 2, "", "Go-http-client/1.1")
	}
	g.benign(ip, "")
}
