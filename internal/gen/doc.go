// Package gen writes synthetic but realistic logs with attacks mixed into
// benign traffic, and the ground truth of what it wrote. It backs
// `vigil gen` and feeds the detection tests: every attacking address and
// every compromised user in the truth should raise an alert, and no benign
// address should.
//
// Generate writes, into Options.Out, the files of one scenario (see
// Scenarios):
//
//	auth.log       sshd lines as rsyslog writes them (RFC 3164 stamps in UTC, host hd1)
//	access.log     nginx "combined" lines for the vhost helpdesk.example.com
//	helpdesk.json  the helpdesk's audit log, one JSON object per line (rule catalog 5.4)
//	truth.json     the Truth: attackers, compromised users, benign addresses, counts
//
// Everything happens in the ten hours (Span) after Options.Start. Lines of
// each file are in time order, and each log file's modification time is set
// to its last line's time, because vigil infers the year of an RFC 3164 stamp
// from it. The same Options give byte-identical files: all randomness comes
// from math/rand/v2 PCG sources seeded from Options.Seed, one per component.
//
// Options.Lines is the target for the total number of log lines; the output
// lands within a few lines of it. The attacks of a scenario have a fixed
// shape (a fast brute force needs its 30 failures) and grow in number with
// Lines (one instance of each attack per 50,000 lines, at most four); benign
// traffic fills the rest, shared between the files by fixed weights (mixed:
// 30% auth.log, 55% access.log, 15% helpdesk.json). Each file gets at least
// 40 benign lines, so for mixed below about 1,300 lines (the attacks alone
// take about 1,000) the output is larger than asked. The benign population
// grows with Lines rather than the time span: more people, machines and
// visitors in the same ten hours.
//
// Benign actors are built to stay clear of every rule of the catalog: each
// benign address belongs to one person or machine, fails a login at most
// once in four hours, never touches /data/, /.env, /.git or backups, never
// sends a scanner user agent; external benign addresses never request
// /agent/ or /admin/; helpdesk staff work from 10.20.0.0/16 with MFA, and
// admins only in business hours (Mon-Fri 09:00-17:30 UTC). Attacks against
// real accounts keep those accounts' benign activity out of a window around
// the attack. Attacker addresses come from the documentation ranges
// 192.0.2.0/24, 203.0.113.0/24 and 2001:db8::/32 and from public ranges often
// seen in attacks; benign ones from 10.20.0.0/16, fd20:4b1:17::/48 and, for
// web visitors, 198.51.100.0/24 and two residential-looking /16s. The two
// sets never meet.
//
// Generate is safe for concurrent use with different Out directories.
package gen
