package parse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

// update rewrites golden files: go test ./ingest/parse -update.
var update = flag.Bool("update", false, "rewrite golden files")

// sshRef is the reference time (read time) of the lines in these tests.
var sshRef = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

// sshLines parses texts in order with one parser, as lines of one file.
func sshLines(t testing.TB, p *SSHD, texts ...string) ([]event.Event, []error) {
	t.Helper()
	var (
		evs  []event.Event
		errs []error
		off  int64
	)
	for _, text := range texts {
		ln := ingest.Line{Source: "auth", Path: "auth.log", Offset: off, End: off + int64(len(text)) + 1, Text: text, Time: sshRef}
		off = ln.End
		var err error
		evs, err = p.Parse(ln, evs)
		errs = append(errs, err)
	}
	return evs, errs
}

// sshSummary writes the classified fields of ev on one line, for tables.
func sshSummary(ev event.Event) string {
	var b strings.Builder
	b.WriteString(ev.Action + "/" + string(ev.Outcome))
	add := func(k, v string) {
		if v != "" {
			b.WriteString(" " + k + "=" + v)
		}
	}
	add("reason", ev.Reason)
	add("user", ev.User)
	if ev.SrcIP.IsValid() {
		add("ip", ev.SrcIP.String())
	}
	if ev.SrcPort != 0 {
		add("port", strconv.Itoa(int(ev.SrcPort)))
	}
	add("method", ev.AuthMethod)
	add("mfa", ev.MFA)
	keys := make([]string, 0, len(ev.Attrs))
	for k := range ev.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		add(k, ev.Attrs[k])
	}
	return b.String()
}

func TestSSHDMessages(t *testing.T) {
	const pre = "Mar  3 09:17:08 hd1 sshd[20441]: "
	tests := []struct {
		name string
		in   []string // messages after pre, parsed in order by one parser
		want []string // sshSummary of every event
	}{
		{"accepted password", []string{"Accepted password for jdoe from 10.20.4.17 port 53122 ssh2"},
			[]string{"login/success user=jdoe ip=10.20.4.17 port=53122 method=password"}},
		{"accepted publickey", []string{"Accepted publickey for Deploy from 10.20.4.30 port 40022 ssh2: ED25519 SHA256:q3VbM1bq"},
			[]string{"login/success user=deploy ip=10.20.4.30 port=40022 method=publickey key_fp=SHA256:q3VbM1bq key_type=ED25519"}},
		{"accepted certificate", []string{"Accepted publickey for ci from 10.20.4.31 port 40023 ssh2: ED25519-CERT SHA256:abc ID ci from builder (serial 7) CA ED25519 SHA256:def"},
			[]string{"login/success user=ci ip=10.20.4.31 port=40023 method=publickey key_fp=SHA256:abc key_type=ED25519-CERT"}},
		{"accepted keyboard-interactive", []string{"Accepted keyboard-interactive/pam for jdoe from 10.20.4.17 port 53200 ssh2"},
			[]string{"login/success user=jdoe ip=10.20.4.17 port=53200 method=keyboard-interactive auth_submethod=pam"}},
		{"accepted hostbased", []string{"Accepted hostbased for backup from 10.20.4.40 port 40100 ssh2: RSA SHA256:xyz"},
			[]string{"login/success user=backup ip=10.20.4.40 port=40100 method=hostbased key_fp=SHA256:xyz key_type=RSA"}},
		{"failed password", []string{"Failed password for root from 198.51.100.23 port 61234 ssh2"},
			[]string{"login/failure reason=bad_password user=root ip=198.51.100.23 port=61234 method=password"}},
		{"failed publickey", []string{"Failed publickey for git from 198.51.100.23 port 61235 ssh2: RSA SHA256:k"},
			[]string{"login/failure reason=bad_key user=git ip=198.51.100.23 port=61235 method=publickey key_fp=SHA256:k key_type=RSA"}},
		{"failed keyboard-interactive", []string{"Failed keyboard-interactive/pam for root from 198.51.100.23 port 61236 ssh2"},
			[]string{"login/failure reason=bad_password user=root ip=198.51.100.23 port=61236 method=keyboard-interactive auth_submethod=pam"}},
		{"failed other method", []string{"Failed gssapi-with-mic for root from 198.51.100.23 port 61237 ssh2"},
			[]string{"login/failure reason=bad_credential user=root ip=198.51.100.23 port=61237 method=gssapi-with-mic"}},
		{"failed none is no attempt", []string{"Failed none for root from 198.51.100.23 port 61238 ssh2"},
			[]string{"login_probe/unknown reason=auth_none user=root ip=198.51.100.23 port=61238 method=none"}},
		{"failed for invalid user", []string{"Failed password for invalid user oracle from 198.51.100.23 port 61240 ssh2"},
			[]string{"login/failure reason=invalid_user user=oracle ip=198.51.100.23 port=61240 method=password"}},
		{"user name with from in it", []string{"Failed password for invalid user a from b from 198.51.100.23 port 61241 ssh2"},
			[]string{"login/failure reason=invalid_user user=a from b ip=198.51.100.23 port=61241 method=password"}},
		{"invalid user", []string{"Invalid user oracle from 198.51.100.23 port 61240"},
			[]string{"login/failure reason=invalid_user user=oracle ip=198.51.100.23 port=61240"}},
		{"invalid user empty name", []string{"Invalid user  from 198.51.100.23 port 22"},
			[]string{"login/failure reason=invalid_user ip=198.51.100.23 port=22"}},
		{"invalid user with spaces", []string{"Invalid user a b c from 198.51.100.23 port 22"},
			[]string{"login/failure reason=invalid_user user=a b c ip=198.51.100.23 port=22"}},
		{"invalid user without port", []string{"Invalid user admin from 198.51.100.23"},
			[]string{"login/failure reason=invalid_user user=admin ip=198.51.100.23"}},
		{"not allowed", []string{"User mario from 198.51.100.23 not allowed because not listed in AllowUsers"},
			[]string{"login/failure reason=not_allowed user=mario ip=198.51.100.23"}},
		{"root refused", []string{"ROOT LOGIN REFUSED FROM 198.51.100.23 port 14423 [preauth]"},
			[]string{"login/failure reason=root_refused user=root ip=198.51.100.23 port=14423"}},
		{"max attempts", []string{"error: maximum authentication attempts exceeded for invalid user admin from 198.51.100.23 port 4919 ssh2 [preauth]"},
			[]string{"login_probe/unknown reason=max_attempts user=admin ip=198.51.100.23 port=4919"}},
		{"too many failures", []string{"Disconnecting authenticating user root 198.51.100.23 port 4919: Too many authentication failures [preauth]"},
			[]string{"login_probe/unknown reason=max_attempts user=root ip=198.51.100.23 port=4919"}},
		{"old too many failures has no address", []string{"Disconnecting: Too many authentication failures for root [preauth]"},
			[]string{"other/unknown reason=max_attempts"}},
		{"pam unix failure", []string{"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.23  user=root"},
			[]string{"login_probe/unknown reason=pam_failure user=root ip=198.51.100.23"}},
		{"pam failure with host name", []string{"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=scan.example.net  user=root"},
			[]string{"other/unknown reason=pam_failure user=root rhost=scan.example.net"}},
		{"pam more failures", []string{"PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.23  user=root"},
			[]string{"login_probe/unknown reason=pam_failure user=root ip=198.51.100.23"}},
		{"sshd pam error", []string{"error: PAM: Authentication failure for illegal user plop from 198.51.100.23"},
			[]string{"login_probe/unknown reason=pam_failure user=plop ip=198.51.100.23"}},
		{"pam session", []string{
			"pam_unix(sshd:session): session opened for user jdoe(uid=1000) by (uid=0)",
			"pam_unix(sshd:session): session closed for user jdoe",
		}, []string{"session_start/success user=jdoe", "session_end/success user=jdoe"}},
		{"faillock", []string{"pam_faillock(sshd:auth): Consecutive login failures for user root account temporarily locked"},
			[]string{"other/unknown reason=locked user=root"}},
		{"connection closed preauth", []string{"Connection closed by 198.51.100.23 port 40000 [preauth]"},
			[]string{"login_probe/unknown reason=preauth_close ip=198.51.100.23 port=40000"}},
		{"connection closed without port", []string{"Connection closed by 2001:db8::7 [preauth]"},
			[]string{"login_probe/unknown reason=preauth_close ip=2001:db8::7"}},
		{"connection closed authenticating", []string{"Connection closed by authenticating user root 198.51.100.23 port 42728 [preauth]"},
			[]string{"login_probe/unknown reason=preauth_close user=root ip=198.51.100.23 port=42728"}},
		{"connection reset invalid", []string{"Connection reset by invalid user x y 198.51.100.23 port 55895 [preauth]"},
			[]string{"login_probe/unknown reason=preauth_close user=x y ip=198.51.100.23 port=55895"}},
		{"connection closed no qualifier", []string{"Connection closed by 198.51.100.23 port 40000"},
			[]string{"login_probe/unknown reason=connection_closed ip=198.51.100.23 port=40000"}},
		{"disconnected preauth", []string{"Disconnected from authenticating user root 198.51.100.23 port 57142 [preauth]"},
			[]string{"login_probe/unknown reason=preauth_disconnect user=root ip=198.51.100.23 port=57142"}},
		{"disconnected session", []string{"Disconnected from user jdoe 10.20.4.17 port 53200"},
			[]string{"logout/success user=jdoe ip=10.20.4.17 port=53200"}},
		{"disconnected old session", []string{"Disconnected from 10.20.4.17 port 53200"},
			[]string{"logout/success ip=10.20.4.17 port=53200"}},
		{"received disconnect preauth", []string{"Received disconnect from 198.51.100.23 port 41000:11: Bye Bye [preauth]"},
			[]string{"login_probe/unknown reason=client_disconnect ip=198.51.100.23 port=41000"}},
		{"received disconnect old", []string{"error: Received disconnect from 2001:db8::a11:beef:7ac0: 3: com.jcraft.jsch.JSchException: Auth fail [preauth]"},
			[]string{"login_probe/unknown reason=client_disconnect ip=2001:db8::a11:beef:7ac0"}},
		{"received disconnect session", []string{"Received disconnect from 10.20.4.17 port 53200:11: disconnected by user"},
			[]string{"other/unknown ip=10.20.4.17 port=53200"}},
		{"dns mismatch", []string{"Address 203.0.113.9 maps to vpn.corp.example.com, but this does not map back to the address."},
			[]string{"dns_mismatch/unknown ip=203.0.113.9 ptr_name=vpn.corp.example.com"}},
		{"reverse mapping", []string{"reverse mapping checking getaddrinfo for scan.example.net [192.0.2.77] failed - POSSIBLE BREAK-IN ATTEMPT!"},
			[]string{"dns_mismatch/unknown ip=192.0.2.77 ptr_name=scan.example.net"}},
		{"nasty ptr", []string{`Nasty PTR record "192.0.2.1" is set up for 192.0.2.78, ignoring`},
			[]string{"dns_mismatch/unknown ip=192.0.2.78 ptr_name=192.0.2.1"}},
		{"unable to negotiate", []string{"fatal: Unable to negotiate with 198.51.100.23 port 2222: no matching host key type found. Their offer: ssh-dss [preauth]"},
			[]string{"login_probe/unknown reason=kex_failed ip=198.51.100.23 port=2222"}},
		{"no identification", []string{"Did not receive identification string from 198.51.100.23 port 56452"},
			[]string{"login_probe/unknown reason=no_ident ip=198.51.100.23 port=56452"}},
		{"bad protocol version", []string{"Bad protocol version identification 'GET / HTTP/1.1 from 6.6.6.6' from 198.51.100.23 port 40404"},
			[]string{"login_probe/unknown reason=bad_banner ip=198.51.100.23 port=40404"}},
		{"banner exchange", []string{"banner exchange: Connection from 198.51.100.23 port 65403: invalid format"},
			[]string{"login_probe/unknown reason=bad_banner ip=198.51.100.23 port=65403"}},
		{"kex identification has no address", []string{"error: kex_exchange_identification: Connection closed by remote host"},
			[]string{"other/unknown reason=bad_banner"}},
		{"protocol versions differ", []string{"Protocol major versions differ for 198.51.100.23 port 40405: SSH-2.0-OpenSSH_9.6 vs. SSH-1.5-x"},
			[]string{"login_probe/unknown reason=bad_banner ip=198.51.100.23 port=40405"}},
		{"timeout", []string{"fatal: Timeout before authentication for 198.51.100.23 port 50505"},
			[]string{"login_probe/unknown reason=auth_timeout ip=198.51.100.23 port=50505"}},
		{"timeout freebsd", []string{"Timeout before authentication for connection from 198.51.100.23 to 192.0.2.2, pid = 35557"},
			[]string{"login_probe/unknown reason=auth_timeout ip=198.51.100.23"}},
		{"penalty grace time", []string{"drop connection #0 from [198.51.100.23]:48602 on [192.0.2.1]:22 penalty: exceeded LoginGraceTime"},
			[]string{"login_probe/unknown reason=auth_timeout ip=198.51.100.23 port=48602"}},
		{"penalty", []string{"drop connection #1 from [2001:db8::9]:48603 on [2001:db8::1]:22 penalty: failed authentication"},
			[]string{"login_probe/unknown reason=penalty ip=2001:db8::9 port=48603"}},
		{"max startups", []string{"drop connection #2 from [198.51.100.23]:48604 on [192.0.2.1]:22 past MaxStartups"},
			[]string{"login_probe/unknown reason=max_startups ip=198.51.100.23 port=48604"}},
		{"connection from", []string{`Connection from 198.51.100.23 port 40000 on 192.0.2.1 port 22 rdomain ""`},
			[]string{"login_probe/unknown reason=connect ip=198.51.100.23 port=40000"}},
		{"dispatch fatal", []string{"ssh_dispatch_run_fatal: Connection from 198.51.100.23 port 40001: message authentication code incorrect [preauth]"},
			[]string{"login_probe/unknown reason=protocol_error ip=198.51.100.23 port=40001"}},
		{"starting session", []string{"Starting session: shell on pts/0 for jdoe from 10.20.4.17 port 53200 id 0"},
			[]string{"session_start/success user=jdoe ip=10.20.4.17 port=53200"}},
		{"unknown preauth line with address", []string{"Bad packet length 1349676916 from 198.51.100.23 port 40002 [preauth]"},
			[]string{"login_probe/unknown ip=198.51.100.23 port=40002"}},
		{"unknown line", []string{"Received SIGHUP; restarting."}, []string{"other/unknown"}},
		{"server listening", []string{"Server listening on :: port 22."}, []string{"other/unknown"}},

		// Addresses.
		{"ipv6 zone", []string{"Failed password for root from fe80::1%enp3s0 port 22 ssh2"},
			[]string{"login/failure reason=bad_password user=root ip=fe80::1 port=22 method=password"}},
		{"ipv4 mapped", []string{"Failed password for root from ::ffff:192.0.2.44 port 22 ssh2"},
			[]string{"login/failure reason=bad_password user=root ip=192.0.2.44 port=22 method=password"}},
		{"ipv6 long form", []string{"Invalid user x from 2001:0db8:0000:0000:0000:0000:0000:0001 port 22"},
			[]string{"login/failure reason=invalid_user user=x ip=2001:db8::1 port=22"}},
		{"ipv6 loopback", []string{"Accepted password for x from ::1 port 22 ssh2"},
			[]string{"login/success user=x ip=::1 port=22 method=password"}},

		// Dropbear.
		{"dropbear bad password", []string{"Bad password attempt for 'root' from ::ffff:198.51.100.23:55990"},
			[]string{"login/failure reason=bad_password user=root ip=198.51.100.23 port=55990 method=password"}},
		{"dropbear ipv6", []string{"Bad PAM password attempt for 'user23' from 2001:db8::1:5599"},
			[]string{"login/failure reason=bad_password user=user23 ip=2001:db8::1 port=5599 method=password"}},
		{"dropbear nonexistent", []string{"Login attempt for nonexistent user from 198.51.100.23:60794"},
			[]string{"login/failure reason=invalid_user ip=198.51.100.23 port=60794"}},
		{"dropbear nonexistent named", []string{"Login attempt for nonexistent user 'guest' from 198.51.100.23:60795"},
			[]string{"login/failure reason=invalid_user user=guest ip=198.51.100.23 port=60795"}},
		{"dropbear exit before auth", []string{"Exit before auth from <::ffff:198.51.100.23:46154>: (user 'root', 0 fails): Exited normally"},
			[]string{"login_probe/unknown reason=preauth_close user=root ip=198.51.100.23 port=46154"}},
		{"dropbear max tries", []string{"Exit before auth from <198.51.100.23:46155>: (user 'root', 10 fails): Max auth tries reached - user 'root'"},
			[]string{"login_probe/unknown reason=max_attempts user=root ip=198.51.100.23 port=46155"}},
		{"dropbear success", []string{
			"Password auth succeeded for 'admin' from 192.0.2.81:41234",
			"Pubkey auth succeeded for 'root' with ssh-ed25519 key SHA256:abc from 192.0.2.82:41235",
			"Exit (admin) from <192.0.2.81:41234>: Disconnect received",
			"Child connection from 192.0.2.83:41236",
		}, []string{
			"login/success user=admin ip=192.0.2.81 port=41234 method=password",
			"login/success user=root ip=192.0.2.82 port=41235 method=publickey key_fp=SHA256:abc",
			"logout/success user=admin ip=192.0.2.81 port=41234",
			"login_probe/unknown reason=connect ip=192.0.2.83 port=41236",
		}},

		// Attempts that span lines: one attempt is one failure.
		{"invalid user then failed is one attempt", []string{
			"Invalid user oracle from 198.51.100.23 port 61240",
			"Failed none for invalid user oracle from 198.51.100.23 port 61240 ssh2",
			"Failed password for invalid user oracle from 198.51.100.23 port 61240 ssh2",
			"Failed password for invalid user oracle from 198.51.100.23 port 61240 ssh2",
		}, []string{
			"login/failure reason=invalid_user user=oracle ip=198.51.100.23 port=61240",
			"login_probe/unknown reason=auth_none user=oracle ip=198.51.100.23 port=61240 method=none",
			"login_probe/unknown reason=invalid_user user=oracle ip=198.51.100.23 port=61240 method=password",
			"login/failure reason=invalid_user user=oracle ip=198.51.100.23 port=61240 method=password",
		}},
		{"not allowed then failed is one attempt", []string{
			"User mario from 198.51.100.23 not allowed because listed in DenyUsers",
			"Failed password for invalid user mario from 198.51.100.23 port 61241 ssh2",
		}, []string{
			"login/failure reason=not_allowed user=mario ip=198.51.100.23",
			"login_probe/unknown reason=invalid_user user=mario ip=198.51.100.23 port=61241 method=password",
		}},
		{"root refused then failed is one attempt", []string{
			"ROOT LOGIN REFUSED FROM 198.51.100.23 port 61242 [preauth]",
			"Failed password for root from 198.51.100.23 port 61242 ssh2",
			"Failed password for root from 198.51.100.23 port 61242 ssh2",
		}, []string{
			"login/failure reason=root_refused user=root ip=198.51.100.23 port=61242",
			"login_probe/unknown reason=root_refused user=root ip=198.51.100.23 port=61242 method=password",
			"login/failure reason=bad_password user=root ip=198.51.100.23 port=61242 method=password",
		}},
		{"invalid user pending does not hide a valid user's failure", []string{
			"Invalid user oracle from 198.51.100.23 port 61240",
			"Failed password for root from 198.51.100.23 port 61240 ssh2",
		}, []string{
			"login/failure reason=invalid_user user=oracle ip=198.51.100.23 port=61240",
			"login/failure reason=bad_password user=root ip=198.51.100.23 port=61240 method=password",
		}},
		{"connection end forgets the pid", []string{
			"Invalid user oracle from 198.51.100.23 port 61240",
			"Connection closed by invalid user oracle 198.51.100.23 port 61240 [preauth]",
			"Failed password for invalid user oracle from 198.51.100.24 port 61250 ssh2",
		}, []string{
			"login/failure reason=invalid_user user=oracle ip=198.51.100.23 port=61240",
			"login_probe/unknown reason=preauth_close user=oracle ip=198.51.100.23 port=61240",
			"login/failure reason=invalid_user user=oracle ip=198.51.100.24 port=61250 method=password",
		}},
		{"message repeated", []string{
			"message repeated 3 times: [ Failed password for root from 198.51.100.23 port 61234 ssh2]",
		}, []string{
			"login/failure reason=bad_password user=root ip=198.51.100.23 port=61234 method=password repeated=3",
			"login/failure reason=bad_password user=root ip=198.51.100.23 port=61234 method=password repeated=3",
			"login/failure reason=bad_password user=root ip=198.51.100.23 port=61234 method=password repeated=3",
		}},
		{"message repeated after invalid user", []string{
			"Invalid user oracle from 198.51.100.23 port 61240",
			"message repeated 2 times: [ Failed password for invalid user oracle from 198.51.100.23 port 61240 ssh2]",
		}, []string{
			"login/failure reason=invalid_user user=oracle ip=198.51.100.23 port=61240",
			"login_probe/unknown reason=invalid_user user=oracle ip=198.51.100.23 port=61240 method=password repeated=2",
			"login/failure reason=invalid_user user=oracle ip=198.51.100.23 port=61240 method=password repeated=2",
		}},
		{"partial then accepted is multi-step", []string{
			"Partial publickey for jdoe from 10.20.4.17 port 53200 ssh2: ED25519 SHA256:q3Vb",
			"Postponed keyboard-interactive for jdoe from 10.20.4.17 port 53200 ssh2 [preauth]",
			"Accepted keyboard-interactive/pam for jdoe from 10.20.4.17 port 53200 ssh2",
			"Accepted password for jdoe from 10.20.4.17 port 53201 ssh2",
		}, []string{
			"login_probe/unknown reason=partial_auth user=jdoe ip=10.20.4.17 port=53200 method=publickey key_fp=SHA256:q3Vb key_type=ED25519",
			"login_probe/unknown reason=postponed user=jdoe ip=10.20.4.17 port=53200 method=keyboard-interactive",
			"login/success user=jdoe ip=10.20.4.17 port=53200 method=keyboard-interactive mfa=multi_step auth_submethod=pam",
			"login/success user=jdoe ip=10.20.4.17 port=53201 method=password",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var texts []string
			for _, m := range tc.in {
				texts = append(texts, pre+m)
			}
			evs, errs := sshLines(t, NewSSHD(Options{Location: time.UTC}), texts...)
			for i, err := range errs {
				if err != nil {
					t.Fatalf("Parse(%q) error: %v", texts[i], err)
				}
			}
			var got []string
			for _, ev := range evs {
				got = append(got, sshSummary(ev))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// TestSSHDPidMemoryIsPerHostAndTimed checks that the per-pid memory does not
// join lines of two machines, or of one pid reused much later.
func TestSSHDPidMemoryIsPerHostAndTimed(t *testing.T) {
	evs, _ := sshLines(t, NewSSHD(Options{Location: time.UTC}),
		"Mar  3 09:17:08 hd1 sshd[100]: Invalid user oracle from 198.51.100.23 port 61240",
		"Mar  3 09:17:09 hd2 sshd[100]: Failed password for invalid user oracle from 198.51.100.23 port 61240 ssh2",
		"Mar  3 09:47:09 hd1 sshd[100]: Failed password for invalid user oracle from 198.51.100.23 port 61240 ssh2",
	)
	for _, ev := range evs {
		if ev.Action != event.ActionLogin || ev.Outcome != event.OutcomeFailure {
			t.Errorf("%q: %s/%s, want login/failure", ev.Raw, ev.Action, ev.Outcome)
		}
	}
}

// TestSSHDPidMemoryIsBounded fills the memory past its cap: the oldest pid
// is forgotten, the newest remembered.
func TestSSHDPidMemoryIsBounded(t *testing.T) {
	p := NewSSHD(Options{Location: time.UTC})
	var texts []string
	for pid := range sshPidCap + 10 {
		texts = append(texts, "Mar  3 09:17:08 hd1 sshd["+strconv.Itoa(pid)+"]: Invalid user x from 198.51.100.23 port 1")
	}
	sshLines(t, p, texts...)
	if n := len(p.pids.m); n != sshPidCap {
		t.Fatalf("memory holds %d pids, want the cap %d", n, sshPidCap)
	}
	evs, _ := sshLines(t, p,
		"Mar  3 09:17:09 hd1 sshd[0]: Failed password for invalid user x from 198.51.100.23 port 1 ssh2",
		"Mar  3 09:17:09 hd1 sshd["+strconv.Itoa(sshPidCap+9)+"]: Failed password for invalid user x from 198.51.100.23 port 1 ssh2",
	)
	if got := evs[0].Action; got != event.ActionLogin {
		t.Errorf("evicted pid: action %s, want login", got)
	}
	if got := evs[1].Action; got != event.ActionLoginProbe {
		t.Errorf("remembered pid: action %s, want login_probe", got)
	}
}

// TestSSHDEnvelope checks the fields every event gets from the line.
func TestSSHDEnvelope(t *testing.T) {
	p := NewSSHD(Options{Location: time.UTC})
	ln := ingest.Line{Source: "auth", File: event.FileID{Dev: 1, Inode: 2}, Offset: 4096, Time: sshRef,
		Text: "Mar  3 09:17:40 hd1 sshd[20440]: message repeated 2 times: [ Failed password for root from 198.51.100.23 port 61234 ssh2]"}
	evs, err := p.Parse(ln, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2", len(evs))
	}
	for i, ev := range evs {
		want := event.Event{
			Ts: time.Date(2025, 3, 3, 9, 17, 40, 0, time.UTC), Host: "hd1", Kind: event.KindAuth, Source: "auth",
			Parser: "sshd", Program: "sshd", Action: event.ActionLogin, Outcome: event.OutcomeFailure,
			Reason: "bad_password", AuthMethod: "password", User: "root",
			SrcIP: netip.MustParseAddr("198.51.100.23"), SrcPort: 61234, Message: "Failed password for root from 198.51.100.23 port 61234 ssh2",
			PID: 20440, Attrs: map[string]string{"repeated": "2"}, Raw: ln.Text,
			EventID: event.NewID("auth", ln.File, 4096, i),
		}
		if diff := cmp.Diff(want, ev, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
			cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("event %d mismatch (-want +got):\n%s", i, diff)
		}
	}
	evs[0].Attrs["x"] = "y"
	if _, shared := evs[1].Attrs["x"]; shared {
		t.Error("repeated events share their Attrs map")
	}
}

func TestSSHDOtherProgramsAndRefusals(t *testing.T) {
	tests := []struct {
		in      string
		want    string // Program/Action, or "" for ErrNoMatch
		wantMsg string
	}{
		{"Mar  3 09:31:00 hd1 sudo[21000]: pam_unix(sudo:auth): authentication failure; logname=jdoe uid=1000 euid=0 tty=/dev/pts/0 ruser=jdoe rhost=  user=jdoe",
			"sudo/other", "pam_unix(sudo:auth): authentication failure; logname=jdoe uid=1000 euid=0 tty=/dev/pts/0 ruser=jdoe rhost=  user=jdoe"},
		{"Mar  3 09:32:01 hd1 CRON[21010]: pam_unix(cron:session): session closed for user root", "CRON/other", "pam_unix(cron:session): session closed for user root"},
		{"Mar  3 09:51:00 hd1 kernel: [12345.678901] audit: type=1400", "kernel/other", "[12345.678901] audit: type=1400"},
		{"Mar  3 09:51:00 hd1 /usr/sbin/sshd[7]: Failed password for x from 192.0.2.1 port 2 ssh2", "sshd/login", "Failed password for x from 192.0.2.1 port 2 ssh2"},
		{"Invalid user inexu from 6.6.6.0", "sshd/login", "Invalid user inexu from 6.6.6.0"},
		{"this is not a log line at all", "", ""},
		{"", "", ""},
		{"Mar  3 09:51:00", "", ""},
		{"2025-03-03T09:51:00Z just some text", "", ""},
		{`{"time":"2025-03-03T09:26:10+00:00","remote_addr":"198.51.100.77"}`, "", ""},
		{`{"MESSAGE":`, "", ""},
		{`198.51.100.77 - - [03/Mar/2025:09:20:11 +0000] "GET / HTTP/1.1" 200 1 "-" "-"`, "", ""},
		{`2025/03/03 09:20:11 [error] 1187#1187: *5521 access forbidden by rule`, "", ""},
	}
	for _, tc := range tests {
		p := NewSSHD(Options{Location: time.UTC})
		dst := []event.Event{{Action: "sentinel"}}
		evs, err := p.Parse(ingest.Line{Text: tc.in, Time: sshRef}, dst)
		if tc.want == "" {
			if !errors.Is(err, ingest.ErrNoMatch) || len(evs) != 1 {
				t.Errorf("Parse(%q) = %d events, %v; want dst unchanged and ErrNoMatch", tc.in, len(evs), err)
			}
			continue
		}
		if err != nil || len(evs) != 2 {
			t.Errorf("Parse(%q) = %d events, %v; want one more event", tc.in, len(evs), err)
			continue
		}
		ev := evs[1]
		if got := ev.Program + "/" + ev.Action; got != tc.want || ev.Message != tc.wantMsg || ev.Raw != tc.in {
			t.Errorf("Parse(%q) = %s, message %q; want %s, message %q", tc.in, got, ev.Message, tc.want, tc.wantMsg)
		}
	}
}

// TestSSHDGolden parses testdata/sshd.log as one file and compares the
// events with testdata/sshd.golden.json (regenerate with -update).
func TestSSHDGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/sshd.log")
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	p := NewSSHD(Options{Location: time.UTC})
	type result struct {
		Line   int              `json:"line"`
		Input  string           `json:"input"`
		Error  string           `json:"error,omitempty"`
		Events []map[string]any `json:"events,omitempty"`
	}
	var out []result
	var off int64
	for i, text := range texts {
		ln := ingest.Line{Source: "auth", Path: "testdata/sshd.log", Offset: off, Text: text, Time: sshRef}
		off += int64(len(text)) + 1
		evs, err := p.Parse(ln, nil)
		r := result{Line: i + 1, Input: text}
		if err != nil {
			r.Error = err.Error()
		}
		for _, ev := range evs {
			if ev.Raw != text {
				t.Errorf("line %d: Raw = %q, want the line", i+1, ev.Raw)
			}
			r.Events = append(r.Events, goldenEvent(t, ev))
		}
		out = append(out, r)
	}
	got, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	const golden = "testdata/sshd.golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("events differ from %s (run with -update and review the diff):\n%s", golden, cmp.Diff(string(want), string(got)))
	}
}

// goldenEvent returns ev's JSON object without empty values and without
// raw (the input is beside it), so that the golden file stays readable.
func goldenEvent(t *testing.T, ev event.Event) map[string]any {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "raw")
	for k, v := range m {
		switch v {
		case "", float64(0), false, nil:
			delete(m, k)
		}
	}
	return m
}

// FuzzParseSSHD feeds the parser one or more lines (split at newlines) and
// checks its promises: no panic, and every accepted line yields events with
// a time, the raw line, a valid (unmapped, zone-free) address if any, and a
// unique event ID; a refused line yields ErrNoMatch and no event.
func FuzzParseSSHD(f *testing.F) {
	for _, path := range []string{"testdata/sshd.log", sshguardCorpus} {
		fh, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			f.Add(sc.Text())
		}
		fh.Close()
	}
	f.Add("Mar  3 09:17:08 hd1 sshd[1]: Invalid user x from 192.0.2.1 port 1\nMar  3 09:17:08 hd1 sshd[1]: message repeated 2 times: [ Failed password for invalid user x from 192.0.2.1 port 1 ssh2]")
	f.Add("Mar  3 09:17:08 hd1 sshd[1]: Partial publickey for x from 192.0.2.1 port 1 ssh2\nMar  3 09:17:08 hd1 sshd[1]: Accepted password for x from 192.0.2.1 port 1 ssh2")
	f.Fuzz(func(t *testing.T, in string) {
		p := NewSSHD(Options{Location: time.UTC})
		ids := map[event.ID]bool{}
		var off int64
		for text := range strings.SplitSeq(in, "\n") {
			ln := ingest.Line{Source: "fuzz", Offset: off, Text: text, Time: sshRef}
			off += int64(len(text)) + 1
			evs, err := p.Parse(ln, nil)
			if err != nil {
				if !errors.Is(err, ingest.ErrNoMatch) || len(evs) != 0 {
					t.Fatalf("Parse(%q) = %d events, %v; want none and ErrNoMatch", text, len(evs), err)
				}
				continue
			}
			if len(evs) == 0 || len(evs) > sshMaxRepeat {
				t.Fatalf("Parse(%q) = %d events", text, len(evs))
			}
			for _, ev := range evs {
				if ev.Ts.IsZero() || ev.Raw != text || ev.Parser != "sshd" || ev.Kind != event.KindAuth || ev.Action == "" {
					t.Fatalf("Parse(%q) gave an incomplete event %+v", text, ev)
				}
				if ev.SrcIP != (ev.SrcIP.Unmap().WithZone("")) {
					t.Fatalf("Parse(%q): address %v is mapped or has a zone", text, ev.SrcIP)
				}
				if ev.Action == event.ActionLoginProbe && !ev.SrcIP.IsValid() {
					t.Fatalf("Parse(%q): login_probe without an address", text)
				}
				if ids[ev.EventID] {
					t.Fatalf("Parse(%q): repeated event ID", text)
				}
				ids[ev.EventID] = true
			}
		}
	})
}

// sshBenchLines is a typical mix of an internet-facing sshd's auth.log.
var sshBenchLines = []string{
	"Mar  3 09:17:08 hd1 sshd[20441]: Invalid user oracle from 198.51.100.23 port 61240",
	"Mar  3 09:17:09 hd1 sshd[20441]: Failed password for invalid user oracle from 198.51.100.23 port 61240 ssh2",
	"Mar  3 09:17:10 hd1 sshd[20441]: Connection closed by invalid user oracle 198.51.100.23 port 61240 [preauth]",
	"Mar  3 09:17:11 hd1 sshd[20442]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.24  user=root",
	"Mar  3 09:17:12 hd1 sshd[20442]: Failed password for root from 198.51.100.24 port 61250 ssh2",
	"Mar  3 09:17:13 hd1 sshd[20442]: Received disconnect from 198.51.100.24 port 61250:11: Bye Bye [preauth]",
	"Mar  3 09:17:14 hd1 sshd[20442]: Disconnected from authenticating user root 198.51.100.24 port 61250 [preauth]",
	"Mar  3 09:17:15 hd1 sshd[20450]: Accepted publickey for deploy from 10.20.4.30 port 40022 ssh2: ED25519 SHA256:q3VbM1bqS0xZ8m2v7Wc3o0m6y0N7T1r9cK2xQf4uD5E",
	"Mar  3 09:17:15 hd1 sshd[20450]: pam_unix(sshd:session): session opened for user deploy(uid=1001) by (uid=0)",
	"2025-03-03T09:17:16.114523+00:00 hd2 sshd[3100]: Failed password for invalid user test from 192.0.2.50 port 40000 ssh2",
}

func BenchmarkParseSSHD(b *testing.B) {
	p := NewSSHD(Options{Location: time.UTC})
	lines := make([]ingest.Line, len(sshBenchLines))
	for i, text := range sshBenchLines {
		lines[i] = ingest.Line{Source: "auth", Offset: int64(i) * 120, Text: text, Time: sshRef}
	}
	var dst []event.Event
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, ln := range lines {
			dst, _ = p.Parse(ln, dst[:0])
		}
		n += len(lines)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/line")
}
