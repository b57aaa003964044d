package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
)

// TestBenchSmallSQLite runs `minipush bench` end to end with a few
// recipients and checks the JSON it prints (no figures are asserted).
func TestBenchSmallSQLite(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	err := cmdBench(context.Background(), []string{"--db", "sqlite:" + filepath.Join(dir, "x.db"), "--recipients", "300", "--memlimit", "0", "--json"},
		&out, &errOut, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("bench --json printed %q: %v", out.String(), err)
	}
	for _, k := range []string{"recipients", "msgs_per_sec", "cpu_sec_per_1k", "peak_rss_mb", "p50_ms", "p99_ms",
		"raw_msgs_per_sec", "fraction_of_raw", "duplicates", "unsent"} {
		if _, ok := res[k]; !ok {
			t.Errorf("bench --json has no %q: %s", k, out.String())
		}
	}
	if res["recipients"] != float64(300) || res["duplicates"] != float64(0) || res["unsent"] != float64(0) {
		t.Fatalf("recipients/duplicates/unsent: %v/%v/%v, want 300/0/0", res["recipients"], res["duplicates"], res["unsent"])
	}
	if p50, p99 := res["p50_ms"].(float64), res["p99_ms"].(float64); p50 <= 0 || p99 < p50 {
		t.Fatalf("p50 %v, p99 %v: want 0 < p50 <= p99", p50, p99)
	}
	// The throwaway database is gone.
	if m, _ := filepath.Glob(filepath.Join(dir, "minipush-bench-*")); len(m) != 0 {
		t.Fatalf("bench left %v behind", m)
	}
}
