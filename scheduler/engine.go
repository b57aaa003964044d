// Package scheduler runs the delivery engine: send workers that claim due
// deliveries with leases, spend credits, render and check keyword values,
// send within each app's rate limit shared by all instances, retry with
// backoff, pause an app on its daily quota, never resend a delivery whose
// outcome is unknown, and settle deliveries from subscribe_msg_sent_event.
// It imports models and wechat, never Echo.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat"
)

// Config configures an Engine. Only DB and Sealer are required.
type Config struct {
	DB     *gorm.DB
	Sealer *models.Sealer
	Logger *slog.Logger
	// Workers claim and send in parallel (default 4). Each worker claims a
	// batch, sends it with up to Concurrency requests in flight, records
	// the answers, and claims again.
	Workers int
	// Pipeline makes each worker claim its next batch while the last one
	// is being sent (see pipeline). Off by default: measured on a loaded
	// 2-core machine with MariaDB it sent about 12 % more per second but
	// cost the database about 15 % more CPU per message and slowed
	// settlement; where the database has cores to spare it may pay.
	Pipeline bool
	// BatchSize is the most deliveries one claim takes (default 200).
	BatchSize int
	// Concurrency is the most WeChat requests one worker has in flight
	// (default 32).
	Concurrency int
	// LeaseFor is how long a claim holds its deliveries (default 2 min).
	// A delivery still sending after its lease is declared unknown.
	LeaseFor time.Duration
	// MaxAttempts bounds the calls for one delivery on transient errors
	// (default 5); then it fails and its credit is given back.
	MaxAttempts int
	// RetryBase and RetryMax shape the exponential backoff with jitter
	// (defaults 2 s and 5 min).
	RetryBase, RetryMax time.Duration
	// UserBusyDelay is the wait before retrying after 43108 or while
	// another send to the same user is in flight here (default 1 s).
	UserBusyDelay time.Duration
	// PollInterval is how often idle workers look for due work (default
	// 500 ms); Notify wakes them at once.
	PollInterval time.Duration
	// MaintainInterval is how often expired leases are recovered and sent
	// events that arrived early are matched (default 5 s).
	MaintainInterval time.Duration
	// SettleWindow is how long after its last call an unknown delivery
	// (no msgid) may be matched to a sent event by user and template
	// (default 10 min).
	SettleWindow time.Duration
	// SettleInterval is how often stored sent events are matched to their
	// deliveries, in batches (default 200 ms).
	SettleInterval time.Duration
	// AppRefresh is how often the list of apps and templates is reloaded
	// (default 2 s).
	AppRefresh time.Duration
	// NoRateLimit ignores the apps' rate limits and daily quotas (bench).
	NoRateLimit bool
	// HTTPClient sends to WeChat; default one with a 10 s timeout and
	// enough idle connections for Workers × Concurrency.
	HTTPClient *http.Client
	// Registerer receives the metrics; nil: a registry of the engine's own
	// (with Go and process collectors), see Registry and MetricsHandler.
	Registerer prometheus.Registerer
	// Rules checks keyword values (short_thing limit etc.).
	Rules wechat.Rules
	// Now is the clock (default time.Now). Tests move it.
	Now func() time.Time
	// InstanceID names this instance in leases (default host-pid-random).
	InstanceID string
}

func (c *Config) defaults() error {
	if c.DB == nil || c.Sealer == nil {
		return errors.New("scheduler: Config.DB and Config.Sealer are required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Workers, 4)
	def(&c.BatchSize, 200)
	def(&c.Concurrency, 32)
	def(&c.MaxAttempts, 5)
	defd(&c.LeaseFor, 2*time.Minute)
	defd(&c.RetryBase, 2*time.Second)
	defd(&c.RetryMax, 5*time.Minute)
	defd(&c.UserBusyDelay, time.Second)
	defd(&c.PollInterval, 500*time.Millisecond)
	defd(&c.MaintainInterval, 5*time.Second)
	defd(&c.SettleWindow, 10*time.Minute)
	defd(&c.AppRefresh, 2*time.Second)
	defd(&c.SettleInterval, 200*time.Millisecond)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.InstanceID == "" {
		c.InstanceID = models.NewInstanceID()
	}
	if c.HTTPClient == nil {
		hc := wechat.DefaultHTTPClient()
		if tr, ok := hc.Transport.(*http.Transport); ok {
			n := c.Workers * c.Concurrency
			tr.MaxIdleConns = max(tr.MaxIdleConns, n)
			tr.MaxIdleConnsPerHost = max(tr.MaxIdleConnsPerHost, n)
		}
		c.HTTPClient = hc
	}
	return nil
}

// Engine is the delivery engine of one instance. Build it with NewEngine,
// run it with Start, stop it with Stop.
type Engine struct {
	cfg Config
	db  *gorm.DB
	log *slog.Logger
	m   *metrics
	reg *prometheus.Registry

	state *state
	rate  *limiter

	wake chan struct{}

	runMu      sync.Mutex
	started    bool
	stopClaim  chan struct{}
	hard       context.Context // Start's context: cancelled = abrupt stop
	sendCtx    context.Context // in-flight sends; cancelled when Stop's bound passes
	sendCancel context.CancelFunc
	workers    sync.WaitGroup
	maint      sync.WaitGroup
	maintStop  chan struct{}

	sent           atomic.Int64 // messages WeChat accepted through this engine
	maxSettleLocks atomic.Int64 // the most rows one settle pass held locked
}

// NewEngine builds an engine; nothing runs until Start.
func NewEngine(cfg Config) (*Engine, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, db: cfg.DB, log: cfg.Logger.With("component", "engine", "instance", cfg.InstanceID),
		wake: make(chan struct{}, cfg.Workers)}
	reg := cfg.Registerer
	if reg == nil {
		e.reg = newRegistry()
		reg = e.reg
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	e.m = m
	e.state = newState(e)
	e.rate = &limiter{pools: map[int64]*ratePool{}}
	return e, nil
}

// InstanceID is the name this engine claims deliveries under.
func (e *Engine) InstanceID() string { return e.cfg.InstanceID }

// Sent returns how many messages WeChat accepted through this engine.
func (e *Engine) Sent() int64 { return e.sent.Load() }

func (e *Engine) now() time.Time { return e.cfg.Now().UTC() }

// Start recovers what a previous instance left (expired leases, early sent
// events) and starts the workers and the maintenance loop. It returns at
// once. Cancelling ctx stops the engine abruptly: claiming stops, sends in
// flight are cut (those already written become unknown, never resent), and
// what is known is still recorded. Prefer Stop for a graceful end.
func (e *Engine) Start(ctx context.Context) error {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	if e.started {
		return errors.New("scheduler: engine already started")
	}
	e.started = true
	e.hard = ctx
	e.sendCtx, e.sendCancel = context.WithCancel(ctx)
	e.stopClaim = make(chan struct{})
	e.maintStop = make(chan struct{})
	e.maintain(ctx)
	for i := range e.cfg.Workers {
		e.workers.Add(1)
		go e.worker(i)
	}
	e.maint.Add(2)
	go e.maintainLoop()
	go e.settleLoop()
	e.log.Info("delivery engine started", "workers", e.cfg.Workers, "batch", e.cfg.BatchSize, "concurrency", e.cfg.Concurrency)
	return nil
}

// Stop ends the engine gracefully: workers stop claiming, sends in flight
// finish and are recorded; if ctx ends first, the remaining sends are cut
// (unwritten ones go back to the queue, written ones become unknown). When
// Stop returns this instance holds no delivery in sending. Close the
// database only after Stop.
func (e *Engine) Stop(ctx context.Context) error {
	e.runMu.Lock()
	if !e.started {
		e.runMu.Unlock()
		return nil
	}
	select {
	case <-e.stopClaim:
	default:
		close(e.stopClaim)
	}
	e.runMu.Unlock()
	done := make(chan struct{})
	go func() { e.workers.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("scheduler: sends still in flight when the shutdown bound passed: cut them: %w", ctx.Err())
		e.sendCancel()
		<-done // workers record what they know with a bounded context of their own
	}
	select {
	case <-e.maintStop:
	default:
		close(e.maintStop)
	}
	e.maint.Wait()
	e.sendCancel()
	// Anything still sending under this instance (a recording failed) must
	// not sit there: declare it unknown.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if n, rerr := models.RecoverExpiredLeases(rctx, e.db, e.now(), e.cfg.InstanceID, 10000); rerr != nil {
		err = errors.Join(err, rerr)
	} else if n > 0 {
		e.log.Warn("deliveries left sending at shutdown declared unknown", "count", n)
	}
	e.log.Info("delivery engine stopped", "sent", e.sent.Load())
	return err
}

// Notify wakes idle workers (new deliveries were queued).
func (e *Engine) Notify() {
	e.state.clearIdle()
	for range e.cfg.Workers {
		select {
		case e.wake <- struct{}{}:
		default:
			return
		}
	}
}

func (e *Engine) claiming() bool {
	select {
	case <-e.stopClaim:
		return false
	case <-e.hard.Done():
		return false
	default:
		return true
	}
}

func (e *Engine) worker(i int) {
	defer e.workers.Done()
	p := &pipeline{e: e}
	defer p.wait() // the last batch is recorded before the worker ends
	timer := time.NewTimer(e.cfg.PollInterval)
	defer timer.Stop()
	for e.claiming() {
		if e.pass(i, p) {
			continue
		}
		timer.Reset(e.cfg.PollInterval)
		select {
		case <-e.stopClaim:
			return
		case <-e.hard.Done():
			return
		case <-e.wake:
		case <-timer.C:
		}
	}
}

// maintainLoop periodically recovers expired leases, prunes rate windows
// and measures the queue.
func (e *Engine) maintainLoop() {
	defer e.maint.Done()
	t := time.NewTicker(e.cfg.MaintainInterval)
	defer t.Stop()
	for {
		select {
		case <-e.maintStop:
			return
		case <-e.hard.Done():
			return
		case <-t.C:
			e.maintain(e.hard)
		}
	}
}

// settleLoop settles deliveries from stored sent events, in batches.
func (e *Engine) settleLoop() {
	defer e.maint.Done()
	t := time.NewTicker(e.cfg.SettleInterval)
	defer t.Stop()
	for {
		select {
		case <-e.maintStop:
			e.settle(context.WithoutCancel(e.hard)) // what arrived before the stop
			return
		case <-e.hard.Done():
			return
		case <-t.C:
			e.settle(e.hard)
		}
	}
}

// settle matches stored sent events to their deliveries, a page at a time
// by id, so events that match nothing (yet) never hide newer ones. An
// event still unmatched once a lease (and recovery) has had time to turn
// its delivery unknown is given up on: no delivery of ours can match it
// any more (another sender's message, or one long settled).
func (e *Engine) settle(ctx context.Context) {
	const pageSize, maxPages = 1000, 50
	var after int64
	for range maxPages {
		now := e.now()
		res, err := models.SettlePendingSentEvents(ctx, e.db, models.SettlePass{
			ByWindowAfter: now.Add(-2 * time.Second),
			GiveUpBefore:  now.Add(-(e.cfg.LeaseFor + 2*time.Minute)),
			Now:           now, Window: e.cfg.SettleWindow, AfterID: after, Limit: pageSize})
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("settling sent events failed; will retry", "err", err)
			}
			return
		}
		e.m.settled.WithLabelValues("settled").Add(float64(res.Settled))
		e.notePassLocks(res.RowsLocked)
		if res.Seen < pageSize {
			return
		}
		after = res.LastID
	}
}

// notePassLocks records the rows a settle pass held locked.
func (e *Engine) notePassLocks(n int64) {
	if n <= 0 {
		return
	}
	e.m.settleLocks.Observe(float64(n))
	for {
		cur := e.maxSettleLocks.Load()
		if n <= cur || e.maxSettleLocks.CompareAndSwap(cur, n) {
			return
		}
	}
}

// MaxSettleLocks is the most rows one settle pass of this engine held
// locked (MySQL; 0 on SQLite).
func (e *Engine) MaxSettleLocks() int64 { return e.maxSettleLocks.Load() }

func (e *Engine) maintain(ctx context.Context) {
	now := e.now()
	for {
		n, err := models.RecoverExpiredLeases(ctx, e.db, now, "", 500)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("recovering expired leases failed; will retry", "err", err)
			}
			break
		}
		if n > 0 {
			e.m.recovered.Add(float64(n))
			e.log.Warn("deliveries whose sending instance vanished declared unknown (not resent)", "count", n)
		}
		if n < 500 {
			break
		}
	}
	if err := models.PruneSendWindows(ctx, e.db, now.Add(-2*time.Minute)); err != nil && ctx.Err() == nil {
		e.log.Error("pruning send windows failed", "err", err)
	}
	if depth, err := models.QueueDepth(ctx, e.db); err == nil {
		e.m.queueDepth.Reset()
		for appID, n := range depth {
			e.m.queueDepth.WithLabelValues(e.state.appLabel(appID)).Set(float64(n))
		}
	}
}
