package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/web"
	"github.com/minipush/minipush/wechat"
)

// dbFlags are the flags every database command shares.
type dbFlags struct {
	dsn string
}

func (d *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.dsn, "db", envOr("MINIPUSH_DB", "sqlite:data/minipush.db"),
		"database: sqlite:PATH or mysql:user:pass@tcp(host:3306)/dbname (env MINIPUSH_DB)")
}

// open parses and opens the database, with a one-line error naming --db.
func (d *dbFlags) open(ctx context.Context, log *slog.Logger) (*gorm.DB, models.Target, error) {
	t, err := models.ParseDSN(d.dsn)
	if err != nil {
		return nil, t, fmt.Errorf("--db: %v", err)
	}
	db, err := models.OpenTarget(ctx, t, models.OpenOptions{Logger: log})
	if err != nil {
		return nil, t, fmt.Errorf("--db: %v", err)
	}
	return db, t, nil
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dbFlags
	d.register(fs)
	addr := fs.String("addr", envOr("MINIPUSH_ADDR", ":8080"), "address to listen on (env MINIPUSH_ADDR)")
	tz := fs.String("timezone", envOr("MINIPUSH_TIMEZONE", "Asia/Shanghai"), "time zone the console shows times in (env MINIPUSH_TIMEZONE)")
	noMigrateEnv, err1 := envBool("MINIPUSH_NO_MIGRATE")
	trustProxyEnv, err2 := envBool("MINIPUSH_TRUST_PROXY")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	noMigrate := fs.Bool("no-migrate", noMigrateEnv, "do not apply migrations at start-up; refuse to start on an old schema (env MINIPUSH_NO_MIGRATE)")
	trustProxy := fs.Bool("trust-proxy", trustProxyEnv, "take client address and scheme from X-Forwarded-For/-Proto (only behind a proxy you control) (env MINIPUSH_TRUST_PROXY)")
	retention, err := envInt("MINIPUSH_RETENTION_DAYS")
	if err != nil {
		return err
	}
	retentionDays := fs.Int("retention-days", retention, "keep this many days of deliveries and events; older ones are deleted by the retention job (0: keep everything) (env MINIPUSH_RETENTION_DAYS)")
	publicURL := fs.String("public-url", os.Getenv("MINIPUSH_PUBLIC_URL"), "base URL WeChat and browsers reach this console at, e.g. https://push.example.com; the account page builds the push URL from it (env MINIPUSH_PUBLIC_URL)")
	var ecfg engineFlags
	if err := ecfg.register(fs); err != nil {
		return err
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: minipush serve [flags]\n\nRuns the web console on --addr against --db. Migrations are applied first unless --no-migrate.\nMINIPUSH_SECRET_KEY (base64, 32 bytes) encrypts app secrets; on SQLite one is generated into the data folder when unset.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *retentionDays < 0 {
		return fmt.Errorf("--retention-days %d: use 0 (keep everything) or a number of days", *retentionDays)
	}
	pub, err := web.ParsePublicURL(*publicURL)
	if err != nil {
		return fmt.Errorf("--public-url: %v", err)
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return fmt.Errorf("--timezone %q: not a known time zone (use an IANA name such as Asia/Shanghai)", *tz)
	}
	db, target, err := d.open(ctx, log)
	if err != nil {
		return err
	}
	defer models.Close(db)
	key, err := web.ResolveSecretKey(os.Getenv("MINIPUSH_SECRET_KEY"), target, func(msg string) { log.Warn(msg) })
	if err != nil {
		return err
	}
	sealer, err := models.NewSealer(key)
	if err != nil {
		return err
	}
	if *noMigrate {
		if err := models.CheckSchema(ctx, db); err != nil {
			return fmt.Errorf("--no-migrate: %v", err)
		}
	} else {
		res, err := models.Migrate(ctx, db)
		if err != nil {
			return err
		}
		if len(res.Applied) > 0 {
			log.Info("migrated", "from", res.From, "to", res.To, "applied", res.Applied)
		}
	}
	// A user import cut off by the last stop would show as running for ever.
	if n, err := models.InterruptStaleImports(ctx, db, time.Now()); err != nil {
		log.Warn("marking interrupted user imports failed", "err", err)
	} else if n > 0 {
		log.Warn("user imports interrupted by the last stop: staff can upload their files again", "count", n)
	}
	holder := models.NewInstanceID()
	wx := wechat.DefaultHTTPClient()
	runner, err := startJobs(db, sealer, loc, log, holder, wx, jobSettings{RetentionDays: *retentionDays})
	if err != nil {
		return err
	}
	engine, err := scheduler.NewEngine(scheduler.Config{DB: db, Sealer: sealer, Logger: log, InstanceID: holder,
		Workers: ecfg.workers, BatchSize: ecfg.batch, Concurrency: ecfg.inflight, MaxAttempts: ecfg.attempts})
	if err != nil {
		return err
	}
	// The engine is stopped gracefully below, never by cancelling its context.
	if err := engine.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	sentEvents := models.NewSentEventWriter(db)
	keyUsage := models.NewAPIKeyUsage(db, 2*time.Second, func(err error) { log.Warn("writing API key usage failed; kept for the next try", "err", err) })
	srv := web.New(web.Deps{DB: db, Logger: log, Sealer: sealer, Location: loc, TrustProxy: *trustProxy, Version: version,
		WeChatHTTP: wx, Jobs: runner, Events: engine, Queue: engine, SentEvents: sentEvents, APIKeyUsage: keyUsage,
		Metrics: engine.MetricsHandler(), MetricsToken: os.Getenv("MINIPUSH_METRICS_TOKEN"), PublicURL: pub})
	err = srv.Start(ctx, *addr, func(a string) {
		log.Info("minipush serving", "addr", a, "db", target.String(), "version", version, "instance", holder)
	})
	// Shutdown order: HTTP has stopped accepting (Start returned); pushed
	// events still queued are written; the cron stops and running jobs
	// finish (bounded); the engine stops; the database closes last.
	sentEvents.Close()
	jctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if kerr := keyUsage.Close(jctx); kerr != nil {
		log.Warn("API key usage at shutdown", "err", kerr)
	}
	if jerr := runner.Stop(jctx); jerr != nil {
		log.Warn("jobs at shutdown", "err", jerr)
	}
	sctx, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	// Send workers stop claiming; in-flight sends finish or are released
	// within the bound; then the database closes (deferred above).
	if eerr := engine.Stop(sctx); eerr != nil {
		log.Warn("delivery engine at shutdown", "err", eerr)
	}
	log.Info("minipush stopped")
	return err
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dbFlags
	d.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: minipush migrate [flags]\n\nApplies every database migration not yet applied, in order, and exits.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	db, target, err := d.open(ctx, log)
	if err != nil {
		return err
	}
	defer models.Close(db)
	res, err := models.Migrate(ctx, db)
	if err != nil {
		return err
	}
	if len(res.Applied) == 0 {
		fmt.Fprintf(stdout, "%s: schema is current (version %d)\n", target, res.To)
		return nil
	}
	for _, m := range res.Applied {
		fmt.Fprintf(stdout, "applied %s\n", m)
	}
	fmt.Fprintf(stdout, "%s: schema now at version %d\n", target, res.To)
	return nil
}

// envBool reads a boolean environment variable; a value that is not one
// (true/false/1/0/t/f) stops the program, as every bad setting does.
func envBool(name string) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: use true or false", name, v)
	}
	return b, nil
}

// envInt reads a whole-number environment variable (0 when unset); a
// value that is not one stops the program.
func envInt(name string) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: use a whole number of 0 or more", name, v)
	}
	return n, nil
}

// engineFlags size the delivery engine of this instance.
type engineFlags struct {
	workers, batch, inflight, attempts int
}

func (f *engineFlags) register(fs *flag.FlagSet) error {
	var errs []error
	num := func(p *int, name, env, usage string) {
		def := 0
		if v := os.Getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				errs = append(errs, fmt.Errorf("%s=%q: use a whole number of at least 1", env, v))
			}
			def = n
		}
		fs.IntVar(p, name, def, usage+" (env "+env+"; 0: the engine's default)")
	}
	num(&f.workers, "workers", "MINIPUSH_WORKERS", "send workers in this instance")
	num(&f.batch, "batch", "MINIPUSH_BATCH", "deliveries one worker claims at a time")
	num(&f.inflight, "in-flight", "MINIPUSH_IN_FLIGHT", "WeChat requests one worker keeps in flight")
	num(&f.attempts, "max-attempts", "MINIPUSH_MAX_ATTEMPTS", "calls for one delivery on transient errors before it fails and its credit is given back")
	return errors.Join(errs...)
}
