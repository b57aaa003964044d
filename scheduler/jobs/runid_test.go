package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/logctx"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/scheduler/jobs"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(l.b.Bytes()), []byte("\n")) {
		m := map[string]any{}
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// TestRunIDInEveryLine: the lines a job logs with its context and the
// runner's own "job done" line carry the job's name and one run id per
// run, different from run to run.
func TestRunIDInEveryLine(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		buf := &lockedBuffer{}
		log := slog.New(logctx.Handler(slog.NewJSONHandler(buf, nil)))
		r := jobs.New(db, log, time.UTC, "a")
		if err := r.Add("echo", "@every 24h", time.Minute, func(ctx context.Context) error {
			log.InfoContext(ctx, "inside the job")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		r.Start()
		defer r.Stop(context.Background())
		for n := int64(1); n <= 2; n++ {
			err := r.RunNow("echo")
			for err == jobs.ErrRunning {
				time.Sleep(5 * time.Millisecond)
				err = r.RunNow("echo")
			}
			if err != nil {
				t.Fatal(err)
			}
			waitJob(t, db, "echo", n)
		}
		// The "job done" line is written before the run is recorded; give
		// the second run's line a moment.
		deadline := time.Now().Add(5 * time.Second)
		var runs map[string][]string
		for {
			runs = map[string][]string{}
			for _, l := range buf.lines(t) {
				if id, _ := l["run_id"].(string); id != "" && l["job"] == "echo" {
					runs[id] = append(runs[id], l["msg"].(string))
				}
			}
			if len(runs) == 2 && len(runs[firstKey(runs)]) == 2 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if len(runs) != 2 {
			t.Fatalf("want 2 run ids, got %v", runs)
		}
		for id, msgs := range runs {
			if len(msgs) != 2 || msgs[0] != "inside the job" || msgs[1] != "job done" {
				t.Fatalf("run %s logged %v, want the job's line and job done", id, msgs)
			}
		}
	})
}

func firstKey(m map[string][]string) string {
	for k := range m {
		return k
	}
	return ""
}
