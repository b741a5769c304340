package parse

import (
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/ingest"
)

// formats lists the format names New accepts, in the order Formats gives.
var formats = []string{"sshd", "access", "errorlog", "audit", "regex", "auto"}

// Formats returns the names of the formats New accepts.
func Formats() []string { return append([]string(nil), formats...) }

// New returns a parser of the named format: sshd, access, errorlog, audit,
// regex or auto. Settings that do not fit the format are ignored; settings
// it needs that are wrong (an audit mapping naming an unknown field, a
// regex that does not compile) are errors. For auto, the audit mapping is
// checked too, since auto may send lines to the audit parser.
func New(format string, opts Options) (ingest.Parser, error) {
	switch format {
	case "sshd":
		return NewSSHD(opts), nil
	case "access":
		return NewAccess(opts), nil
	case "errorlog":
		return NewErrorLog(opts), nil
	case "audit":
		return NewAudit(opts)
	case "regex":
		return NewRegex(opts)
	case "auto":
		if err := opts.Audit.Validate(); err != nil {
			return nil, err
		}
		return NewAuto(opts), nil
	}
	return nil, fmt.Errorf("unknown log format %q (valid: %s)", format, strings.Join(formats, ", "))
}
