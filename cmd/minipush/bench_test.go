package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchSmallSQLite runs `minipush bench` end to end with a few
// recipients, with the sandbox in a process of its own (the default) and in
// this one, and checks the JSON it prints (no speed is asserted).
func TestBenchSmallSQLite(t *testing.T) {
	bin, err := drillBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"process", "inline"} {
		t.Run(mode, func(t *testing.T) {
			res := runSmallBench(t, "--sandbox", mode, "--sandbox-bin", bin)
			if res["sandbox"] != mode {
				t.Fatalf("sandbox %v, want %s", res["sandbox"], mode)
			}
			sbCPU, sbRSS := res["sandbox_cpu_sec_per_1k"].(float64), res["sandbox_peak_rss_mb"].(float64)
			if mode == "process" && (sbCPU < 0 || sbRSS <= 0) { // CPU comes in 10 ms ticks: 0 is possible
				t.Fatalf("a sandbox process should have CPU and memory measured: %v s/1k, %v MB", sbCPU, sbRSS)
			}
			if mode == "inline" && (sbCPU != -1 || sbRSS != -1) {
				t.Fatalf("inline: sandbox CPU %v and RSS %v, want -1 (in this process's figures)", sbCPU, sbRSS)
			}
		})
	}
}

// TestBenchSandboxThatDoesNotStart: a --sandbox-bin that is not minipush
// fails and says what to do.
func TestBenchSandboxThatDoesNotStart(t *testing.T) {
	for bin, want := range map[string]string{
		"/bin/true":                           "did not start (use --sandbox-bin", // ends without printing its URL
		filepath.Join(t.TempDir(), "missing"): "starting",
	} {
		_, err := startBenchWeChat("process", bin, benchSandboxOptions{pushWorkers: 1, pushQueue: 1})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v, want %q", bin, err, want)
		}
	}
	if _, err := startBenchWeChat("elsewhere", "", benchSandboxOptions{}); err == nil || !strings.Contains(err.Error(), "process or inline") {
		t.Fatalf("unknown mode: %v", err)
	}
}

func runSmallBench(t *testing.T, args ...string) map[string]any {
	t.Helper()
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	args = append([]string{"--db", "sqlite:" + filepath.Join(dir, "x.db"), "--recipients", "300", "--memlimit", "0", "--json"}, args...)
	if err := cmdBench(context.Background(), args, &out, &errOut, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("bench --json printed %q: %v", out.String(), err)
	}
	for _, k := range []string{"recipients", "msgs_per_sec", "cpu_sec_per_1k", "peak_rss_mb", "p50_ms", "p99_ms",
		"raw_msgs_per_sec", "fraction_of_raw", "raw_push_sends_per_sec", "raw_push_msgs_per_sec", "raw_pushes_lost", "duplicates", "unsent", "counter_drift", "sandbox", "sandbox_cpu_sec_per_1k", "sandbox_peak_rss_mb"} {
		if _, ok := res[k]; !ok {
			t.Fatalf("bench --json has no %q: %s", k, out.String())
		}
	}
	if res["recipients"] != float64(300) || res["duplicates"] != float64(0) || res["unsent"] != float64(0) || res["counter_drift"] != float64(0) {
		t.Fatalf("recipients/duplicates/unsent/counter drift: %v/%v/%v/%v, want 300/0/0/0", res["recipients"], res["duplicates"], res["unsent"], res["counter_drift"])
	}
	if s, m := res["raw_push_sends_per_sec"].(float64), res["raw_push_msgs_per_sec"].(float64); m <= 0 || m > s {
		t.Fatalf("raw with pushes: %v sends/s, %v msgs/s: want 0 < msgs/s <= sends/s", s, m)
	}
	if p50, p99 := res["p50_ms"].(float64), res["p99_ms"].(float64); p50 <= 0 || p99 < p50 {
		t.Fatalf("p50 %v, p99 %v: want 0 < p50 <= p99", p50, p99)
	}
	// The throwaway database is gone.
	if m, _ := filepath.Glob(filepath.Join(dir, "minipush-bench-*")); len(m) != 0 {
		t.Fatalf("bench left %v behind", m)
	}
	return res
}

// The raw bound with pushes waits for every message's push: the receiver
// took one per send.
func TestBenchRawWithPushesCountsEveryPush(t *testing.T) {
	const n = 200
	r, err := benchRawRun(context.Background(), n, 8, func() (benchWeChat, error) {
		return startBenchWeChat("inline", "", benchSandboxOptions{pushWorkers: 4, pushQueue: 1000})
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.pushesIn != n || r.pushesLost != 0 || r.msgsPerSec <= 0 || r.msgsPerSec > r.sendsPerSec {
		t.Fatalf("pushes in %d (want %d), %v msgs/s, %v sends/s", r.pushesIn, n, r.msgsPerSec, r.sendsPerSec)
	}
}
