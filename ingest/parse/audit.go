package parse

// AuditMapping maps the fields of an application's JSON audit log onto event
// fields. (Filled in with the audit parser.)
type AuditMapping struct{}
