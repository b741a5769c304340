package slack

import (
	"encoding/json"
	"testing"

	"github.com/vigil-sec/vigil/internal/event"
)

func BenchmarkRender(b *testing.B) {
	one := []event.Alert{hostileAlert()}
	many := make([]event.Alert, 100)
	for i := range many {
		many[i] = hostileAlert()
	}
	for name, alerts := range map[string][]event.Alert{"one": one, "list100": many} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, blocks := render(alerts, false)
				if _, err := json.Marshal(blocks); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
