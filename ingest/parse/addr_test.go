package parse

import "testing"

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"198.51.100.23", "198.51.100.23", true},
		{"2001:db8::a11:beef:7ac0", "2001:db8::a11:beef:7ac0", true},
		{"2001:db8::a11:beef:7ac0%enp3s0", "2001:db8::a11:beef:7ac0", true},
		{"fe80::1%lo", "fe80::1", true},
		{"::ffff:10.42.42.135", "10.42.42.135", true},
		{"[2001:db8::1]", "2001:db8::1", true},
		{"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1", true},
		{"::1", "::1", true},
		{"", "", false},
		{"host.example.com", "", false},
		{"300.1.1.1", "", false},
		{"%eth0", "", false},
	}
	for _, tc := range tests {
		a, ok := ParseAddr(tc.in)
		if ok != tc.ok || (ok && a.String() != tc.want) {
			t.Errorf("ParseAddr(%q) = %v, %v; want %q, %v", tc.in, a, ok, tc.want, tc.ok)
		}
	}
}
