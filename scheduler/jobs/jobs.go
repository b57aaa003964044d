// Package jobs runs named scheduled jobs on robfig/cron with an explicit
// time zone. Each run takes the job's lease in the database, so with several
// instances one runs it; each run's start, duration and error are recorded
// for the Jobs page, and "run now" goes through the same guard: one run of
// a job at a time in this process, and its lease across instances.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"gorm.io/gorm"

	"github.com/minipush/minipush/logctx"
	"github.com/minipush/minipush/models"
)

// Func is the work of a job.
type Func func(ctx context.Context) error

type entry struct {
	name, spec string
	timeout    time.Duration
	fn         Func
	id         cron.EntryID
	running    atomic.Bool // a run is going on in this process
}

// Runner owns the cron and the registered jobs.
type Runner struct {
	db     *gorm.DB
	log    *slog.Logger
	holder string
	now    func() time.Time
	cron   *cron.Cron

	mu       sync.Mutex
	entries  map[string]*entry
	observer func(name string, ran bool)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New makes a runner whose schedules are read in loc. holder names this
// instance in the job leases.
func New(db *gorm.DB, log *slog.Logger, loc *time.Location, holder string) *Runner {
	if log == nil {
		log = slog.Default()
	}
	cl := cronLogger{log}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{
		db: db, log: log, holder: holder, now: func() time.Time { return time.Now().UTC() },
		cron:    cron.New(cron.WithLocation(loc), cron.WithChain(cron.Recover(cl))),
		entries: map[string]*entry{},
		ctx:     ctx, cancel: cancel,
	}
}

// Add registers a job under name with a cron spec (5 fields, or
// descriptors such as "@every 1h"). A run is cut off after timeout.
func (r *Runner) Add(name, spec string, timeout time.Duration, fn Func) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.entries[name]; dup {
		return fmt.Errorf("job %s registered twice", name)
	}
	e := &entry{name: name, spec: spec, timeout: timeout, fn: fn}
	id, err := r.cron.AddFunc(spec, func() { r.run(e) })
	if err != nil {
		return fmt.Errorf("job %s: schedule %q: %w", name, spec, err)
	}
	e.id = id
	r.entries[name] = e
	return models.EnsureJob(context.Background(), r.db, name, spec)
}

// run executes one job run under its lease and records the outcome. A
// run still going in this process is not doubled: the new one is skipped.
func (r *Runner) run(e *entry) {
	if !e.running.CompareAndSwap(false, true) {
		r.log.Debug("job still running: this run skipped", "job", e.name)
		return
	}
	defer e.running.Store(false)
	start := r.now()
	ok, err := models.TryStartJob(r.ctx, r.db, e.name, r.holder, start, start.Add(e.timeout+time.Minute))
	if err != nil {
		r.log.Error("job lease", "job", e.name, "err", err)
		return
	}
	if !ok {
		r.log.Debug("job running elsewhere", "job", e.name)
		r.observe(e.name, false)
		return
	}
	defer r.observe(e.name, true)
	// Every line the run logs with its context names the job and the run.
	ctx, cancel := context.WithTimeout(logctx.With(r.ctx, "job", e.name, "run_id", models.RandomToken(6)), e.timeout)
	defer cancel()
	runErr := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return e.fn(ctx)
	}()
	end := r.now()
	if runErr != nil {
		r.log.ErrorContext(ctx, "job failed", "job", e.name, "err", runErr, "duration_ms", end.Sub(start).Milliseconds())
	} else {
		r.log.InfoContext(ctx, "job done", "job", e.name, "duration_ms", end.Sub(start).Milliseconds())
	}
	if err := models.FinishJob(context.Background(), r.db, e.name, r.holder, start, end, runErr); err != nil {
		r.log.Error("job record", "job", e.name, "err", err)
	}
}

// Observe registers fn to be told after every attempt to run a job whether
// it ran (false: another holder had its lease).
func (r *Runner) Observe(fn func(name string, ran bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.observer = fn
}

func (r *Runner) observe(name string, ran bool) {
	r.mu.Lock()
	fn := r.observer
	r.mu.Unlock()
	if fn != nil {
		fn(name, ran)
	}
}

// ErrUnknownJob is returned by RunNow for a name nobody registered.
var ErrUnknownJob = errors.New("no such job")

// ErrRunning is returned by RunNow while a run of the job is going on in
// this process.
var ErrRunning = errors.New("the job is running")

// RunNow starts a job at once, in the background, as a scheduled run
// would run (under its lease); while a run is going on in this process it
// answers ErrRunning instead of doubling it.
func (r *Runner) RunNow(name string) error {
	r.mu.Lock()
	e, ok := r.entries[name]
	r.mu.Unlock()
	if !ok {
		return ErrUnknownJob
	}
	if r.ctx.Err() != nil {
		return errors.New("the scheduler is shutting down")
	}
	if e.running.Load() {
		return ErrRunning
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.run(e) // recovers the job's panics
	}()
	return nil
}

// Info describes a registered job for the Jobs page.
type Info struct {
	Name, Spec string
	Next       time.Time
}

// List returns the registered jobs with their next run time.
func (r *Runner) List() []Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Info, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, Info{Name: e.name, Spec: e.spec, Next: r.cron.Entry(e.id).Next})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Start starts the cron.
func (r *Runner) Start() { r.cron.Start() }

// Stop stops scheduling new runs, asks running ones to stop, and waits for
// them (scheduled ones through cron, "run now" ones through wg) until ctx is done.
func (r *Runner) Stop(ctx context.Context) error {
	stopped := r.cron.Stop()
	r.cancel()
	done := make(chan struct{})
	go func() {
		<-stopped.Done()
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("jobs still running at shutdown: %w", ctx.Err())
	}
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
