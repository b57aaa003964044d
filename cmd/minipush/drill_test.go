package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minipush/minipush/models/dbtest"
)

// drillBinary builds the minipush binary once per test run, for the
// drills to run as `serve` (the test binary itself may carry the race
// detector; the drills kill what production runs).
var drillBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "minipush-drill-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "minipush")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", &buildError{err, out.String()}
	}
	return bin, nil
})

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// TestDrillsShort is the short version of `make drills`, for CI: the four
// campaign scenarios (kill -9 and restart; three instances, one killed;
// WeChat's faults with a quota day change on an injected clock; a push
// storm) with 3,000 recipients each, run side by side on MariaDB (the
// killed instances' leases last 2 minutes, which bounds the time). Each
// fails on a duplicate, a lost message, credits that disagree with the
// ledger, an accepted message left unsettled, a run whose counters differ
// from its rows or that did not complete exactly once.
func TestDrillsShort(t *testing.T) {
	if testing.Short() {
		t.Skip("fault drills: MariaDB, serve processes, about 3 minutes")
	}
	dsn := dbtest.CreateMySQLDatabase(t)
	bin, err := drillBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Dir(bin)) })
	users := 3000
	for _, s := range drillScenarios() {
		switch s.name {
		case "one-instance", "two-instances":
			continue // the queued-delivery drill (make drill-crash) is not part of the short set
		}
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			var log bytes.Buffer
			c := drillConfig{dsn: dsn, serveBin: bin, users: users, latency: 20 * time.Millisecond, wait: 4 * time.Minute, short: true,
				stderr: &log}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			rep, err := s.run(ctx, c)
			if err != nil {
				t.Fatalf("%v\n%s", err, log.String())
			}
			rep.Name = s.name
			var out bytes.Buffer
			printDrill(&out, rep)
			if !rep.ok() {
				t.Fatalf("drill failed:\n%s\n%s", out.String(), log.String())
			}
			t.Logf("\n%s", out.String())
		})
	}
}
