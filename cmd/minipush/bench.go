package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/web"
)

// benchResult is what `minipush bench --json` prints.
type benchResult struct {
	Recipients    int     `json:"recipients"`
	MsgsPerSec    float64 `json:"msgs_per_sec"`
	CPUSecPer1k   float64 `json:"cpu_sec_per_1k"`
	PeakRSSMB     float64 `json:"peak_rss_mb"`
	P50Ms         float64 `json:"p50_ms"`
	P99Ms         float64 `json:"p99_ms"`
	P50ClaimMs    float64 `json:"p50_claim_to_sent_ms"`
	P99ClaimMs    float64 `json:"p99_claim_to_sent_ms"`
	RawMsgsPerSec float64 `json:"raw_msgs_per_sec"`
	FractionOfRaw float64 `json:"fraction_of_raw"`
	// The raw bound with pushes: the same sends, the sandbox pushing a
	// sent event for each to a receiver that stores nothing. Sends per
	// second while the pushes flow, and messages per second counted to the
	// last push: what the sandbox and HTTP leave of this machine, with no
	// database and no engine.
	RawPushSendsPerSec float64 `json:"raw_push_sends_per_sec"`
	RawPushMsgsPerSec  float64 `json:"raw_push_msgs_per_sec"`
	RawPushesLost      int64   `json:"raw_pushes_lost"` // pushes the sandbox dropped or gave up on in that run (counted as done)
	// Settlement: WeChat (the sandbox) pushes a sent event per accepted
	// message to the real /wx/push endpoint while the engine sends.
	EventsPerSec     float64 `json:"sent_events_per_sec"`          // events taken in per second, start to the last push
	SettledIn30s     float64 `json:"settled_share_30s"`            // share of accepted messages delivered or failed 30 s after the last send
	MaxSettleLocks   int64   `json:"max_settle_rows_locked"`       // the most rows one settle transaction held locked (MySQL)
	PushesDropped    int64   `json:"pushes_dropped"`               // pushes the sandbox gave up on (3 tries) or could not queue
	PushIntakePerSec float64 `json:"push_intake_capacity_per_sec"` // signed sent-event pushes the endpoint takes per second when flooded
	Duplicates       int64   `json:"duplicates"`
	Unsent           int64   `json:"unsent"`
	CounterDrift     int64   `json:"counter_drift"` // Σ |delivery_stats − the rows| over statuses at the end: 0
	Database         string  `json:"database"`
	EngineSeconds    float64 `json:"engine_seconds"`
	SetupSeconds     float64 `json:"setup_seconds"`
	Workers          int     `json:"workers"`
	BatchSize        int     `json:"batch_size"`
	Concurrency      int     `json:"concurrency"`
	Pipeline         bool    `json:"pipeline"`
	RawConcurrency   int     `json:"raw_concurrency"`
	MemLimitMB       int     `json:"mem_limit_mb"`
	// Sandbox: "process" (a child process) or "inline" (in this process);
	// SandboxPeakRSSMB the child's peak RSS (-1 inline).
	Sandbox          string  `json:"sandbox"`
	SandboxPeakRSSMB float64 `json:"sandbox_peak_rss_mb"`
	benchCost
}

const (
	benchAppID  = "wxbench0000000001"
	benchRawID  = "wxbench00000000raw"
	benchTplID  = "BENCH_TPL"
	benchSecret = "bench-secret"
	benchTpl    = "商品名称:{{thing1.DATA}}\n数量:{{number2.DATA}}"
)

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("db", envOr("MINIPUSH_DB", "sqlite:data/minipush.db"),
		"database server to measure on: sqlite:PATH (a throwaway file is made next to PATH) or mysql:user:pass@tcp(host:3306)/any (a throwaway database is made on that server)")
	n := fs.Int("recipients", 100000, "recipients (each with one credit and one queued delivery)")
	workers := fs.Int("workers", 4, "engine workers")
	batch := fs.Int("batch", 500, "deliveries per claim")
	conc := fs.Int("concurrency", 32, "WeChat requests in flight per worker")
	pipeline := fs.Bool("pipeline", false, "each worker claims its next batch while the last one is being sent")
	sbMode := fs.String("sandbox", "process", "where the sandbox (fake WeChat) runs: process (a `minipush sandbox` child process, as WeChat is another machine's) or inline (in this process, whose CPU and memory figures then include it)")
	sbBin := fs.String("sandbox-bin", "", "minipush binary to run as the sandbox process (default: this one)")
	memLimit := fs.Int("memlimit", 110, "soft memory limit of this process in MiB for Go's garbage collector (debug.SetMemoryLimit); 0: none; ignored when GOMEMLIMIT is set")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the engine phase to this file (go tool pprof)")
	memProfile := fs.String("memprofile", "", "write a heap profile taken at the end of the engine phase to this file (go tool pprof)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: minipush bench [flags]\n\nCreates N recipients with credits in a throwaway database (dropped afterwards: real data is never touched),\nruns the delivery engine against a sandbox (fake WeChat) with no rate limit, and prints messages per second,\nCPU seconds per 1,000 messages (this process: engine, push endpoint, settler; the sandbox and the database server\nare measured apart), peak RSS,\n"+
			"p50/p99 from queued to sent (each delivery's queued_at to its sent_at; every delivery is queued just before\n"+
			"the engine starts, so this is mostly the wait in the queue) and from claimed to sent (called_at to sent_at),\n"+
			"and the raw bound: the same number of sends straight to a sandbox of its own, without a database, measured first;\n"+
			"then the same with the sandbox pushing each message's sent event to a receiver that stores nothing (what\n"+
			"the sandbox and HTTP alone allow on this machine when every message comes back as a push).\n\n"+
			"The sandbox runs as a `minipush sandbox` child process (--sandbox process, the default), as WeChat is\n"+
			"another machine's process: its CPU is reported on its own and its memory (every recipient, every push\n"+
			"waiting) is not in this process's peak RSS. With --sandbox inline it runs in this process (the only\n"+
			"way before this flag): at 1,000,000 recipients its memory passes the soft memory limit (--memlimit, for Go's\n"+
			"collector) once its push queue fills, and the collector runs without pause. --cpuprofile and --memprofile\n"+
			"write pprof profiles of the engine phase.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n <= 0 {
		return fmt.Errorf("--recipients must be positive")
	}
	if *memLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(*memLimit) << 20)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	benchDSN, drop, err := benchDatabase(*dsn)
	if err != nil {
		return err
	}
	defer drop()
	meter := &costMeter{counter: &stmtCounter{}}
	if t, err := models.ParseDSN(benchDSN); err == nil {
		meter.serverPID = dbServerPID(t)
		if t.Config != nil {
			meter.schema = t.Config.DBName
		}
	}
	var dropUser func()
	watchDSN := benchDSN
	benchDSN, meter.admin, meter.user, dropUser = benchOwnUser(benchDSN)
	defer dropUser()
	db, err := models.Open(ctx, benchDSN, models.OpenOptions{Logger: quiet, SlowQuery: time.Minute})
	if err != nil {
		return err
	}
	defer models.Close(db)
	// The bench's own polling (how far settlement got: a count by status
	// ten times a second) goes through a pool of its own, as the DSN's
	// user: it is not counted in the cost of a message.
	watch, err := models.Open(ctx, watchDSN, models.OpenOptions{Logger: quiet, SlowQuery: time.Minute, MaxOpenConns: 2})
	if err != nil {
		return err
	}
	defer models.Close(watch)
	if err := meter.counter.register(db); err != nil {
		return err
	}
	if _, err := models.Migrate(ctx, db); err != nil {
		return err
	}
	progress := func(format string, a ...any) {
		if !*asJSON {
			fmt.Fprintf(stderr, format+"\n", a...)
		}
	}
	res := benchResult{Recipients: *n, Workers: *workers, BatchSize: *batch, Concurrency: *conc, Pipeline: *pipeline, RawConcurrency: *workers * *conc}
	if l := debug.SetMemoryLimit(-1); l < math.MaxInt64 {
		res.MemLimitMB = int(l >> 20)
	}
	t, _ := models.ParseDSN(benchDSN)
	res.Database = t.String()

	// WeChat pushes sent events from many connections at once: 64 here.
	// Each push is answered once its event is committed, so intake is about
	// (pushes in flight) / (commit time); a few workers would measure the
	// sandbox, not the endpoint.
	sbOpts := benchSandboxOptions{pushWorkers: 64, pushQueue: 200000}
	// The raw bound first, with a sandbox of its own (stopped before the
	// engine's is filled): the same number of sends, no database.
	progress("bench: raw bound: %d sends straight to a sandbox (%s)...", *n, *sbMode)
	raw, err := benchRaw(ctx, *n, res.RawConcurrency, func() (benchWeChat, error) {
		return startBenchWeChat(*sbMode, *sbBin, benchSandboxOptions{pushWorkers: 4, pushQueue: 10000})
	})
	if err != nil {
		return err
	}
	progress("bench: raw bound with pushes: %d sends, the sandbox pushing each one's sent event to a receiver that stores nothing...", *n)
	rawPush, err := benchRawRun(ctx, *n, res.RawConcurrency, func() (benchWeChat, error) {
		return startBenchWeChat(*sbMode, *sbBin, sbOpts)
	}, true)
	if err != nil {
		return err
	}
	res.RawPushSendsPerSec, res.RawPushMsgsPerSec, res.RawPushesLost = rawPush.sendsPerSec, rawPush.msgsPerSec, rawPush.pushesLost
	sb, err := startBenchWeChat(*sbMode, *sbBin, sbOpts)
	if err != nil {
		return err
	}
	defer sb.Close()
	res.Sandbox = *sbMode
	res.RawMsgsPerSec = raw
	runtime.GC()
	debug.FreeOSMemory()

	setupStart := time.Now()
	progress("bench: %s, %d recipients: setting up...", res.Database, *n)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := models.NewSealer(key)
	if err != nil {
		return err
	}
	// WeChat's pushes go to the console's real push endpoint, served once
	// the engine exists.
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	pushURL := "http://" + pl.Addr().String() + "/wx/push/" + benchAppID
	app, tpl, err := benchSetup(ctx, db, sb, sealer, pushURL)
	if err != nil {
		return err
	}
	if err := benchSeed(ctx, db, sb, app, tpl, *n); err != nil {
		return err
	}
	res.SetupSeconds = time.Since(setupStart).Seconds()

	progress("bench: engine: draining %d deliveries...", *n)
	e, err := scheduler.NewEngine(scheduler.Config{DB: db, Sealer: sealer, Logger: quiet, Workers: *workers, BatchSize: *batch,
		Concurrency: *conc, Pipeline: *pipeline, NoRateLimit: true, PollInterval: 20 * time.Millisecond, AppRefresh: time.Minute})
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	sentEvents := models.NewSentEventWriter(db)
	hs := &http.Server{Handler: web.New(web.Deps{DB: db, Logger: quiet, Sealer: sealer, Events: e, SentEvents: sentEvents}).Echo,
		ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(pl) }()
	defer func() { _ = hs.Close(); sentEvents.Close() }()
	meter.sandbox = sb
	cost0 := meter.snap()
	cpu0 := cpuSeconds()
	start := time.Now()
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := e.Start(ectx); err != nil {
		return err
	}
	last, lastAt := int64(-1), time.Now()
	for e.Sent() < int64(*n) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s := e.Sent(); s != last {
			last, lastAt = s, time.Now()
		} else if time.Since(lastAt) > 30*time.Second {
			break // stuck: report what was sent
		}
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cpu := cpuSeconds() - cpu0
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			return err
		}
	}
	sent := e.Sent()
	progress("bench: settling: waiting up to 30 s for the sent events...")
	if err := benchSettle(ctx, watch, sb, e, start, sent, &res); err != nil {
		return err
	}
	settledShare, err := benchSettledAll(ctx, watch, sb, sent, 5*time.Minute)
	if err != nil {
		return err
	}
	res.benchCost = meter.result(cost0, meter.snap(), sent, time.Since(start).Seconds())
	res.CostSettled = settledShare
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	_ = e.Stop(sctx)
	scancel()
	progress("bench: push intake: flooding the push endpoint...")
	if res.PushIntakePerSec, err = benchPushIntake(ctx, pushURL, min(*n, 50000), 128); err != nil {
		return err
	}
	res.EngineSeconds = elapsed.Seconds()
	res.MsgsPerSec = float64(sent) / elapsed.Seconds()
	if sent > 0 {
		res.CPUSecPer1k = cpu / (float64(sent) / 1000)
	}
	if res.RawMsgsPerSec > 0 {
		res.FractionOfRaw = res.MsgsPerSec / res.RawMsgsPerSec
	}
	res.P50Ms, res.P99Ms, res.P50ClaimMs, res.P99ClaimMs, err = benchLatency(ctx, db)
	if err != nil {
		return err
	}
	// One template, one credit each: every recipient should have exactly
	// one message accepted.
	pairs, accepted, err := sb.AcceptedSummary(ctx, benchAppID)
	if err != nil {
		return err
	}
	res.Duplicates = accepted - pairs
	res.Unsent = int64(*n) - pairs
	res.PeakRSSMB = peakRSSMB()
	res.SandboxPeakRSSMB = sb.PeakRSSMB()
	if res.CounterDrift, err = benchCounterDrift(ctx, db); err != nil {
		return err
	}
	var wrong error
	if res.Duplicates != 0 || res.Unsent != 0 || res.CounterDrift != 0 {
		wrong = errors.New("the sandbox counted duplicates or unsent messages, or the status counters drifted from the rows")
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		return errors.Join(enc.Encode(res), wrong)
	}
	fmt.Fprintf(stdout, "database           %s\n", res.Database)
	fmt.Fprintf(stdout, "recipients         %d (setup %.1fs)\n", res.Recipients, res.SetupSeconds)
	fmt.Fprintf(stdout, "engine             %d workers × %d in flight, batches of %d\n", res.Workers, res.Concurrency, res.BatchSize)
	fmt.Fprintf(stdout, "messages/s         %.0f (%d sent in %.2fs)\n", res.MsgsPerSec, sent, res.EngineSeconds)
	fmt.Fprintf(stdout, "raw bound          %.0f calls/s (no database, %d in flight)\n", res.RawMsgsPerSec, res.RawConcurrency)
	fmt.Fprintf(stdout, "fraction of raw    %.2f\n", res.FractionOfRaw)
	fmt.Fprintf(stdout, "raw with pushes    %.0f sends/s while pushing, %.0f msgs/s to the last push (no database, receiver stores nothing; %d pushes lost)\n", res.RawPushSendsPerSec, res.RawPushMsgsPerSec, res.RawPushesLost)
	fmt.Fprintf(stdout, "CPU s / 1,000 msgs %.3f (this process while sending: %s; not the database server)\n", res.CPUSecPer1k, benchProcessHolds(res.Sandbox))
	fmt.Fprintf(stdout, "whole cost / 1,000 engine start to %.0f%% settled (%.1fs): this process %.3f CPU s, sandbox process %s CPU s, database server %s CPU s (its statements for this bench: %s)\n",
		100*res.CostSettled, res.CostSeconds, res.MinipushCPUPer1k, orNA(res.SandboxCPUPer1k, "%.3f"), orNA(res.DBServerCPUPer1k, "%.3f"), orNA(res.DBUserCPUPer1k, "%.3f"))
	fmt.Fprintf(stdout, "per message        %.2f statements, %s commits, %.2f rows written, %s index rows changed\n",
		res.StatementsPerMsg, orNA(res.CommitsPerMsg, "%.2f"), res.RowsWrittenPerMsg, orNA(res.IndexRowsPerMsg, "%.1f"))
	fmt.Fprintf(stdout, "peak RSS           %.0f MB (this process: %s; Go memory limit %d MiB); sandbox process %s MB\n",
		res.PeakRSSMB, benchProcessHolds(res.Sandbox), res.MemLimitMB, orNA(res.SandboxPeakRSSMB, "%.0f"))
	fmt.Fprintf(stdout, "queued → sent      p50 %.0f ms, p99 %.0f ms (all queued just before the start)\n", res.P50Ms, res.P99Ms)
	fmt.Fprintf(stdout, "claimed → sent     p50 %.0f ms, p99 %.0f ms\n", res.P50ClaimMs, res.P99ClaimMs)
	fmt.Fprintf(stdout, "sent events in     %.0f/s while sending (%d pushes dropped)\n", res.EventsPerSec, res.PushesDropped)
	fmt.Fprintf(stdout, "settled in 30 s    %.1f%% of accepted messages delivered or failed 30 s after the last send\n", 100*res.SettledIn30s)
	fmt.Fprintf(stdout, "settle locks       at most %d rows in one settle transaction\n", res.MaxSettleLocks)
	fmt.Fprintf(stdout, "push intake        %.0f sent-event pushes/s when flooded (capacity of /wx/push)\n", res.PushIntakePerSec)
	fmt.Fprintf(stdout, "duplicates         %d\n", res.Duplicates)
	fmt.Fprintf(stdout, "unsent             %d\n", res.Unsent)
	fmt.Fprintf(stdout, "counter drift      %d (status counters against the rows)\n", res.CounterDrift)
	return wrong
}

// benchCounterDrift is Σ |counter − rows| over the statuses, read once the
// engine has stopped.
func benchCounterDrift(ctx context.Context, db *gorm.DB) (int64, error) {
	off, err := models.CounterDrift(ctx, db)
	var drift int64
	for _, d := range off {
		drift += max(d[0]-d[1], d[1]-d[0])
	}
	return drift, err
}

// benchProcessHolds says what this process's CPU and memory figures cover.
func benchProcessHolds(sandboxMode string) string {
	if sandboxMode == "inline" {
		return "engine, push endpoint, settler and the sandbox"
	}
	return "engine, push endpoint, settler"
}

// benchDatabase makes a throwaway database next to the one named and
// returns its DSN and a function dropping it.
func benchDatabase(dsn string) (string, func(), error) {
	t, err := models.ParseDSN(dsn)
	if err != nil {
		return "", nil, fmt.Errorf("--db: %v", err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	if t.Dialect == models.DialectSQLite {
		dir := filepath.Dir(t.Path)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return "", nil, err
		}
		tmp, err := os.MkdirTemp(dir, "minipush-bench-")
		if err != nil {
			return "", nil, err
		}
		return "sqlite:" + filepath.Join(tmp, "bench.db"), func() { _ = os.RemoveAll(tmp) }, nil
	}
	admin := *t.Config
	admin.DBName = ""
	conn, err := sql.Open("mysql", admin.FormatDSN())
	if err != nil {
		return "", nil, err
	}
	name := "minipush_bench_" + suffix
	if _, err := conn.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		conn.Close()
		return "", nil, fmt.Errorf("--db: cannot create a throwaway database on %s: %v", t, err)
	}
	cfg := *t.Config
	cfg.DBName = name
	return "mysql:" + cfg.FormatDSN(), func() {
		_, _ = conn.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		conn.Close()
	}, nil
}

// benchLatency returns p50 and p99 of each sent delivery's sent_at −
// queued_at, and of sent_at − called_at (claimed to sent).
func benchLatency(ctx context.Context, db *gorm.DB) (p50, p99, claim50, claim99 float64, err error) {
	var n int64
	if err := db.WithContext(ctx).Model(&models.Delivery{}).Where("sent_at IS NOT NULL").Count(&n).Error; err != nil {
		return 0, 0, 0, 0, err
	}
	queued, claimed := make([]float32, 0, n), make([]float32, 0, n)
	var lastID int64
	for {
		var rows []struct {
			ID       int64
			QueuedAt time.Time
			CalledAt *time.Time
			SentAt   *time.Time
		}
		err := db.WithContext(ctx).Model(&models.Delivery{}).Select("id, queued_at, called_at, sent_at").
			Where("id > ? AND sent_at IS NOT NULL", lastID).Order("id").Limit(20000).Scan(&rows).Error
		if err != nil {
			return 0, 0, 0, 0, err
		}
		if len(rows) == 0 {
			break
		}
		for _, r := range rows {
			queued = append(queued, float32(r.SentAt.Sub(r.QueuedAt))/float32(time.Millisecond))
			if r.CalledAt != nil {
				claimed = append(claimed, float32(r.SentAt.Sub(*r.CalledAt))/float32(time.Millisecond))
			}
		}
		lastID = rows[len(rows)-1].ID
	}
	pct := func(ms []float32, p float64) float64 {
		if len(ms) == 0 {
			return 0
		}
		return float64(ms[min(len(ms)-1, int(p*float64(len(ms))))])
	}
	slices.Sort(queued)
	slices.Sort(claimed)
	return pct(queued, 0.50), pct(queued, 0.99), pct(claimed, 0.50), pct(claimed, 0.99), nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func peakRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // kilobytes on Linux
}
