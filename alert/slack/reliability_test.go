package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/secret"
)

// blockText joins every text of a message's blocks.
func blockText(t *testing.T, raw json.RawMessage) string {
	var blocks []struct {
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
		Fields []struct {
			Text string `json:"text"`
		} `json:"fields"`
		Elements []struct {
			Text string `json:"text"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(raw, &blocks); err != nil {
		t.Fatalf("blocks: %v", err)
	}
	var b strings.Builder
	for _, bl := range blocks {
		if bl.Text != nil {
			b.WriteString(bl.Text.Text + "\n")
		}
		for _, f := range bl.Fields {
			b.WriteString(f.Text + "\n")
		}
		for _, e := range bl.Elements {
			b.WriteString(e.Text + "\n")
		}
	}
	return b.String()
}

var (
	listLine   = regexp.MustCompile("• (?:\\*\\w+\\* · )?`([0-9.]+)`[^\n]*? count (\\d+)")
	detailIP   = regexp.MustCompile("\\*Source\\*\n`([0-9.]+)`")
	detailCnt  = regexp.MustCompile("\\*Count\\*\n(\\d+)")
	ruleInText = regexp.MustCompile("rule `([a-z0-9-]+)`")
)

type version struct {
	ip    string
	count int
}

// versionsIn returns the (address, count) pairs a message reports.
func versionsIn(t *testing.T, p post) []version {
	txt := blockText(t, p.Blocks)
	var out []version
	for _, m := range listLine.FindAllStringSubmatch(txt, -1) {
		c, _ := strconv.Atoi(m[2])
		out = append(out, version{m[1], c})
	}
	if len(out) == 0 {
		ip, cnt := detailIP.FindStringSubmatch(txt), detailCnt.FindStringSubmatch(txt)
		if ip == nil || cnt == nil {
			t.Fatalf("cannot read the alerts of message:\n%s", txt)
		}
		c, _ := strconv.Atoi(cnt[1])
		out = append(out, version{ip[1], c})
	}
	return out
}

// TestReliability runs the dispatcher against a Slack that answers 429
// (Retry-After: 1), then 500 for a while, then 200 with a 500 now and
// then: every version of every alert is posted exactly once, in order,
// updates in the alert's thread.
func TestReliability(t *testing.T) {
	f := newFakeSlack(t)
	var mu sync.Mutex
	var rateLimitedAt, afterRateLimit time.Time
	f.answer = func(n int, w http.ResponseWriter) bool {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case n == 1:
			rateLimitedAt = time.Now()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		case n == 2:
			afterRateLimit = time.Now()
			fallthrough
		case n <= 6 || n%4 == 0:
			http.Error(w, "upstream trouble", http.StatusInternalServerError)
			return true
		}
		return false
	}
	n, err := New(Config{Name: "slack-test", Token: secret.New("xoxb-test"), Channel: "C0VIGIL",
		APIURL: f.srv.URL + "/api/", StateDir: t.TempDir(), MinInterval: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := alert.NewDispatcher(alert.Config{StateDir: t.TempDir(), GroupWait: 20 * time.Millisecond,
		GroupInterval: 50 * time.Millisecond, RetryInitial: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond},
		[]alert.Receiver{n.Receiver()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- d.Run(ctx) }()

	rules := []string{"ssh-bf", "web-scan", "admin-login"}
	mk := func(rule string, host, count int) event.Alert {
		ip := fmt.Sprintf("10.%d.0.%d", len(rule), host)
		return event.Alert{ID: rule + "-" + ip, Rule: rule, Title: rule, Severity: event.SeverityHigh, State: event.AlertFiring,
			Count: uint64(count), Group: map[string]string{"src_ip": ip}, SrcIP: netip.MustParseAddr(ip), User: "alice",
			FirstTs: time.Unix(1700000000, 0), LastTs: time.Unix(1700000000+int64(count), 0), Summary: "attack"}
	}
	want := map[version]bool{}
	latest := map[string]int{}
	// Round r sends version r of hosts 1..3, and host 4 from round 2 on.
	for round := 1; round <= 3; round++ {
		for _, rule := range rules {
			for host := 1; host <= 4; host++ {
				if host == 4 && round == 1 {
					continue
				}
				a := mk(rule, host, round)
				if err := d.Send(a); err != nil {
					t.Fatal(err)
				}
				want[version{a.SrcIP.String(), round}] = true
				latest[a.SrcIP.String()] = round
			}
		}
		// Wait until Slack has every version of this round.
		deadline := time.After(2 * time.Minute)
		for {
			got := map[version]bool{}
			for _, p := range f.all() {
				for _, v := range versionsIn(t, p) {
					got[v] = true
				}
			}
			missing := 0
			for v := range want {
				if v.count == round && !got[v] {
					missing++
				}
			}
			if missing == 0 {
				break
			}
			select {
			case <-f.seen:
			case <-deadline:
				t.Fatalf("round %d: %d versions never reached Slack; posts: %d", round, missing, len(f.all()))
			}
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-runDone

	posts := f.all()
	seen := map[version]int{}
	firstTS := map[string]string{} // ip -> ts of the first message about it
	last := map[string]int{}
	for _, p := range posts {
		for _, v := range versionsIn(t, p) {
			seen[v]++
			if v.count <= last[v.ip] {
				t.Errorf("%s: count %d posted after %d", v.ip, v.count, last[v.ip])
			}
			last[v.ip] = v.count
			if ts, ok := firstTS[v.ip]; !ok {
				if p.ThreadTS != "" {
					t.Errorf("%s: first message is a thread reply", v.ip)
				}
				firstTS[v.ip] = p.TS
			} else if p.ThreadTS != ts {
				t.Errorf("%s: update posted with thread_ts %q, want %q", v.ip, p.ThreadTS, ts)
			}
		}
	}
	for v, c := range seen {
		if c != 1 {
			t.Errorf("%v posted %d times", v, c)
		}
		if !want[v] {
			t.Errorf("%v posted but never sent", v)
		}
	}
	for ip, c := range latest {
		if last[ip] != c {
			t.Errorf("%s: last posted count %d, want %d", ip, last[ip], c)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if gap := afterRateLimit.Sub(rateLimitedAt); gap < time.Second {
		t.Errorf("retried %s after a 429 with Retry-After: 1", gap)
	}
	if st := d.Stats(); st.Retries < 6 || st.Failed != 0 || st.Pending != 0 {
		t.Errorf("Stats = %+v, want >= 6 retries, none failed or pending", st)
	}
}

// TestStormSlack: 2,000 alerts of one rule become one Slack message.
func TestStormSlack(t *testing.T) {
	f := newFakeSlack(t)
	n, err := New(Config{Token: secret.New("xoxb-test"), Channel: "C0VIGIL", APIURL: f.srv.URL + "/api/", MinInterval: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := alert.NewDispatcher(alert.Config{StateDir: t.TempDir(), GroupWait: time.Hour, GroupInterval: time.Hour},
		[]alert.Receiver{n.Receiver()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < 2000; i += 4 {
				ip := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
				a := event.Alert{ID: ip.String(), Rule: "ssh-bf", Title: "SSH brute force", Severity: event.SeverityHigh,
					Count: 8, Group: map[string]string{"src_ip": ip.String()}, SrcIP: ip}
				if err := d.Send(a); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := d.Close(); err != nil { // drains: flushes the group now
		t.Fatal(err)
	}
	<-done
	posts := f.all()
	if len(posts) != 1 {
		t.Fatalf("%d Slack messages for a storm of 2,000 alerts, want 1", len(posts))
	}
	txt := blockText(t, posts[0].Blocks)
	if !strings.Contains(txt, "1960 more not listed") || len(listLine.FindAllString(txt, -1)) != maxListed {
		t.Errorf("storm message:\n%s", txt)
	}
	if m := ruleInText.FindStringSubmatch(txt); m == nil || m[1] != "ssh-bf" {
		t.Errorf("storm message does not name the rule:\n%s", txt)
	}
	if st := d.Stats(); st.Notifications != 1 || st.Alerts != 2000 {
		t.Errorf("Stats = %+v", st)
	}
}
