package alert

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSend measures Send up to durability (an fsynced outbox
// record), with no receiver running.
func BenchmarkSend(b *testing.B) {
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("senders=%d", par), func(b *testing.B) {
			d, err := NewDispatcher(Config{StateDir: b.TempDir(), GroupWait: time.Hour}, []Receiver{{Notifier: newRecorder("r")}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			a := testAlert("ssh-bf", "203.0.113.7", 5, time.Unix(1700000000, 0))
			b.ReportAllocs()
			b.SetParallelism(par)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := d.Send(a); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkApplyPII(b *testing.B) {
	a := testAlert("ssh-bf", "203.0.113.7", 5, time.Unix(1700000000, 0))
	a.Evidence = []string{
		"Mar  1 12:00:00 h sshd[1]: Failed password for alice from 203.0.113.7 port 22 ssh2",
		"Mar  1 12:00:01 h sshd[1]: Failed password for alice from 203.0.113.7 port 22 ssh2",
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = ApplyPII(a, PIIMask)
	}
}
