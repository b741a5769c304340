package parse

import (
	"strings"

	"github.com/vigil-sec/vigil/ingest"
	"github.com/vigil-sec/vigil/internal/event"
)

// Auto recognises the format of each line by a cheap look at its start and
// hands it to the parser of that format:
//
//	{ ... "MESSAGE" ... }                  journalctl -o json: sshd
//	{ ... "request" or "remote_addr" ... } JSON access log: access
//	{ ... }                                anything else in JSON: audit
//	[Mon Mar 03 ...                        apache error log: errorlog
//	2025/03/03 09:20:11 ...                nginx error log: errorlog
//	[vhost] ip ident user [03/Mar/2025:... access log: access
//	a syslog header, or a bare sshd line   sshd
//
// Anything else is refused with ingest.ErrNoMatch. Auto holds one parser of
// each format, so state such as sshd's per-pid memory carries from line to
// line; events name the parser that made them, never "auto". The regex
// format is never guessed.
type Auto struct {
	sshd     *SSHD
	access   *Access
	errorlog *ErrorLog
	audit    *Audit
	auditErr error // why the audit mapping is unusable; New reports it up front
}

var _ ingest.Parser = (*Auto)(nil)

// NewAuto returns a parser that recognises the format per line. An invalid
// opts.Audit makes audit lines fail; New("auto", ...) reports it instead.
func NewAuto(opts Options) *Auto {
	a := &Auto{sshd: NewSSHD(opts), access: NewAccess(opts), errorlog: NewErrorLog(opts)}
	a.audit, a.auditErr = NewAudit(opts)
	return a
}

// Name returns "auto".
func (a *Auto) Name() string { return "auto" }

// Parse appends the events of one line, as the parser of its format reads
// it, to dst.
func (a *Auto) Parse(ln ingest.Line, dst []event.Event) ([]event.Event, error) {
	s := strings.TrimLeft(ln.Text, " \t")
	switch {
	case strings.HasPrefix(s, "{"):
		switch {
		case strings.Contains(s, `"MESSAGE"`):
			return a.sshd.Parse(ln, dst)
		case strings.Contains(s, `"request"`) || strings.Contains(s, `"remote_addr"`):
			return a.access.Parse(ln, dst)
		case a.audit == nil:
			return dst, noMatch("audit", a.auditErr.Error())
		}
		return a.audit.Parse(ln, dst)
	case strings.HasPrefix(s, "[") || isNginxStamp(s):
		return a.errorlog.Parse(ln, dst)
	case looksLikeAccess(s):
		return a.access.Parse(ln, dst)
	case LooksLikeSyslog(s):
		return a.sshd.Parse(ln, dst)
	}
	// The sshd parser also takes a bare sshd message without a header.
	if out, err := a.sshd.Parse(ln, dst); err == nil {
		return out, nil
	}
	return dst, noMatch("auto", "no known format")
}

// looksLikeAccess reports whether the first '[' of s, within the first
// 1 KiB, follows a space and opens a common log format time: the shape of
// `ip - user [03/Mar/2025:09:20:11 +0000]`, with or without a vhost.
func looksLikeAccess(s string) bool {
	if len(s) > 1024 {
		s = s[:1024]
	}
	i := strings.IndexByte(s, '[')
	return i > 0 && s[i-1] == ' ' && isCLFStamp(s, i)
}
