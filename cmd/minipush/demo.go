package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/scheduler/jobs"
	"github.com/minipush/minipush/web"
	"github.com/minipush/minipush/wechat/sandbox"
)

// demoOptions configure `minipush demo`.
type demoOptions struct {
	Addr     string // console address
	Users    int    // users seeded
	Keep     bool   // keep the database folder on exit
	Dir      string // parent of the throwaway folder ("": the system's temp dir)
	Simulate bool   // run the background simulator
	Pushed   int    // users whose taps go through WeChat's pushes (0: demoPushedUsers)
	SimEvery time.Duration
	Location *time.Location
	Log      *slog.Logger // the console's and the engine's log
}

// demoLogin is one staff sign-in the demo prints.
type demoLogin struct {
	Role     models.Role
	Email    string
	Password string
}

// demo is a running demo: the console, the engine, the jobs, the sandbox
// and the simulator, over a throwaway SQLite database.
type demo struct {
	URL        string // the console
	SandboxURL string
	Dir        string // the throwaway folder holding the database and its key
	DBPath     string
	Logins     []demoLogin
	APIKey     string
	Seeded     time.Duration
	Seed       *demoSeed

	db     *gorm.DB
	sb     *sandbox.Server
	engine *scheduler.Engine
	runner *jobs.Runner
	sim    *demoSim
	hs     *http.Server
	events *models.SentEventWriter
	keep   bool
	log    *slog.Logger
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o demoOptions
	fs.StringVar(&o.Addr, "addr", envOr("MINIPUSH_ADDR", "127.0.0.1:8080"), "address the console listens on (env MINIPUSH_ADDR)")
	fs.IntVar(&o.Users, "users", 10000, "users to seed")
	fs.BoolVar(&o.Keep, "keep", false, "keep the demo's database folder on exit (it is printed); reopen it with `minipush serve --db sqlite:PATH`")
	fs.StringVar(&o.Dir, "dir", "", "make the throwaway folder inside this one (default: the system's temporary folder)")
	verbose := fs.Bool("verbose", false, "log every request and job run (default: warnings and errors only)")
	fs.BoolVar(&o.Simulate, "simulate", true, "simulate users tapping allow and receiving messages in the background")
	tz := fs.String("timezone", envOr("MINIPUSH_TIMEZONE", "Asia/Shanghai"), "time zone the console shows times in (env MINIPUSH_TIMEZONE)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: minipush demo [flags]\n\nA living console with nothing to set up: a throwaway SQLite database (removed on exit unless --keep),\n"+
			"the sandbox as WeChat in the same process, one account with synced templates, users with credits,\n"+
			"long-term subscriptions and rejections, a finished campaign, a recurring one scheduled, API messages,\n"+
			"and simulated users tapping allow and receiving messages. It prints the address and a sign-in per role.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.Users < 100 || o.Users > 1_000_000 {
		return fmt.Errorf("--users %d: use 100 to 1,000,000", o.Users)
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return fmt.Errorf("--timezone %q: not a known time zone (use an IANA name such as Asia/Shanghai)", *tz)
	}
	if !*verbose {
		log = slog.New(minLevel{log.Handler(), slog.LevelWarn})
	}
	o.Location, o.Log, o.SimEvery = loc, log, 700*time.Millisecond
	fmt.Fprintf(stdout, "minipush demo: seeding %d users through the sandbox and the console (about half a minute)...\n", o.Users)
	d, err := startDemo(ctx, o)
	if err != nil {
		return err
	}
	printDemo(stdout, d)
	<-ctx.Done()
	fmt.Fprintln(stdout, "minipush demo: stopping...")
	err = d.Close()
	if d.sim != nil {
		fmt.Fprintf(stdout, "minipush demo: the simulator made %d taps and %d messages (%d errors)\n",
			d.sim.Taps.Load(), d.sim.Messages.Load(), d.sim.Errors.Load())
	}
	return err
}

// printDemo prints where the demo is and how to sign in.
func printDemo(w io.Writer, d *demo) {
	fmt.Fprintf(w, "\nminipush demo is ready in %.1f s (%s): %s\n\n", d.Seeded.Seconds(), strings.Join(d.Seed.Steps, ", "), d.URL)
	fmt.Fprintf(w, "  %-9s %-30s %s\n", "role", "email", "password")
	for _, l := range d.Logins {
		fmt.Fprintf(w, "  %-9s %-30s %s\n", l.Role, l.Email, l.Password)
	}
	s := d.Seed
	fmt.Fprintf(w, "\n  account     %s (%s), %d templates synced from the sandbox\n", demoAppName, demoAppID, len(s.Templates))
	fmt.Fprintf(w, "  users       %d: %d allowed a template, %d rejected one, %d long-term subscriptions\n", s.Users, s.Allowed, s.Rejected, s.LongTerm)
	fmt.Fprintf(w, "  campaign    #%d %q finished: %d delivered, %d failed, %d skipped\n", s.CampaignID, demoCampaignName, s.RunDelivered, s.RunFailed, s.RunSkipped)
	fmt.Fprintf(w, "  recurring   #%d %q, next firing %s\n", s.RecurringID, demoRecurringName, s.RecurringNext.In(d.Seed.loc).Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "  API key     %s (%d messages sent with it)\n", d.APIKey, s.APIMessages)
	fmt.Fprintf(w, "  sandbox     %s (the fake WeChat; its control API is under /sandbox/)\n", d.SandboxURL)
	if d.keep {
		fmt.Fprintf(w, "  database    %s (kept: minipush serve --db sqlite:%s)\n", d.DBPath, d.DBPath)
	} else {
		fmt.Fprintf(w, "  database    %s (removed on exit; --keep keeps it)\n", d.DBPath)
	}
	if d.sim != nil {
		fmt.Fprintf(w, "\nSimulated users keep tapping allow and receiving messages. Ctrl+C stops the demo.\n")
	} else {
		fmt.Fprintf(w, "\nCtrl+C stops the demo.\n")
	}
}

// startDemo builds and seeds a demo and serves it; Close stops it.
func startDemo(ctx context.Context, o demoOptions) (d *demo, err error) {
	start := time.Now()
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	dir, err := os.MkdirTemp(o.Dir, "minipush-demo-")
	if err != nil {
		return nil, err
	}
	d = &demo{Dir: dir, DBPath: filepath.Join(dir, "demo.db"), keep: o.Keep, log: o.Log}
	defer func() {
		if err != nil {
			_ = d.Close()
		}
	}()
	target, err := models.ParseDSN("sqlite:" + d.DBPath)
	if err != nil {
		return d, err
	}
	quiet := slog.New(slog.DiscardHandler)
	if d.db, err = models.OpenTarget(ctx, target, models.OpenOptions{Logger: quiet, SlowQuery: time.Minute}); err != nil {
		return d, err
	}
	if _, err = models.Migrate(ctx, d.db); err != nil {
		return d, err
	}
	// The key lands next to the database, as `serve` would make it, so a
	// kept demo reopens with `minipush serve --db sqlite:PATH`.
	key, err := web.ResolveSecretKey("", target, func(string) {})
	if err != nil {
		return d, err
	}
	sealer, err := models.NewSealer(key)
	if err != nil {
		return d, err
	}

	// WeChat: the sandbox in this process, pushing its events to the
	// console's real push endpoint.
	d.sb = sandbox.New(sandbox.Options{Logger: quiet, PushWorkers: 4, PushQueue: 200000, PushRetryDelay: 200 * time.Millisecond})
	if d.SandboxURL, err = d.sb.Start("127.0.0.1:0"); err != nil {
		return d, err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return d, fmt.Errorf("--addr %s: %v", o.Addr, err)
	}
	d.URL = "http://" + ln.Addr().String()

	holder := models.NewInstanceID()
	wx := &http.Client{Timeout: 10 * time.Second}
	d.engine, err = scheduler.NewEngine(scheduler.Config{DB: d.db, Sealer: sealer, Logger: o.Log, InstanceID: holder,
		RetryBase: 300 * time.Millisecond, RetryMax: 2 * time.Second, PollInterval: 100 * time.Millisecond, HTTPClient: wx})
	if err != nil {
		_ = ln.Close()
		return d, err
	}
	if err = d.engine.Start(context.WithoutCancel(ctx)); err != nil {
		_ = ln.Close()
		return d, err
	}
	d.events = models.NewSentEventWriter(d.db)
	// The jobs start after seeding (the seed drives the campaign job's work
	// itself); the console already takes WeChat's pushes.
	runner := jobs.New(d.db, o.Log, o.Location, holder)
	srv := web.New(web.Deps{DB: d.db, Logger: o.Log, Sealer: sealer, Location: o.Location, Version: version,
		WeChatHTTP: wx, Jobs: runner, Events: d.engine, Queue: d.engine, SentEvents: d.events, Metrics: d.engine.MetricsHandler()})
	d.hs = &http.Server{Handler: srv.Echo, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = d.hs.Serve(ln) }()

	seed := &demoSeed{db: d.db, sb: d.sb, sealer: sealer, wx: wx, engine: d.engine, log: o.Log, loc: o.Location,
		consoleURL: d.URL, sandboxURL: d.SandboxURL, users: o.Users, pushed: o.Pushed}
	if err = seed.run(ctx); err != nil {
		return d, fmt.Errorf("seeding the demo: %w", err)
	}
	d.Seed, d.Logins, d.APIKey = seed, seed.logins, seed.apiKey

	if err = addJobs(runner, d.db, sealer, o.Log, wx, jobSettings{Notify: d.engine.Notify}); err != nil {
		return d, err
	}
	runner.Start()
	d.runner = runner
	if o.Simulate {
		d.sim = newDemoSim(seed, o.SimEvery)
		d.sim.start()
	}
	d.Seeded = time.Since(start)
	o.Log.Info("minipush demo ready", "addr", d.URL, "seconds", d.Seeded.Seconds())
	return d, nil
}

// Close stops the demo in serve's order (HTTP, simulator, jobs, engine,
// sandbox, database) and removes its folder unless kept.
func (d *demo) Close() error {
	var errs []error
	if d.sim != nil {
		d.sim.stop()
	}
	if d.hs != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, d.hs.Shutdown(sctx))
		cancel()
	}
	if d.events != nil {
		d.events.Close()
	}
	if d.runner != nil {
		jctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		errs = append(errs, d.runner.Stop(jctx))
		cancel()
	}
	if d.engine != nil {
		ectx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, d.engine.Stop(ectx))
		cancel()
	}
	if d.sb != nil {
		_ = d.sb.Close()
	}
	if d.db != nil {
		models.Close(d.db)
	}
	if !d.keep && d.Dir != "" {
		errs = append(errs, os.RemoveAll(d.Dir))
	}
	return errors.Join(errs...)
}

// minLevel drops records below a level.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}
func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}
