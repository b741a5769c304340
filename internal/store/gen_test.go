package store

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// genStart is the time of the first generated event.
var genStart = time.Date(2026, time.March, 2, 8, 0, 0, 0, time.UTC)

var (
	genUsers     = []string{"root", "admin", "alice", "bob", "carol", "deploy", "oracle", "test", "ubuntu", "git"}
	genCountries = []string{"DE", "US", "CN", "RU", "BR", "NL", "FR", "VN"}
)

// sshdEvents returns n sshd events like the parser makes from auth.log,
// 20 ms apart from genStart, with IDs as if read from one file at offsets
// first*100, (first+1)*100, ...: failed passwords (60%), invalid users
// (25%), accepted logins (10%) and other lines (5%).
func sshdEvents(first, n int, seed uint64) []event.Event {
	r := rand.New(rand.NewPCG(seed, 7))
	evs := make([]event.Event, n)
	for i := range evs {
		k := first + i
		ip := netip.AddrFrom4([4]byte{203, 0, byte(r.IntN(4)), byte(1 + r.IntN(250))})
		user := genUsers[r.IntN(len(genUsers))]
		ts := genStart.Add(time.Duration(k) * 20 * time.Millisecond)
		port := uint16(1024 + r.IntN(60000))
		pid := uint32(1000 + r.IntN(30000))
		e := event.Event{
			Ts: ts, Host: "hd1", Kind: event.KindAuth, Source: "auth", Parser: "sshd", Program: "sshd", PID: pid,
			SrcIP: ip, SrcPort: port, SrcZone: event.ZoneExternal,
			GeoCountry: genCountries[int(ip.As4()[3])%len(genCountries)], ASN: 64500 + uint32(ip.As4()[2]),
			ASOrg: "Example Transit", User: user, AuthMethod: "password",
			EventID: event.NewID("auth", event.FileID{Dev: 1, Inode: 2}, int64(k)*100, 0),
		}
		switch p := r.IntN(100); {
		case p < 60:
			e.Action, e.Outcome, e.Reason = event.ActionLogin, event.OutcomeFailure, "bad_password"
			e.Message = fmt.Sprintf("Failed password for %s from %s port %d ssh2", user, ip, port)
		case p < 85:
			e.Action, e.Outcome, e.Reason = event.ActionLogin, event.OutcomeFailure, "invalid_user"
			e.Message = fmt.Sprintf("Invalid user %s from %s port %d", user, ip, port)
		case p < 95:
			e.Action, e.Outcome = event.ActionLogin, event.OutcomeSuccess
			e.UserRole = event.RoleUser
			e.Message = fmt.Sprintf("Accepted password for %s from %s port %d ssh2", user, ip, port)
			e.SetAttr("key_fp", fmt.Sprintf("SHA256:%08x", r.Uint32()))
		default:
			e.Action, e.Outcome = event.ActionLoginProbe, event.OutcomeUnknown
			e.Message = fmt.Sprintf("Connection closed by %s port %d [preauth]", ip, port)
		}
		e.Raw = ts.Format(time.Stamp) + " hd1 sshd[" + fmt.Sprint(pid) + "]: " + e.Message
		evs[i] = e
	}
	return evs
}
