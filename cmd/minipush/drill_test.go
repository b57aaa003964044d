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
	drillBinDir = dir
	bin := filepath.Join(dir, "minipush")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", &buildError{err, out.String()}
	}
	return bin, nil
})

// TestMain removes the drills' binary once every test has run: a test's
// cleanup removing it broke the tests after it (and -count=2).
func TestMain(m *testing.M) {
	code := m.Run()
	if drillBinDir != "" {
		_ = os.RemoveAll(drillBinDir)
	}
	os.Exit(code)
}

var drillBinDir string // made by drillBinary; TestMain removes it

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// TestDrillsShort is the short version of `make drills`, for CI: the four
// campaign scenarios (kill -9 and restart; three instances, one killed;
// WeChat's faults with a quota day change on an injected clock; a push
// storm) with 3,000 recipients each, all at once on MariaDB (not as
// parallel subtests: -parallel defaults to the number of CPUs, and the
// killed instances' 2-minute leases, not the CPU, bound each one's time).
// Each fails on a duplicate, a lost message, credits that disagree with the
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
	names := drillSets["drills"]
	type result struct {
		rep *drillReport
		log bytes.Buffer
		err error
	}
	results := make([]result, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[i]
			c := drillConfig{dsn: dsn, serveBin: bin, users: 3000, latency: 20 * time.Millisecond, wait: 4 * time.Minute, short: true,
				stderr: &res.log}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			res.rep, res.err = findDrill(name).run(ctx, c)
		}()
	}
	wg.Wait()
	for i, name := range names {
		res := &results[i]
		if res.err != nil {
			t.Errorf("%s: %v\n%s", name, res.err, res.log.String())
			continue
		}
		res.rep.Name = name
		var out bytes.Buffer
		printDrill(&out, res.rep)
		if !res.rep.ok() {
			t.Errorf("%s failed:\n%s\n%s", name, out.String(), res.log.String())
			continue
		}
		t.Logf("\n%s", out.String())
	}
}

// findDrill returns the scenario named.
func findDrill(name string) drillScenario {
	for _, s := range drillScenarios() {
		if s.name == name {
			return s
		}
	}
	panic("no drill scenario " + name)
}
