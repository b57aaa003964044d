package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

// failAfterSend is a transport that, when WeChat has answered a send,
// makes the database refuse writes (as a deadlock, MySQL error 1213) for a
// while: the engine then cannot record the answer.
type failAfterSend struct {
	next    http.RoundTripper
	failing *atomic.Bool
	window  time.Duration
}

func (f *failAfterSend) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := f.next.RoundTrip(r)
	if err == nil && r.URL.Path == wechat.PathSend && f.failing.CompareAndSwap(false, true) {
		time.AfterFunc(f.window, func() { f.failing.Store(false) })
	}
	return res, err
}

// TestRecordingFailureIsRetried reproduces what the
// faults drill found on a loaded MariaDB (100,000 users: 124 users never
// reached, with no instance killed): when recording WeChat's answers fails
// (the drill's engine log: "recording WeChat's answers failed: the
// deliveries will be settled by sent events ... Error 1213 Deadlock", 7
// batches of 200, after models.retryTx's 8 quick tries), the batch stays
// sending until its lease expires and is then declared unknown, credit
// held, never resent — also the deliveries WeChat answered -1 (or 45009),
// which provably were not delivered and would be retried had the answer
// been recorded. No sent event will ever come for them. Here the deadlock
// is injected for 1 s right after WeChat answers -1 to the only delivery;
// WeChat then accepts sends again. The delivery should be sent, once. The
// engine now keeps trying to record a batch's answers for 30 s
// (Engine.recordOutcomes); before that, this test failed: unknown,
// lease_expired, nothing at WeChat.
func TestRecordingFailureIsRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("MariaDB")
	}
	dsn := dbtest.CreateMySQLDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := newDrillEnv(ctx, "record-fail", dsn, "", sandbox.Options{}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	if err := drillSeedUsers(ctx, e, 1); err != nil {
		t.Fatal(err)
	}
	var u models.User
	if err := e.db.Where("openid = ?", benchOpenID(0)).First(&u).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := models.EnqueueDeliveries(ctx, e.db, []models.NewDelivery{{AppID: e.app.ID, UserID: u.ID, TemplateID: e.tpl.ID,
		OpenID: u.OpenID, Data: map[string]string{"thing1": "咖啡豆 250g", "number2": "2"}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.sb.SetFaults(benchAppID, sandbox.Faults{ErrorRate: 1}); err != nil { // every send: -1
		t.Fatal(err)
	}

	// The engine's own database handle, whose writes fail while failing.
	edb, err := models.Open(ctx, e.dsn, models.OpenOptions{Logger: slog.New(slog.DiscardHandler), SlowQuery: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer models.Close(edb)
	var failing atomic.Bool
	inject := func(tx *gorm.DB) {
		if failing.Load() {
			_ = tx.AddError(&gomysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock (injected)"})
		}
	}
	if err := edb.Callback().Raw().Before("gorm:raw").Register("drill:deadlock", inject); err != nil {
		t.Fatal(err)
	}
	if err := edb.Callback().Update().Before("gorm:update").Register("drill:deadlock", inject); err != nil {
		t.Fatal(err)
	}
	hc := wechat.DefaultHTTPClient()
	hc.Transport = &failAfterSend{next: hc.Transport, failing: &failing, window: time.Second}
	logs := &lockedWriter{w: &strings.Builder{}}
	log := slog.New(slog.NewTextHandler(logs, nil))
	eng, err := scheduler.NewEngine(scheduler.Config{DB: edb, Sealer: e.sealer, Logger: log, HTTPClient: hc,
		LeaseFor: 3 * time.Second, MaintainInterval: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		RetryBase: 100 * time.Millisecond, RetryMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = eng.Stop(sctx)
		scancel()
	}()

	// WeChat answered -1, the answer could not be recorded; then WeChat
	// works again.
	if err := waitFor(ctx, 30*time.Second, "WeChat answering -1", func() (bool, error) { return e.sb.Stats().ErrorsInjected > 0, nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.sb.SetFaults(benchAppID, sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}
	var d models.Delivery
	err = waitFor(ctx, 30*time.Second, "the delivery settled", func() (bool, error) {
		if err := e.db.First(&d, "user_id = ?", u.ID).Error; err != nil {
			return false, err
		}
		return d.Status == models.DeliverySent || d.Status == models.DeliveryDelivered || d.Status == models.DeliveryUnknown || d.Status == models.DeliveryFailed, nil
	})
	if err != nil {
		t.Fatalf("%v (status %s)\n%s", err, d.Status, logs.String())
	}
	// Sent (accepted by WeChat) is the end here: no serve instance takes the
	// sandbox's sent events in this test, so nothing turns it delivered.
	if (d.Status != models.DeliverySent && d.Status != models.DeliveryDelivered) || e.sb.Count(benchAppID, u.OpenID, benchTplID) != 1 {
		t.Fatalf("WeChat answered -1 (nothing delivered) and recording that failed: the delivery ended %s (reason %q), "+
			"%d message(s) at WeChat; want it retried and sent once\nengine log:\n%s",
			d.Status, d.Reason, e.sb.Count(benchAppID, u.OpenID, benchTplID), logs.String())
	}
}

// lockedWriter lets the test read what the engine logs while it runs.
type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
