package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/scheduler/jobs"
)

// waitJob polls the job row until its run count reaches n.
func waitJob(t *testing.T, db *gorm.DB, name string, n int64) models.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		list, err := models.ListJobs(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range list {
			if j.Name == name && j.Runs >= n && j.RunningHolder == "" {
				return j
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("job %s did not reach %d runs", name, n)
	return models.Job{}
}

func TestRunNowRecordsOutcome(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		r := jobs.New(db, slog.New(slog.DiscardHandler), time.UTC, "a")
		var calls atomic.Int32
		fail := atomic.Bool{}
		if err := r.Add("demo", "@every 24h", time.Minute, func(ctx context.Context) error {
			calls.Add(1)
			if fail.Load() {
				return errors.New("boom: the thing failed")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := r.Add("demo", "@every 1h", time.Minute, nil); err == nil {
			t.Fatal("a duplicate name was accepted")
		}
		if err := r.Add("bad", "every tuesday", time.Minute, nil); err == nil {
			t.Fatal("a bad schedule was accepted")
		}
		r.Start()
		defer r.Stop(context.Background())
		if err := r.RunNow("demo"); err != nil {
			t.Fatal(err)
		}
		j := waitJob(t, db, "demo", 1)
		if !j.LastOK || j.LastError != "" || j.Schedule != "@every 24h" || j.LastStartedAt == nil {
			t.Fatalf("after a good run: %+v", j)
		}
		fail.Store(true)
		// The first run has recorded its outcome; it may still be returning.
		err := r.RunNow("demo")
		for errors.Is(err, jobs.ErrRunning) {
			time.Sleep(5 * time.Millisecond)
			err = r.RunNow("demo")
		}
		if err != nil {
			t.Fatal(err)
		}
		j = waitJob(t, db, "demo", 2)
		if j.LastOK || j.Failures != 1 || j.LastError != "boom: the thing failed" {
			t.Fatalf("after a failed run: %+v", j)
		}
		if calls.Load() != 2 {
			t.Fatalf("%d calls", calls.Load())
		}
		if err := r.RunNow("nope"); !errors.Is(err, jobs.ErrUnknownJob) {
			t.Fatalf("unknown job: %v", err)
		}
	})
}

func TestOneInstanceRunsAJobAtATime(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		release := make(chan struct{})
		var running, maxRunning, calls atomic.Int32
		work := func(ctx context.Context) error {
			calls.Add(1)
			n := running.Add(1)
			for {
				m := maxRunning.Load()
				if n <= m || maxRunning.CompareAndSwap(m, n) {
					break
				}
			}
			<-release
			running.Add(-1)
			return nil
		}
		a := jobs.New(db, slog.New(slog.DiscardHandler), time.UTC, "instance-a")
		b := jobs.New(db, slog.New(slog.DiscardHandler), time.UTC, "instance-b")
		skipped := make(chan string, 1)
		b.Observe(func(name string, ran bool) {
			if !ran {
				skipped <- name
			}
		})
		for _, r := range []*jobs.Runner{a, b} {
			if err := r.Add("exclusive", "@every 24h", time.Minute, work); err != nil {
				t.Fatal(err)
			}
			r.Start()
		}
		if err := a.RunNow("exclusive"); err != nil {
			t.Fatal(err)
		}
		// Wait until a holds the lease, then b tries: it must skip.
		deadline := time.Now().Add(10 * time.Second)
		for running.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if err := b.RunNow("exclusive"); err != nil {
			t.Fatal(err)
		}
		select { // b's attempt is refused while a holds the lease
		case <-skipped:
		case <-time.After(10 * time.Second):
			t.Fatal("instance b neither ran nor skipped the job")
		}
		close(release)
		j := waitJob(t, db, "exclusive", 1)
		_ = a.Stop(context.Background())
		_ = b.Stop(context.Background())
		if calls.Load() != 1 || maxRunning.Load() != 1 || j.Runs != 1 {
			t.Fatalf("calls=%d max concurrent=%d runs=%d: two instances ran the job", calls.Load(), maxRunning.Load(), j.Runs)
		}
	})
}

// "Run now" while a run is going on in this process says so instead of
// silently doing nothing; once it has finished, it runs again.
func TestRunNowWhileRunning(t *testing.T) {
	db, _ := dbtest.Open(t, models.DialectSQLite, true)
	r := jobs.New(db, slog.New(slog.DiscardHandler), time.UTC, "a")
	release := make(chan struct{})
	var calls atomic.Int32
	if err := r.Add("slow", "@every 24h", time.Minute, func(ctx context.Context) error {
		if calls.Add(1) == 1 {
			<-release
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r.Start()
	defer r.Stop(context.Background())
	if err := r.RunNow("slow"); err != nil {
		t.Fatal(err)
	}
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := r.RunNow("slow"); !errors.Is(err, jobs.ErrRunning) {
		t.Fatalf("run now during a run: %v, want ErrRunning", err)
	}
	close(release)
	waitJob(t, db, "slow", 1)
	err := r.RunNow("slow")
	for errors.Is(err, jobs.ErrRunning) {
		time.Sleep(5 * time.Millisecond)
		err = r.RunNow("slow")
	}
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, db, "slow", 2)
	if calls.Load() != 2 {
		t.Fatalf("%d runs, want 2", calls.Load())
	}
}
