package models_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// sendingDelivery queues one delivery for u and claims it as owner, with
// its call recorded as started (what the engine does just before the
// request leaves): the row is sending, its credit spent, no msgid yet.
// It returns the delivery and when it was claimed.
func sendingDelivery(t *testing.T, db *gorm.DB, app *models.App, tpl *models.Template, u *models.User, owner string, lease time.Duration) (*models.Delivery, time.Time) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := models.GrantCredit(ctx, db, models.CreditChange{AppID: app.ID, UserID: u.ID, TemplateID: tpl.ID,
		Source: models.SourceWeChat, DedupKey: "grant-" + owner, Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := models.EnqueueDelivery(ctx, db, models.NewDelivery{AppID: app.ID, UserID: u.ID, TemplateID: tpl.ID,
		OpenID: u.OpenID, Data: map[string]string{"thing1": "ok"}}); err != nil {
		t.Fatal(err)
	}
	now = time.Now().UTC()
	res, err := models.ClaimDeliveries(ctx, db, models.ClaimRequest{AppID: app.ID, Owner: owner, Limit: 10, Now: now, LeaseFor: lease,
		Decide: func(rows []models.Delivery, _ map[int64]string) []models.Decision {
			return make([]models.Decision, len(rows))
		}})
	if err != nil || len(res.Send) != 1 {
		t.Fatalf("claim: %v, %d rows", err, len(res.Send))
	}
	d := res.Send[0]
	if _, err := models.MarkCalled(ctx, db, owner, []int64{d.ID}, []int64{d.ID}, now, now.Add(lease)); err != nil {
		t.Fatal(err)
	}
	return &d, now
}

// queueForNewUsers creates n users (openids prefix00000…) and queues one
// delivery of tpl for each.
func queueForNewUsers(t *testing.T, db *gorm.DB, app *models.App, tpl *models.Template, n int, prefix string) {
	t.Helper()
	now := time.Now().UTC()
	users := make([]models.User, n)
	for i := range users {
		users[i] = models.User{AppID: app.ID, OpenID: fmt.Sprintf("%s%05d", prefix, i), Attributes: "{}", Tags: "[]", CreatedAt: now, UpdatedAt: now}
	}
	if err := db.CreateInBatches(users, 500).Error; err != nil {
		t.Fatal(err)
	}
	nds := make([]models.NewDelivery, n)
	for i, u := range users {
		nds[i] = models.NewDelivery{AppID: app.ID, UserID: u.ID, TemplateID: tpl.ID, OpenID: u.OpenID, Data: map[string]string{"thing1": "x"}}
	}
	if _, err := models.EnqueueDeliveries(context.Background(), db, nds); err != nil {
		t.Fatal(err)
	}
}

// newAccount creates an account with one one-time template, T1 (thing1).
func newAccount(t *testing.T, db *gorm.DB, appID string) (*models.App, *models.Template) {
	t.Helper()
	now := time.Now().UTC()
	app := &models.App{AppID: appID, Name: "shop", CreatedAt: now, UpdatedAt: now, Timezone: "Asia/Shanghai"}
	if err := db.Create(app).Error; err != nil {
		t.Fatal(err)
	}
	tpl := &models.Template{AppID: app.ID, TemplateID: "T1", Title: "t1", Content: "x:{{thing1.DATA}}", Kind: models.TemplateOneTime}
	tpl.SetKeywords([]models.TemplateKeyword{{Key: "thing1", Type: "thing"}})
	if err := models.CreateTemplate(context.Background(), db, tpl); err != nil {
		t.Fatal(err)
	}
	return app, tpl
}

// freezeStatistics takes MariaDB's statistics of deliveries now and keeps
// them while the test writes (no recount in the background once a tenth
// of the rows changed): the plans a test then checks are those of
// statistics taken before the data changed.
func freezeStatistics(t *testing.T, db *gorm.DB) {
	t.Helper()
	for _, q := range []string{"ALTER TABLE deliveries STATS_AUTO_RECALC = 0", "ANALYZE TABLE deliveries"} {
		if err := db.Exec(q).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// settlePass runs one settler pass at now that would give up on any
// unmatched event older than a second (far stricter than the engine's
// lease + 2 minutes), and returns the event's delivery_id afterwards.
func settlePass(t *testing.T, db *gorm.DB, now time.Time, msgid int64) *int64 {
	t.Helper()
	if _, err := models.SettlePendingSentEvents(context.Background(), db, models.SettlePass{ByWindowAfter: now,
		GiveUpBefore: now.Add(-time.Second), Now: now, Window: time.Minute, Limit: 100}); err != nil {
		t.Fatal(err)
	}
	var ev models.SentEvent
	if err := db.Where("msgid = ?", msgid).First(&ev).Error; err != nil {
		t.Fatal(err)
	}
	return ev.DeliveryID
}

func statusOf(t *testing.T, db *gorm.DB, id int64) string {
	t.Helper()
	d, err := models.GetDelivery(context.Background(), db, id)
	if err != nil {
		t.Fatal(err)
	}
	return d.Status
}

// WeChat may push a message's sent event before our own record of the send
// (its answer) is committed. However old the event gets meanwhile, it is
// not given up on while its user's send of that template is in flight; the
// answer, recorded later, is then settled by it.
func TestSentEventBeforeAnswerIsKept(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		ctx := context.Background()
		app, tpl, _, u := fixture(t, db)
		d, t0 := sendingDelivery(t, db, app, tpl, u, "inst-a", time.Hour)
		const msgid = 777000111
		if _, err := models.StoreSentEvent(ctx, db, models.SentEvent{AppID: app.ID, MsgID: msgid, OpenID: u.OpenID,
			WxTemplateID: tpl.TemplateID, EventTime: t0}, t0); err != nil {
			t.Fatal(err)
		}
		// Ten minutes on, the answer is still not recorded.
		if got := settlePass(t, db, t0.Add(10*time.Minute), msgid); got != nil {
			t.Fatalf("the event was given up on (delivery_id %d) while its send was in flight", *got)
		}
		out := models.Outcome{D: d, Status: models.DeliverySent, MsgID: msgid}
		if err := models.ApplyOutcomes(ctx, db, "inst-a", t0.Add(10*time.Minute), time.Minute, []models.Outcome{out}); err != nil {
			t.Fatal(err)
		}
		if got := settlePass(t, db, t0.Add(11*time.Minute), msgid); got == nil || *got != d.ID {
			t.Fatalf("event settled delivery %v, want %d", got, d.ID)
		}
		if s := statusOf(t, db, d.ID); s != models.DeliveryDelivered {
			t.Fatalf("delivery %s, want delivered", s)
		}
	})
}

// An instance dies with a send on the wire; WeChat's sent event was stored
// before the crash. After a restart (a day later) the settler may run
// before lease recovery: the event is kept, recovery declares the delivery
// unknown, and the event settles it as delivered.
func TestSentEventSettlesAfterCrashAndRestart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		ctx := context.Background()
		app, tpl, _, u := fixture(t, db)
		d, t0 := sendingDelivery(t, db, app, tpl, u, "dead", 30*time.Second)
		const msgid = 777000222
		if _, err := models.StoreSentEvent(ctx, db, models.SentEvent{AppID: app.ID, MsgID: msgid, OpenID: u.OpenID,
			WxTemplateID: tpl.TemplateID, EventTime: t0.Add(time.Second)}, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		restart := t0.Add(30 * time.Hour) // every instance was down for more than a day
		if got := settlePass(t, db, restart, msgid); got != nil {
			t.Fatalf("the event was given up on (delivery_id %d) before recovery could declare its delivery unknown", *got)
		}
		if n, err := models.RecoverExpiredLeases(ctx, db, restart, "", 100); err != nil || n != 1 {
			t.Fatalf("recovered %d (%v), want 1", n, err)
		}
		if s := statusOf(t, db, d.ID); s != models.DeliveryUnknown {
			t.Fatalf("after recovery: %s, want unknown", s)
		}
		if got := settlePass(t, db, restart.Add(time.Second), msgid); got == nil || *got != d.ID {
			t.Fatalf("event settled delivery %v, want %d", got, d.ID)
		}
		if s := statusOf(t, db, d.ID); s != models.DeliveryDelivered {
			t.Fatalf("delivery %s, want delivered", s)
		}
	})
}

// A settle pass locks the events it takes and the deliveries it settles,
// not the rows around them: on MySQL the lookup by msgid goes through
// ix_deliveries_msgid (not a scan of the primary key, which a locking read
// would hold row by row: 6,027 locks for this test before the fix), and
// the transaction holds about three locks per event (the event, its index
// entry, the delivery) while thousands of other deliveries sit in the
// table.
func TestSettlePassLockFootprint(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		ctx := context.Background()
		app, tpl, _, _ := fixture(t, db)
		const total, pending = 3000, 600
		now := time.Now().UTC()
		queueForNewUsers(t, db, app, tpl, total, "lock")
		// Every delivery answered by WeChat: sent, with a msgid.
		if err := db.Exec("UPDATE deliveries SET status = ?, msgid = id + 5000000, sent_at = ?", models.DeliverySent, now).Error; err != nil {
			t.Fatal(err)
		}
		if err := models.ApplyStats(ctx, db, models.StatDeltas{}); err != nil {
			t.Fatal(err)
		}
		var ds []models.Delivery
		if err := db.Order("id").Limit(pending).Offset(total / 2).Find(&ds).Error; err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if _, err := models.StoreSentEvent(ctx, db, models.SentEvent{AppID: app.ID, MsgID: *d.MsgID, OpenID: d.OpenID,
				WxTemplateID: tpl.TemplateID, EventTime: now}, now); err != nil {
				t.Fatal(err)
			}
		}
		if models.IsMySQL(db) {
			// Statistics taken before any msgid was written (as when the
			// engine sends a freshly queued campaign): MariaDB then thinks
			// ix_deliveries_msgid holds one value and would read the table.
			db.Exec("UPDATE deliveries SET msgid = NULL")
			freezeStatistics(t, db)
			db.Exec("UPDATE deliveries SET msgid = id + 5000000")
		}
		capture := &sqlCapture{Interface: logger.Discard}
		res, err := models.SettlePendingSentEvents(ctx, db.Session(&gorm.Session{Logger: capture}), models.SettlePass{ByWindowAfter: now, GiveUpBefore: now.Add(-time.Hour),
			Now: now, Window: time.Minute, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if res.Settled != pending || res.Seen != pending {
			t.Fatalf("settled %d of %d events seen, want %d", res.Settled, res.Seen, pending)
		}
		var delivered int64
		db.Model(&models.Delivery{}).Where("status = ?", models.DeliveryDelivered).Count(&delivered)
		if delivered != pending {
			t.Fatalf("%d delivered, want %d", delivered, pending)
		}
		t.Logf("%s: one pass settled %d with %d rows locked (%d deliveries in the table)", db.Dialector.Name(), res.Settled, res.RowsLocked, total)
		msgids := make([]string, 0, pending)
		for _, d := range ds {
			msgids = append(msgids, strconv.FormatInt(*d.MsgID, 10))
		}
		lookup := fmt.Sprintf("SELECT * FROM deliveries WHERE app_id = %d AND msgid IN (%s)", app.ID, strings.Join(msgids, ","))
		if !models.IsMySQL(db) {
			var plan []struct{ Detail string }
			if err := db.Raw("EXPLAIN QUERY PLAN " + lookup).Scan(&plan).Error; err != nil {
				t.Fatal(err)
			}
			if len(plan) == 0 || !strings.Contains(plan[0].Detail, "ix_deliveries_msgid") {
				t.Errorf("the lookup by msgid does not use ix_deliveries_msgid: %+v", plan)
			}
		}
		if models.IsMySQL(db) {
			// information_schema.innodb_trx is a cache refreshed at most
			// every 0.1 s (MySQL and MariaDB): when another session read it
			// just before (the engine tests' settle passes, run at the same
			// time by go test), the pass sees itself as it was then, or not
			// at all. A stale count is smaller, never larger: the upper
			// bound always holds; 0 only says it was not measured.
			if res.RowsLocked > 4*pending {
				t.Errorf("the pass held %d rows locked for %d events: want about three per event, at most %d", res.RowsLocked, pending, 4*pending)
			}
			if res.RowsLocked == 0 {
				t.Logf("rows locked not measured (innodb_trx's cache was filled before the pass)")
			}
			var plan []map[string]any
			if err := db.Raw("EXPLAIN " + capture.msgidIn).Scan(&plan).Error; err != nil {
				t.Fatal(err)
			}
			if len(plan) != 1 || fmt.Sprint(plan[0]["key"]) != "ix_deliveries_msgid" {
				t.Errorf("the lookup by msgid does not use ix_deliveries_msgid: %v", plan)
			}
		}
	})
}

// One settle pass with sent events of three accounts settles each
// account's deliveries by msgid: the lookups of one account must not
// carry the conditions of another's.
func TestSettlePassSeveralAccounts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		now := time.Now().UTC()
		var ids []int64
		for i := range 3 {
			app, tpl := newAccount(t, db, fmt.Sprintf("wx0000000000000s%02d", i))
			for j := range 2 {
				u, err := models.EnsureUser(ctx, db, app.ID, fmt.Sprintf("o-%d-%d", i, j))
				if err != nil {
					t.Fatal(err)
				}
				d, at := sendingDelivery(t, db, app, tpl, u, fmt.Sprintf("owner-%d-%d", i, j), time.Minute)
				msgid := int64(900_000 + 10*i + j)
				d.CreditSpent = true
				if err := models.ApplyOutcomes(ctx, db, fmt.Sprintf("owner-%d-%d", i, j), at, time.Minute,
					[]models.Outcome{{D: d, Status: models.DeliverySent, MsgID: msgid}}); err != nil {
					t.Fatal(err)
				}
				if _, err := models.StoreSentEvent(ctx, db, models.SentEvent{AppID: app.ID, MsgID: msgid, OpenID: u.OpenID,
					WxTemplateID: "T1", EventTime: now}, now); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, d.ID)
			}
		}
		res, err := models.SettlePendingSentEvents(ctx, db, models.SettlePass{ByWindowAfter: now.Add(-time.Minute),
			GiveUpBefore: now.Add(-time.Hour), Now: now, Window: time.Minute, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if res.Settled != len(ids) {
			t.Errorf("one pass settled %d of %d", res.Settled, len(ids))
		}
		for _, id := range ids {
			if st := statusOf(t, db, id); st != models.DeliveryDelivered {
				t.Errorf("delivery %d is %s, want delivered", id, st)
			}
		}
	})
}
