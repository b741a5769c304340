package event

import "testing"

func TestSeverityOrder(t *testing.T) {
	order := []Severity{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}
	for i, s := range order {
		if s.Rank() != i {
			t.Errorf("%s.Rank() = %d, want %d", s, s.Rank(), i)
		}
		got, err := ParseSeverity(" " + string(s) + " ")
		if err != nil || got != s {
			t.Errorf("ParseSeverity(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseSeverity("urgent"); err == nil {
		t.Error("ParseSeverity(urgent) succeeded")
	}
	if Severity("x").Rank() != -1 {
		t.Error("unknown severity ranked")
	}
}

func TestGroupKey(t *testing.T) {
	a := Alert{Group: map[string]string{"user": "bob", "src_ip": "203.0.113.7", "host": "web1"}}
	if got, want := a.GroupKey(), "host=web1,src_ip=203.0.113.7,user=bob"; got != want {
		t.Errorf("GroupKey() = %q, want %q", got, want)
	}
	if got := GroupKeyOf(nil); got != "" {
		t.Errorf("GroupKeyOf(nil) = %q", got)
	}
}
