package alert

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

const crashChildEnv = "VIGIL_ALERT_CRASH_CHILD"

// TestCrashChild is the child process of TestKill9: it accepts one alert
// with a group_wait far away, says so, and waits to be killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("run by TestKill9")
	}
	r := newRecorder("hook")
	r.fail = func(int, []event.Alert) error {
		fmt.Println("delivered-in-child")
		return nil
	}
	d, err := NewDispatcher(Config{StateDir: dir, GroupWait: time.Hour}, []Receiver{{Notifier: r}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	go d.Run(context.Background())
	if err := d.Send(testAlert("ssh-bf", "203.0.113.9", 5, time.Unix(1700000000, 0))); err != nil {
		t.Fatal(err)
	}
	fmt.Println("accepted")
	select {} // until SIGKILL
}

// TestKill9 kills a process with SIGKILL after its dispatcher accepted an
// alert and before it delivered it; a restarted dispatcher on the same
// state directory delivers it exactly once, and a third start has nothing
// left to deliver.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var childSaw []string
	select {
	case l := <-lines:
		childSaw = append(childSaw, l)
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("child did not accept the alert")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		childSaw = append(childSaw, l)
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", err)
	}
	if strings.Join(childSaw, "|") != "accepted" {
		t.Fatalf("child printed %q, want only accepted", childSaw)
	}
	if fi, err := os.Stat(filepath.Join(dir, outboxDir, outboxFile)); err != nil || fi.Size() == 0 {
		t.Fatalf("outbox after the kill: %v, %v", fi, err)
	}

	for round, want := range []int{1, 0} {
		r := newRecorder("hook")
		d, err := NewDispatcher(Config{StateDir: dir}, []Receiver{{Notifier: r}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- d.Run(context.Background()) }()
		if want > 0 {
			waitNotified(t, r, want)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		<-done
		got := r.notifications()
		if len(got) != want {
			t.Fatalf("restart %d: %d notifications, want %d", round, len(got), want)
		}
		if want > 0 && (len(got[0]) != 1 || got[0][0].ID != "ssh-bf-203.0.113.9") {
			t.Errorf("restart %d delivered %v", round, got[0])
		}
	}
}

// TestOutboxTornTail: a record cut short by a crash and garbage after it
// are discarded; the records before it survive.
func TestOutboxTornTail(t *testing.T) {
	dir := t.TempDir()
	logs := &lockedBuffer{}
	ob, _, err := openOutbox(dir, testLogger(logs))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		a := testAlert("r", fmt.Sprintf("192.0.2.%d", i), 1, time.Unix(0, 0))
		if _, err := ob.add(&a, []string{"x", "y"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ob.ack("x", []uint64{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := ob.ack("y", []uint64{1}); err != nil {
		t.Fatal(err)
	}
	ob.close()
	path := filepath.Join(dir, outboxDir, outboxFile)
	a := testAlert("r", "192.0.2.99", 1, time.Unix(0, 0))
	rec, _ := encodeRecord(&outboxRecord{Op: "alert", Seq: 99, Receivers: []string{"x"}, Alert: &a})
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(rec[:len(rec)-5])
	f.Close()

	ob, pending, err := openOutbox(dir, testLogger(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer ob.close()
	var got []string
	for _, p := range pending {
		got = append(got, fmt.Sprintf("%d:%s", p.seq, strings.Join(p.receivers, ",")))
	}
	if strings.Join(got, " ") != "2:y 3:x,y" {
		t.Errorf("pending = %v, want 2:y 3:x,y", got)
	}
	if !strings.Contains(logs.String(), "torn") {
		t.Errorf("no warning about the torn record:\n%s", logs)
	}
	b := testAlert("r", "192.0.2.4", 1, time.Unix(0, 0))
	if seq, err := ob.add(&b, []string{"x"}); err != nil || seq != 4 {
		t.Errorf("add after reopen = %d, %v, want seq 4", seq, err)
	}
}
