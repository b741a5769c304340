package gen

import (
	"math/rand/v2"
	"strconv"
)

var surnames = []string{
	"doe", "smith", "roe", "jones", "brown", "garcia", "miller", "davis", "wilson", "moore",
	"taylor", "thomas", "white", "harris", "martin", "clark", "lewis", "walker", "hall", "young",
	"king", "wright", "lopez", "hill", "scott", "green", "adams", "baker", "nelson", "carter",
	"mitchell", "perez", "roberts", "turner", "phillips", "campbell", "parker", "evans", "edwards", "collins",
	"stewart", "morris", "rogers", "reed", "cook", "morgan", "bell", "murphy", "bailey", "rivera",
	"cooper", "richardson", "cox", "howard", "ward", "torres", "peterson", "gray", "ramirez", "watson",
	"brooks", "kelly", "sanders", "price", "bennett", "wood", "barnes", "ross", "henderson", "coleman",
	"perry", "powell", "long", "patterson", "hughes", "flores", "butler", "simmons", "foster", "bryant",
	"alexander", "russell", "griffin", "diaz", "hayes", "myers", "ford", "hamilton", "graham", "sullivan",
	"wallace", "woods", "cole", "west", "jordan", "owens", "reynolds", "fischer", "ellis", "novak",
}

// machineNames are the accounts of benign automation logging in over ssh
// from their own hosts.
var machineNames = []string{"ansible", "gitlab-runner", "rsync-mirror", "borgbackup", "prometheus", "terraform", "saltmaster", "jenkins-agent"}

// sshAttackNames are account names bots try over ssh. They are disjoint from
// every benign name (a test holds this): people are named like "jdoe", and
// the machine accounts above are not in the list.
var sshAttackNames = []string{
	"admin", "test", "user", "ubuntu", "oracle", "postgres", "mysql", "guest", "ftpuser", "ftp",
	"pi", "support", "git", "jenkins", "hadoop", "tomcat", "deploy", "dev", "demo", "administrator",
	"operator", "sysadmin", "server", "centos", "ec2-user", "debian", "vagrant", "docker", "elastic", "es",
	"kafka", "redis", "minecraft", "steam", "teamspeak", "ts3", "odoo", "zabbix", "user1", "test1",
	"testuser", "student", "web", "webmaster", "info", "sales", "office", "backup", "db2inst1", "solr",
	"spark", "hdfs", "apache", "nginx", "mail", "postfix", "squid", "openvpn", "vpn", "nagios",
	"alex", "john", "david", "michael", "mike", "peter", "paul", "daniel", "robert", "tom",
	"james", "anna", "maria", "user2", "test2", "guest1", "oper", "www", "www-data", "default",
	"developer", "ubnt", "cisco", "manager", "monitor", "service", "scanner", "system", "temp", "tmp",
	"git1", "gitlab", "wordpress", "wp", "node", "nodejs", "app", "appuser", "bot", "botuser",
	"flask", "django", "rails", "ruby", "python", "gpadmin", "sonar", "nexus", "bamboo", "confluence",
}

// helpdeskAttackNames are generic account names tried on the helpdesk login.
var helpdeskAttackNames = []string{"admin", "administrator", "helpdesk", "support", "test", "root", "manager"}

type namePool struct {
	used map[string]struct{}
}

func newNamePool() namePool {
	p := namePool{used: make(map[string]struct{})}
	for _, n := range sshAttackNames {
		p.used[n] = struct{}{}
	}
	for _, n := range helpdeskAttackNames {
		p.used[n] = struct{}{}
	}
	p.used["root"] = struct{}{}
	return p
}

// person returns an unused login name like "jdoe".
func (p *namePool) person(r *rand.Rand) string {
	for i := 0; ; i++ {
		n := string(rune('a'+r.IntN(26))) + pick(r, surnames)
		if i > 100 {
			n += strconv.Itoa(2 + r.IntN(98))
		}
		if _, ok := p.used[n]; !ok {
			p.used[n] = struct{}{}
			return n
		}
	}
}

// machine returns an unused automation account name: "ansible", later
// "ansible2", "ansible3", ...
func (p *namePool) machine(r *rand.Rand) string {
	base := pick(r, machineNames)
	for i := 1; ; i++ {
		n := base
		if i > 1 {
			n += strconv.Itoa(i)
		}
		if _, ok := p.used[n]; !ok {
			p.used[n] = struct{}{}
			return n
		}
	}
}

var browserUAs = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36 Edg/121.0.0.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:124.0) Gecko/20100101 Firefox/124.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.6261.105 Mobile Safari/537.36",
	"Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.178 Mobile Safari/537.36",
}

// deskUAs are the browsers on staff desktops.
var deskUAs = browserUAs[:8]

var scannerUAs = []string{
	"sqlmap/1.7.12#stable (https://sqlmap.org)",
	"Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000123)",
	"gobuster/3.6",
	"Fuzz Faster U Fool v2.1.0-dev",
	"Mozilla/5.0 zgrab/0.x",
	"WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
	"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
}
