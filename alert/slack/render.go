package slack

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/vigil-sec/vigil/alert"
	"github.com/vigil-sec/vigil/internal/event"
)

// Slack's limits (docs.slack.dev, Block Kit reference), and the caps we
// keep below them.
const (
	maxHeader       = 150  // header block text
	maxSection      = 3000 // section block text
	maxField        = 2000 // one section field
	maxFields       = 10   // fields per section
	maxBlocks       = 50   // blocks per message
	maxFallback     = 3000 // the notification text; Slack allows 40,000
	maxEvidence     = 2500 // the evidence code block
	evidenceLines   = 5
	maxEvidenceLine = 500
	maxListed       = 40 // alerts listed in one grouped message
)

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Escape makes s safe to show in Slack text: &, < and > become entities,
// so "<!channel>" or "<@U123>" from a log cannot ping anyone or become a
// link, and a zero-width space after '@' in @here, @channel and @everyone
// keeps those inert even where Slack parses bare mentions.
func Escape(s string) string {
	s = escaper.Replace(s)
	if !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] != '@' {
			continue
		}
		rest := strings.ToLower(s[i+1 : min(len(s), i+1+len("everyone"))])
		for _, w := range []string{"here", "channel", "everyone"} {
			if strings.HasPrefix(rest, w) {
				b.WriteString("\u200b")
				break
			}
		}
	}
	return b.String()
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut
// with an ellipsis. Slack counts characters; bytes are never fewer.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ell = "…"
	cut := n - len(ell)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	// Do not leave half an entity (&amp;) at the end.
	if amp := strings.LastIndexByte(s[:cut], '&'); amp >= 0 && amp > cut-6 && !strings.Contains(s[amp:cut], ";") {
		cut = amp
	}
	return s[:cut] + ell
}

func severityMark(a *event.Alert) string {
	if a.State == event.AlertResolved {
		return ":large_green_circle: RESOLVED"
	}
	mark := map[event.Severity]string{
		event.SeverityCritical: ":red_circle:", event.SeverityHigh: ":large_orange_circle:",
		event.SeverityMedium: ":large_yellow_circle:", event.SeverityLow: ":large_blue_circle:",
		event.SeverityInfo: ":white_circle:",
	}[a.Severity]
	if mark == "" {
		mark = ":white_circle:"
	}
	return mark + " " + strings.ToUpper(string(a.Severity))
}

func text(s string) *slack.TextBlockObject {
	// Verbatim: Slack must not turn names into links or mentions.
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

func header(s string) slack.Block {
	return slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, truncate(s, maxHeader), true, false))
}

func section(s string) slack.Block {
	return slack.NewSectionBlock(text(truncate(s, maxSection)), nil, nil)
}

// source describes the client: address, country, AS and verified host.
func source(a *event.Alert) string {
	ip := alert.AddrText(a)
	if ip == "" {
		return ""
	}
	s := "`" + Escape(ip) + "`"
	var extra []string
	if a.GeoCountry != "" {
		extra = append(extra, Escape(a.GeoCountry))
	}
	if a.ASN != 0 {
		as := fmt.Sprintf("AS%d", a.ASN)
		if a.ASOrg != "" {
			as += " " + Escape(a.ASOrg)
		}
		extra = append(extra, as)
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	if a.SrcHost != "" {
		s += "\n" + Escape(a.SrcHost) + " (verified)"
	}
	return s
}

func window(a *event.Alert) string {
	if a.FirstTs.IsZero() || a.LastTs.IsZero() || !a.LastTs.After(a.FirstTs) {
		return fmt.Sprintf("%d", a.Count)
	}
	return fmt.Sprintf("%d in %s", a.Count, a.LastTs.Sub(a.FirstTs).Round(time.Second))
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// detail renders one alert in full.
func detail(a *event.Alert, update bool) (string, []slack.Block) {
	title := severityMark(a) + " · " + a.Title
	if update && a.State != event.AlertResolved {
		title = "Update · " + title
	}
	blocks := []slack.Block{header(Escape(title))}
	if a.Summary != "" {
		blocks = append(blocks, section(Escape(a.Summary)))
	}
	var fields []*slack.TextBlockObject
	field := func(name, value string) {
		if value != "" && len(fields) < maxFields {
			fields = append(fields, text(truncate("*"+name+"*\n"+value, maxField)))
		}
	}
	field("Severity", Escape(string(a.Severity)))
	field("Rule", "`"+Escape(a.Rule)+"`")
	field("Source", source(a))
	if a.User != "" {
		field("User", "`"+Escape(a.User)+"`")
	}
	field("Count", window(a))
	if a.Host != "" {
		field("Host", Escape(a.Host))
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	if ev := evidence(a.Evidence); ev != "" {
		blocks = append(blocks, section(ev))
	}
	blocks = append(blocks, slack.NewContextBlock("", text(truncate(fmt.Sprintf("rule `%s` · alert `%s` · %s – %s",
		Escape(a.Rule), Escape(a.ID), stamp(a.FirstTs), stamp(a.LastTs)), maxSection))))
	fallback := fmt.Sprintf("[%s] %s: %s", strings.ToUpper(string(a.Severity)), a.Title, a.Summary)
	return truncate(Escape(fallback), maxFallback), blocks
}

// evidence returns the first lines of ev as a code block within
// maxEvidence characters.
func evidence(ev []string) string {
	if len(ev) == 0 {
		return ""
	}
	head := fmt.Sprintf("*Evidence* (first %d of %d lines)\n", min(len(ev), evidenceLines), len(ev))
	if len(ev) <= evidenceLines {
		head = "*Evidence*\n"
	}
	var b strings.Builder
	for i, l := range ev {
		if i == evidenceLines {
			break
		}
		line := truncate(Escape(strings.ReplaceAll(l, "```", "'''")), maxEvidenceLine)
		if b.Len()+len(line)+1 > maxEvidence {
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(line)
	}
	return head + "```" + b.String() + "```"
}

// oneLine renders an alert as a line in a list.
func oneLine(a *event.Alert, update bool) string {
	var parts []string
	if update {
		if a.State == event.AlertResolved {
			parts = append(parts, "*resolved*")
		} else {
			parts = append(parts, "*update*")
		}
	}
	if s := alert.AddrText(a); s != "" {
		p := "`" + Escape(s) + "`"
		if a.GeoCountry != "" {
			p += " " + Escape(a.GeoCountry)
		}
		parts = append(parts, p)
	}
	if a.User != "" {
		parts = append(parts, "user `"+Escape(a.User)+"`")
	}
	parts = append(parts, "count "+window(a))
	if !a.LastTs.IsZero() {
		parts = append(parts, "last "+stamp(a.LastTs))
	}
	if a.Summary != "" {
		parts = append(parts, truncate(Escape(a.Summary), 300))
	}
	return "• " + strings.Join(parts, " · ")
}

// list renders several alerts of one rule as one message: a header, then
// one line each for the first maxListed, packed into sections.
func list(alerts []event.Alert, update bool) (string, []slack.Block) {
	a0 := &alerts[0]
	title := fmt.Sprintf("%s · %s (%d alerts)", severityMark(a0), a0.Title, len(alerts))
	if update {
		title = fmt.Sprintf("Update · %s (%d alerts)", a0.Title, len(alerts))
	}
	blocks := []slack.Block{header(Escape(title))}
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			blocks = append(blocks, section(cur.String()))
			cur.Reset()
		}
	}
	for i := range alerts {
		if i == maxListed {
			break
		}
		line := oneLine(&alerts[i], update)
		if cur.Len()+len(line)+1 > maxSection {
			flush()
		}
		if cur.Len() > 0 {
			cur.WriteByte('\n')
		}
		cur.WriteString(line)
	}
	flush()
	more := ""
	if len(alerts) > maxListed {
		more = fmt.Sprintf("%d more not listed · ", len(alerts)-maxListed)
	}
	blocks = append(blocks, slack.NewContextBlock("", text(fmt.Sprintf("%srule `%s`", more, Escape(a0.Rule)))))
	if len(blocks) > maxBlocks {
		blocks = append(blocks[:maxBlocks-1], blocks[len(blocks)-1])
	}
	fallback := fmt.Sprintf("[%s] %s: %d alerts", strings.ToUpper(string(a0.Severity)), a0.Title, len(alerts))
	return truncate(Escape(fallback), maxFallback), blocks
}

// render renders alerts as one message: the full alert when there is one,
// a list otherwise.
func render(alerts []event.Alert, update bool) (string, []slack.Block) {
	if len(alerts) == 1 {
		return detail(&alerts[0], update)
	}
	return list(alerts, update)
}
