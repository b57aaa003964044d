package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/wechat/sandbox"
)

// TestRetentionCostMariaDB measures what retention costs on MariaDB at 10M
// delivery rows: it fills a database (MINIPUSH_RETENTION_BENCH_DB names it;
// dropped and made again each run) with 10,000,000 final deliveries created
// over the 30 days before yesterday, then sends 20,000 messages through the
// delivery engine (no rate limit, in-process sandbox) alone, 20,000 more
// while retention deletes everything older than 28 days beside it
// (MINIPUSH_RETENTION_BENCH_KEEP_DAYS), and
// lets retention finish. It prints rows/s and the send rates; a
// measurement, not a check (nothing is asserted about the figures).
//
// MINIPUSH_RETENTION_BENCH_SERVER picks the server (default
// root@tcp(127.0.0.1:3306)).
//
//	MINIPUSH_RETENTION_BENCH_DB=mp_retention_bench go test -run TestRetentionCostMariaDB -v -timeout 2h ./cmd/minipush/
func TestRetentionCostMariaDB(t *testing.T) {
	name := os.Getenv("MINIPUSH_RETENTION_BENCH_DB")
	if name == "" {
		t.Skip("set MINIPUSH_RETENTION_BENCH_DB=mp_retention_bench to measure retention on MariaDB (about 30 minutes)")
	}
	ctx := context.Background()
	total := 10_000_000
	if v := os.Getenv("MINIPUSH_RETENTION_BENCH_ROWS"); v != "" {
		fmt.Sscan(v, &total)
	}
	server := "root@tcp(127.0.0.1:3306)"
	if v := os.Getenv("MINIPUSH_RETENTION_BENCH_SERVER"); v != "" {
		server = v
	}
	root, err := models.Open(ctx, "mysql:"+server+"/mysql", models.OpenOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// MINIPUSH_RETENTION_BENCH_REUSE=1 measures again on the rows a
	// previous run left (with a smaller MINIPUSH_RETENTION_BENCH_KEEP_DAYS).
	reuse := os.Getenv("MINIPUSH_RETENTION_BENCH_REUSE") != ""
	for _, q := range []string{"DROP DATABASE IF EXISTS `" + name + "`", "CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"} {
		if reuse {
			break
		}
		if err := root.Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	models.Close(root)
	db, err := models.Open(ctx, "mysql:"+server+"/"+name, models.OpenOptions{Logger: slog.New(slog.DiscardHandler), SlowQuery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer models.Close(db)
	if _, err := models.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	sb := sandbox.New(sandbox.Options{Logger: quiet, DailyQuota: 1 << 40})
	defer sb.Close()
	url, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, _ := models.NewSealer(key)
	var app *models.App
	var tpl *models.Template
	if reuse {
		app, tpl = benchReuse(t, db, sb, url, sealer)
	} else if app, tpl, err = benchSetup(ctx, db, &inlineWeChat{sb: sb, url: url}, sealer, ""); err != nil {
		t.Fatal(err)
	}
	must := func(q string, args ...any) {
		t.Helper()
		start := time.Now()
		if err := db.Exec(q, args...).Error; err != nil {
			t.Fatalf("%.80s: %v", q, err)
		}
		t.Logf("%6.1f s  %.90s", time.Since(start).Seconds(), q)
	}
	const users = 100_000
	var firstUser int64
	if !reuse {
		fillBench(t, db, must, app, tpl, users, total)
	}
	db.Raw("SELECT MIN(id) FROM users WHERE app_id = ?", app.ID).Scan(&firstUser)

	hc := &http.Client{Timeout: 10 * time.Second}
	e, err := scheduler.NewEngine(scheduler.Config{DB: db, Sealer: sealer, Logger: quiet, NoRateLimit: true, PollInterval: 20 * time.Millisecond, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	// send queues n messages for users from the n-th on and returns the
	// engine's rate until they are all sent.
	send := func(offset, n int) float64 {
		t.Helper()
		var us []struct {
			ID     int64
			OpenID string `gorm:"column:openid"`
		}
		db.Raw("SELECT id, openid FROM users WHERE app_id = ? AND id >= ? ORDER BY id LIMIT ?", app.ID, firstUser+int64(offset), n).Scan(&us)
		nds := make([]models.NewDelivery, len(us))
		for i, u := range us {
			if err := sb.Grant(benchAppID, u.OpenID, benchTplID, 1); err != nil {
				t.Fatal(err)
			}
			nds[i] = models.NewDelivery{AppID: app.ID, UserID: u.ID, TemplateID: tpl.ID, OpenID: u.OpenID, Data: map[string]string{"thing1": "咖啡豆 250g", "number2": "2"}}
		}
		before := e.Sent()
		start := time.Now()
		for i := 0; i < len(nds); i += 1000 {
			if _, err := models.EnqueueDeliveries(ctx, db, nds[i:min(i+1000, len(nds))]); err != nil {
				t.Fatal(err)
			}
		}
		e.Notify()
		for e.Sent()-before < int64(len(nds)) {
			if time.Since(start) > 10*time.Minute {
				t.Fatalf("sent %d of %d in 10 minutes", e.Sent()-before, len(nds))
			}
			time.Sleep(10 * time.Millisecond)
		}
		return float64(len(nds)) / time.Since(start).Seconds()
	}
	alone := send(0, 20000)
	t.Logf("send rate alone: %.0f msgs/s", alone)

	keepDays := 28 // of 30: about 690,000 rows to delete
	if v := os.Getenv("MINIPUSH_RETENTION_BENCH_KEEP_DAYS"); v != "" {
		fmt.Sscan(v, &keepDays)
	}
	cutoff := time.Now().Add(-time.Duration(keepDays) * 24 * time.Hour)
	type pruned struct {
		res models.RetentionResult
		dur time.Duration
		err error
	}
	done := make(chan pruned, 1)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		start := time.Now()
		pause := 0 // the job pauses 20 ms between batches: MINIPUSH_RETENTION_BENCH_PAUSE_MS=20
		fmt.Sscan(os.Getenv("MINIPUSH_RETENTION_BENCH_PAUSE_MS"), &pause)
		res, err := models.PruneOld(pctx, db, models.RetentionOptions{Cutoff: cutoff, Pause: time.Duration(pause) * time.Millisecond})
		done <- pruned{res, time.Since(start), err}
	}()
	beside := send(20000, 20000)
	t.Logf("send rate while retention deletes: %.0f msgs/s (%.0f%% of alone)", beside, 100*beside/alone)
	p := <-done
	if p.err != nil {
		t.Fatal(p.err)
	}
	var left, old int64
	db.Raw("SELECT COUNT(*) FROM deliveries").Scan(&left)
	db.Raw("SELECT COUNT(*) FROM deliveries WHERE created_at < ?", cutoff.UTC()).Scan(&old)
	t.Logf("retention: deleted %d deliveries in %d batches in %.1f s: %.0f rows/s; longest delete %.0f ms; %d deliveries left, %d older than the cut-off",
		p.res.Deliveries, p.res.Batches, p.dur.Seconds(), float64(p.res.Total())/p.dur.Seconds(), float64(p.res.MaxDelete.Microseconds())/1000, left, old)
}

// fillBench makes the users (the first 40,000 with a credit) and total
// final deliveries created over the 30 days before yesterday, in id order.
func fillBench(t *testing.T, db *gorm.DB, must func(string, ...any), app *models.App, tpl *models.Template, users, total int) {
	t.Helper()
	must(fmt.Sprintf(`INSERT INTO users (app_id, openid, attributes, tags, created_at, updated_at)
		SELECT %d, CONCAT('obench', LPAD(seq, 9, '0')), '{}', '[]', NOW() - INTERVAL 40 DAY, NOW() FROM seq_0_to_%d`, app.ID, users-1))
	var firstUser int64
	db.Raw("SELECT MIN(id) FROM users WHERE app_id = ?", app.ID).Scan(&firstUser)
	must(fmt.Sprintf(`INSERT INTO subscriptions (user_id, template_id, credits, long_term, status, created_at, updated_at)
		SELECT id, %d, 1, 0, 'accept', NOW(), NOW() FROM users WHERE app_id = %d AND id < %d`, tpl.ID, app.ID, firstUser+40000))
	fillStart := time.Now()
	const chunk = 500_000
	span := 29 * 24 * time.Hour // 30 days ago to yesterday, in id order
	for from := 0; from < total; from += chunk {
		to := min(from+chunk, total) - 1
		must(fmt.Sprintf(`INSERT INTO deliveries (app_id, user_id, template_id, openid, page, data, status, reason, attempts,
			next_attempt_at, credit_spent, errcode, errmsg, msgid, queued_at, called_at, sent_at, settled_at, created_at, updated_at)
			SELECT %d, %d + (seq %% %d), %d, CONCAT('obench', LPAD(seq %% %d, 9, '0')), '', '{"thing1":"咖啡豆 250g","number2":"2"}',
			ELT(1 + (seq %% 100 > 89) + (seq %% 100 > 94), 'delivered', 'failed', 'skipped'),
			IF(seq %% 100 BETWEEN 90 AND 94, 'wechat', IF(seq %% 100 > 94, 'no_subscription', 'sent_event')), 1, t, 1,
			IF(seq %% 100 BETWEEN 90 AND 94, 43101, 0), '', IF(seq %% 100 < 90, seq, NULL), t, t, t, t, t, t
			FROM (SELECT seq, NOW() - INTERVAL 30 DAY + INTERVAL (seq * %d) MICROSECOND AS t FROM seq_%d_to_%d) s`,
			app.ID, firstUser, users, tpl.ID, users, span.Microseconds()/int64(total), from, to))
	}
	must("ANALYZE TABLE deliveries")
	t.Logf("filled %d deliveries in %.0f s", total, time.Since(fillStart).Seconds())
}

// benchReuse finds the bench account of a previous run, seals its secret
// with this run's key, registers it at this run's sandbox and gives the
// first 40,000 users their credit back.
func benchReuse(t *testing.T, db *gorm.DB, sb *sandbox.Server, url string, sealer *models.Sealer) (*models.App, *models.Template) {
	t.Helper()
	ctx := context.Background()
	app, err := models.GetAppByAppID(ctx, db, benchAppID)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := models.GetTemplateByWxID(ctx, db, app.ID, benchTplID)
	if err != nil {
		t.Fatal(err)
	}
	if err := benchSandboxApp(context.Background(), &inlineWeChat{sb: sb, url: url}, benchAppID, ""); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("UPDATE apps SET secret_enc = ?, api_base_url = ? WHERE id = ?", sealer.Seal(benchSecret), url, app.ID).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec("UPDATE subscriptions SET credits = 1 WHERE template_id = ?", tpl.ID).Error; err != nil {
		t.Fatal(err)
	}
	return app, tpl
}
