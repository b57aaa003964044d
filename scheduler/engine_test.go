package scheduler

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

func deliveryOf(t *testing.T, db *gorm.DB, u models.User, tplID int64) models.Delivery {
	t.Helper()
	var d models.Delivery
	if err := db.Where("user_id = ? AND template_id = ?", u.ID, tplID).Order("id").First(&d).Error; err != nil {
		t.Fatalf("delivery of %s: %v", u.OpenID, err)
	}
	return d
}

func credits(t *testing.T, db *gorm.DB, u models.User, tplID int64) int {
	t.Helper()
	s, err := models.GetSubscription(context.Background(), db, u.ID, tplID)
	if err != nil {
		t.Fatal(err)
	}
	return s.Credits
}

// Every outcome class against the sandbox, with its counters proving one
// message per sent delivery and the credits balancing.
func TestOutcomes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		ctx := context.Background()
		ok := h.seedUsers("ok", 20, h.tpl, 1, 1, map[string]any{"name": "小王"})
		noCredit := h.seedUsers("nocredit", 2, h.tpl, 0, 1, nil)
		refused := h.seedUsers("refused", 2, h.tpl, 2, 0, nil) // we think 2, WeChat holds none: 43101
		badValue := h.seedUsers("badvalue", 2, h.tpl, 1, 1, nil)
		missingAttr := h.seedUsers("noattr", 1, h.tpl, 1, 1, nil)
		long := h.addTemplate("TPL_LONG", "事项:{{thing1.DATA}}", wechat.TemplateLongTerm)
		longUsers := h.seedUsers("long", 3, long, 1, 1, nil)
		banned := h.addTemplate("TPL_BANNED", "事项:{{thing1.DATA}}", wechat.TemplateOneTime)
		bannedUsers := h.seedUsers("banned", 2, banned, 1, 1, nil)
		if err := h.sb.BanTemplate(testAppID, "TPL_BANNED", true); err != nil {
			t.Fatal(err)
		}
		// A user unknown to WeChat: 40003.
		stranger := h.seedUsers("stranger", 1, h.tpl, 1, -1, nil)

		h.enqueue(ok, h.tpl, map[string]string{"thing1": "{{name}}的咖啡豆", "number2": "2"})
		h.enqueue(noCredit, h.tpl, goodData)
		h.enqueue(refused, h.tpl, goodData)
		h.enqueue(badValue, h.tpl, map[string]string{"thing1": strings.Repeat("长", 21), "number2": "2"})
		h.enqueue(missingAttr, h.tpl, map[string]string{"thing1": "{{nickname}}", "number2": "1"})
		h.enqueue(longUsers, long, map[string]string{"thing1": "预约提醒"})
		h.enqueue(bannedUsers, banned, map[string]string{"thing1": "预约提醒"})
		h.enqueue(stranger, h.tpl, goodData)

		e := h.engine(ctx, nil)
		st := h.settledAll()

		for _, u := range ok {
			d := deliveryOf(t, db, u, h.tpl.ID)
			if d.Status != models.DeliveryDelivered || d.MsgID == nil || h.count(u.OpenID, testTplID) != 1 {
				t.Errorf("%s: status %s msgid %v count %d, want delivered once", u.OpenID, d.Status, d.MsgID, h.count(u.OpenID, testTplID))
			}
			if !strings.Contains(d.Data, "小王的咖啡豆") {
				t.Errorf("%s: data %s not rendered from attributes", u.OpenID, d.Data)
			}
			if c := credits(t, db, u, h.tpl.ID); c != 0 {
				t.Errorf("%s: %d credits left, want 0", u.OpenID, c)
			}
		}
		for _, u := range noCredit {
			d := deliveryOf(t, db, u, h.tpl.ID)
			if d.Status != models.DeliverySkipped || d.Reason != models.ReasonNoSubscription || h.count(u.OpenID, testTplID) != 0 || d.Attempts != 0 {
				t.Errorf("%s: %s/%s attempts %d count %d, want skipped no_subscription with no call", u.OpenID, d.Status, d.Reason, d.Attempts, h.count(u.OpenID, testTplID))
			}
		}
		for _, u := range refused {
			d := deliveryOf(t, db, u, h.tpl.ID)
			if d.Status != models.DeliveryFailed || d.ErrCode != wechat.CodeUserRefused {
				t.Errorf("%s: %s errcode %d, want failed 43101", u.OpenID, d.Status, d.ErrCode)
			}
			if c := credits(t, db, u, h.tpl.ID); c != 0 {
				t.Errorf("%s: 43101 left %d credits, want 0", u.OpenID, c)
			}
		}
		for _, u := range append(badValue, missingAttr...) {
			d := deliveryOf(t, db, u, h.tpl.ID)
			want, detail := models.ReasonInvalidValue, "thing1" // the keyword whose value broke its rule
			if u.OpenID == missingAttr[0].OpenID {
				want, detail = models.ReasonMissingAttr, "nickname" // the attribute the user lacks
			}
			if d.Status != models.DeliverySkipped || d.Reason != want || d.ErrMsg != detail || h.count(u.OpenID, testTplID) != 0 {
				t.Errorf("%s: %s/%s %q, want skipped %s naming %q with no call", u.OpenID, d.Status, d.Reason, d.ErrMsg, want, detail)
			}
			if c := credits(t, db, u, h.tpl.ID); c != 1 {
				t.Errorf("%s: %d credits, want the credit kept (1)", u.OpenID, c)
			}
		}
		for _, u := range longUsers {
			d := deliveryOf(t, db, u, long.ID)
			if d.Status != models.DeliveryDelivered || d.CreditSpent || h.count(u.OpenID, "TPL_LONG") != 1 {
				t.Errorf("%s: long-term %s credit_spent %v count %d", u.OpenID, d.Status, d.CreditSpent, h.count(u.OpenID, "TPL_LONG"))
			}
			if c := credits(t, db, u, long.ID); c != 1 {
				t.Errorf("%s: long-term send spent a credit (%d left)", u.OpenID, c)
			}
		}
		for _, u := range bannedUsers {
			d := deliveryOf(t, db, u, banned.ID)
			if d.Status != models.DeliveryFailed || d.ErrCode != wechat.CodeSubscribeBanned || d.CreditSpent {
				t.Errorf("%s: %s errcode %d credit_spent %v, want failed 43107 refunded", u.OpenID, d.Status, d.ErrCode, d.CreditSpent)
			}
			if c := credits(t, db, u, banned.ID); c != 1 {
				t.Errorf("%s: credit not given back after 43107 (%d)", u.OpenID, c)
			}
		}
		if d := deliveryOf(t, db, stranger[0], h.tpl.ID); d.Status != models.DeliveryFailed || d.ErrCode != wechat.CodeInvalidOpenID {
			t.Errorf("stranger: %s %d, want failed 40003", d.Status, d.ErrCode)
		}
		want := map[string]int64{models.DeliveryDelivered: 23, models.DeliverySkipped: 5, models.DeliveryFailed: 5}
		for k, v := range want {
			if st[k] != v {
				t.Errorf("%s: %d deliveries, want %d (all: %v)", k, st[k], v, st)
			}
		}
		if got := h.sb.TotalAccepted(); got != 23 {
			t.Errorf("WeChat accepted %d messages, want 23", got)
		}
		h.checkNoDuplicates(h.tpl.ID, testTplID)
		h.checkCredits(h.tpl)
		h.checkCredits(banned)
		h.checkCounters()
		stats, _ := models.AppStats(ctx, db, h.app.ID)
		if stats[models.DeliveryFailed]["43101"] != 2 || stats[models.DeliverySkipped][models.ReasonInvalidValue] != 2 ||
			stats[models.DeliverySkipped][models.ReasonMissingAttr] != 1 {
			t.Errorf("breakdown by errcode/reason wrong: %v", stats)
		}

		// Metrics are served.
		rec := httptest.NewRecorder()
		e.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body, _ := io.ReadAll(rec.Body)
		for _, want := range []string{`minipush_sends_total{app="` + testAppID + `",errcode="",result="sent",template="` + testTplID + `"} 20`,
			`result="failed",template="` + testTplID + `"} 2`, "minipush_send_duration_seconds_bucket", "minipush_token_refreshes_total"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
}

// Transient errors retry with backoff until sent, each exactly once; with
// attempts used up the delivery fails and its credit comes back.
func TestTransientRetries(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		users := h.seedUsers("u", 30, h.tpl, 1, 2, nil) // WeChat would take a second message: a duplicate would be counted
		h.enqueue(users, h.tpl, goodData)
		if err := h.sb.SetFaults(testAppID, sandbox.Faults{ErrorRate: 0.5}); err != nil {
			t.Fatal(err)
		}
		first := h.engine(context.Background(), func(c *Config) { c.MaxAttempts = 50 })
		st := h.settledAll()
		if err := first.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st[models.DeliveryDelivered] != 30 {
			t.Fatalf("statuses %v, want 30 delivered", st)
		}
		var retried int64
		db.Model(&models.Delivery{}).Where("attempts > 1").Count(&retried)
		if retried == 0 {
			t.Error("no delivery was retried at a 50% error rate")
		}
		if total := h.checkNoDuplicates(h.tpl.ID, testTplID); total != 30 {
			t.Errorf("WeChat accepted %d, want 30", total)
		}
		h.checkCredits(h.tpl)

		// Always busy: attempts run out.
		more := h.seedUsers("v", 3, h.tpl, 1, 1, nil)
		if err := h.sb.SetFaults(testAppID, sandbox.Faults{ErrorRate: 1}); err != nil {
			t.Fatal(err)
		}
		h.engine(context.Background(), func(c *Config) { c.MaxAttempts = 2 })
		h.enqueue(more, h.tpl, goodData)
		h.waitFor("attempts used up", func() bool { return h.statuses()[models.DeliveryFailed] == 3 })
		for _, u := range more {
			d := deliveryOf(t, db, u, h.tpl.ID)
			if d.Reason != models.ReasonMaxAttempts || d.Attempts != 2 || d.ErrCode != wechat.CodeBusy {
				t.Errorf("%s: %s after %d attempts, errcode %d", u.OpenID, d.Reason, d.Attempts, d.ErrCode)
			}
			if c := credits(t, db, u, h.tpl.ID); c != 1 {
				t.Errorf("%s: credit not given back (%d)", u.OpenID, c)
			}
		}
		h.checkCredits(h.tpl)
		h.checkCounters()
	})
}

// startCut queues one message for each of n users who hold 2 credits
// here and at WeChat (a blind resend would be accepted: it must not
// happen) and starts an engine against a sandbox that cuts sends as f says.
func startCut(t *testing.T, db *gorm.DB, dsn string, n int, f sandbox.Faults) (*harness, []models.User) {
	t.Helper()
	h := newHarness(t, db, dsn)
	users := h.seedUsers("u", n, h.tpl, 2, 2, nil)
	h.enqueue(users, h.tpl, goodData)
	if err := h.sb.SetFaults(testAppID, f); err != nil {
		t.Fatal(err)
	}
	h.engine(context.Background(), nil)
	return h, users
}

// A send whose answer never comes back is unknown, never resent, and the
// sent event settles it by user + template + time.
func TestOutcomeUnknownSettledByEvent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h, users := startCut(t, db, dsn, 10, sandbox.Faults{TimeoutAfterCountRate: 1})
		h.waitFor("the sent events", func() bool { return h.statuses()[models.DeliveryDelivered] == 10 })
		st := h.settledAll()
		if st[models.DeliveryDelivered] != 10 {
			t.Fatalf("statuses %v, want 10 delivered by their sent events", st)
		}
		for _, u := range users {
			d := deliveryOf(t, db, u, h.tpl.ID)
			if h.count(u.OpenID, testTplID) != 1 || d.Attempts != 1 || d.MsgID == nil || d.Reason != models.ReasonSentEvent {
				t.Errorf("%s: count %d attempts %d msgid %v reason %s", u.OpenID, h.count(u.OpenID, testTplID), d.Attempts, d.MsgID, d.Reason)
			}
		}
		h.checkCredits(h.tpl)
		h.checkCounters()
	})
}

// A send cut after the request left but before WeChat did anything with it
// is unknown too: nobody here can tell it from one WeChat took, so it is
// never resent and its credit stays spent; no sent event ever comes.
func TestOutcomeUnknownNeverAtWeChat(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h, users := startCut(t, db, dsn, 5, sandbox.Faults{CutBeforeCountRate: 1})
		h.waitFor("the unknown deliveries", func() bool { return h.statuses()[models.DeliveryUnknown] == 5 })
		time.Sleep(500 * time.Millisecond) // 25 polls, 5 maintenance and 10 settle passes: room for a resend
		if st := h.statuses(); st[models.DeliveryUnknown] != 5 || len(st) != 1 {
			t.Fatalf("statuses %v, want 5 unknown", st)
		}
		if cuts := h.sb.Stats().CutsInjected; cuts != 5 || h.sb.TotalAccepted() != 0 {
			t.Fatalf("WeChat saw %d sends and accepted %d: want each delivery called once, none accepted", cuts, h.sb.TotalAccepted())
		}
		for _, u := range users {
			d := deliveryOf(t, db, u, h.tpl.ID)
			if d.Attempts != 1 || d.MsgID != nil || d.Reason != models.ReasonOutcomeUnknown || !d.CreditSpent {
				t.Errorf("%s: attempts %d msgid %v reason %s credit spent %v", u.OpenID, d.Attempts, d.MsgID, d.Reason, d.CreditSpent)
			}
		}
		var left int64
		if err := db.Raw("SELECT SUM(credits) FROM subscriptions WHERE template_id = ?", h.tpl.ID).Scan(&left).Error; err != nil {
			t.Fatal(err)
		}
		if left != 5 {
			t.Errorf("%d credits left, want 5 (one of each user's 2 spent)", left)
		}
		h.checkCredits(h.tpl) // spent 5, accepted 0, 5 unknown that WeChat never had
		h.checkCounters()
	})
}

// 43108: sends to one user are serialised; two messages for the same user
// both arrive, one at a time.
func TestOneSendPerUserInFlight(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		users := h.seedUsers("u", 3, h.tpl, 3, 3, nil)
		if err := h.sb.SetFaults(testAppID, sandbox.Faults{Latency: 30 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			h.enqueue(users, h.tpl, goodData)
		}
		// Two instances: within one the users are serialised, across them
		// WeChat's 43108 sends the loser back to the queue.
		h.engine(context.Background(), nil)
		h.engine(context.Background(), nil)
		st := h.settledAll()
		if st[models.DeliveryDelivered] != 9 {
			t.Fatalf("statuses %v, want 9 delivered", st)
		}
		for _, u := range users {
			if n := h.count(u.OpenID, testTplID); n != 3 {
				t.Errorf("%s: WeChat accepted %d, want 3", u.OpenID, n)
			}
		}
		h.checkNoDuplicates(h.tpl.ID, testTplID)
		h.checkCredits(h.tpl)
		h.checkCounters()
	})
}

// 45009 pauses the app until midnight China time; nothing is lost, and the
// sends resume with the new day. The clock then jumps hours ahead: the push
// endpoint stamps sent events with the clock the settler reads (as serve
// does), and an event that arrives before its send's answer is recorded is
// kept until the answer is, so every delivery settles.
func TestDailyQuotaPause(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		users := h.seedUsers("u", 7, h.tpl, 1, 1, nil)
		h.enqueue(users, h.tpl, goodData)
		if err := h.sb.SetFaults(testAppID, sandbox.Faults{DailyQuota: 4}); err != nil {
			t.Fatal(err)
		}
		h.engine(context.Background(), nil)
		h.waitFor("the quota pause", func() bool {
			a, _ := models.GetApp(context.Background(), db, h.app.ID)
			st := h.statuses()
			return a.PausedUntil != nil && st[models.DeliverySending] == 0 && st[models.DeliveryDelivered]+st[models.DeliverySent] == 4
		})
		a, _ := models.GetApp(context.Background(), db, h.app.ID)
		midnight := models.NextChinaMidnight(h.clock.Now())
		if !a.PausedUntil.Equal(midnight) || a.PauseReason != models.PauseWeChatQuota {
			t.Errorf("paused until %v (%q), want %v for %s", a.PausedUntil, a.PauseReason, midnight, models.PauseWeChatQuota)
		}
		st := h.statuses()
		if st[models.DeliveryQueued] != 3 || st[models.DeliveryFailed] != 0 {
			t.Errorf("statuses %v: want 3 waiting, none failed", st)
		}
		// The day turns in China: the quota resets.
		h.clock.Set(midnight.Add(time.Second))
		st = h.settledAll()
		if st[models.DeliveryDelivered] != 7 || h.sb.TotalAccepted() != 7 {
			t.Errorf("after midnight: %v, accepted %d; want 7", st, h.sb.TotalAccepted())
		}
		h.checkNoDuplicates(h.tpl.ID, testTplID)
		h.checkCredits(h.tpl)
		h.checkCounters()
	})
}

// Two engines (two instances, each its own pool) drain 5,000 deliveries
// from one MySQL database with no duplicate and none left behind. SQLite
// has a single writer and no multi-instance deployment: 1,000 there keeps
// the suite fast.
func TestTwoEnginesDrain5000(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		n := 5000
		if !models.IsMySQL(db) {
			n = 1000
		}
		h := newHarness(t, db, dsn)
		users := h.seedUsers("u", n, h.tpl, 1, 2, nil) // WeChat would take a second message: a duplicate would be counted
		h.enqueue(users, h.tpl, goodData)
		mod := func(c *Config) { c.Workers, c.BatchSize, c.Concurrency = 3, 100, 16 }
		start := time.Now()
		a := h.engine(context.Background(), mod)
		// B claims its next batch while one is being sent (Config.Pipeline).
		b := h.engine(context.Background(), func(c *Config) { mod(c); c.Pipeline = true })
		h.waitFor("all answered", func() bool {
			st := h.statuses()
			return st[models.DeliveryQueued]+st[models.DeliverySending] == 0
		})
		t.Logf("all %d answered after %v; settling by sent events...", n, time.Since(start).Round(time.Millisecond))
		st := h.settledAll()
		t.Logf("all settled after %v", time.Since(start).Round(time.Millisecond))
		if st[models.DeliveryDelivered] != int64(n) {
			t.Fatalf("statuses %v, want %d delivered", st, n)
		}
		if total := h.checkNoDuplicates(h.tpl.ID, testTplID); total != int64(n) {
			t.Errorf("WeChat accepted %d, want %d", total, n)
		}
		for _, c := range h.sb.Counts(testAppID) {
			if c.Accepted != 1 {
				t.Errorf("%s got %d messages", c.OpenID, c.Accepted)
			}
		}
		t.Logf("engine A sent %d, engine B sent %d", a.Sent(), b.Sent())
		if a.Sent()+b.Sent() != int64(n) {
			t.Errorf("engines report %d+%d sends, want %d", a.Sent(), b.Sent(), n)
		}
		h.checkCredits(h.tpl)
		h.checkCounters()
	})
}

// An engine cancelled abruptly mid-run and another started: no duplicate,
// nothing lost (sends cut after leaving are settled by their sent events).
func TestKillAndRestart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		n := 600
		if !models.IsMySQL(db) {
			n = 300
		}
		h := newHarness(t, db, dsn)
		users := h.seedUsers("u", n, h.tpl, 1, 2, nil) // WeChat would take a second message: a duplicate would be counted
		h.enqueue(users, h.tpl, goodData)
		if err := h.sb.SetFaults(testAppID, sandbox.Faults{Latency: 15 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		ctx, kill := context.WithCancel(context.Background())
		a := h.engine(ctx, nil)
		h.waitFor("a third sent", func() bool { return h.sb.TotalAccepted() >= int64(n/3) })
		kill()
		a.workers.Wait()
		mid := h.statuses()
		t.Logf("after the kill: %v, WeChat accepted %d", mid, h.sb.TotalAccepted())
		if err := h.sb.SetFaults(testAppID, sandbox.Faults{}); err != nil {
			t.Fatal(err)
		}
		h.engine(context.Background(), nil)
		h.settledAll()
		// Sends cut after WeChat took them settle by user + template once
		// their events are a couple of seconds old.
		h.waitFor("cut sends settled", func() bool { return h.statuses()[models.DeliveryDelivered] == h.sb.TotalAccepted() })
		st := h.statuses()
		// Lost would be a delivery neither delivered nor visibly unknown.
		// A request cut on the wire before WeChat read it is unknown with
		// no message at WeChat: never resent, shown to staff; it is rare
		// (the cut must fall between writing and WeChat reading it).
		if st[models.DeliveryDelivered]+st[models.DeliveryUnknown] != int64(n) {
			t.Fatalf("statuses %v, want all %d delivered (or unknown)", st, n)
		}
		var unknown []models.Delivery
		db.Where("status = ?", models.DeliveryUnknown).Find(&unknown)
		for _, d := range unknown {
			if h.count(d.OpenID, testTplID) != 0 {
				t.Errorf("%s: unknown but WeChat accepted it: the sent event did not settle it", d.OpenID)
			}
		}
		for _, c := range h.sb.Counts(testAppID) {
			if c.Accepted != 1 {
				t.Errorf("%s got %d messages", c.OpenID, c.Accepted)
			}
		}
		if h.sb.TotalAccepted() != int64(n-len(unknown)) {
			t.Errorf("WeChat accepted %d, want %d", h.sb.TotalAccepted(), n-len(unknown))
		}
		t.Logf("delivered %d, unknown (cut on the wire) %d", st[models.DeliveryDelivered], len(unknown))
		h.checkCredits(h.tpl)
		h.checkCounters()
	})
}

// An instance that dies with sends on the wire (no chance to record): its
// leases expire, the deliveries turn unknown (never resent), and the sent
// events settle those WeChat accepted.
func TestExpiredLeaseBecomesUnknown(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		users := h.seedUsers("u", 5, h.tpl, 1, 2, nil) // WeChat would take a second message: a duplicate would be counted
		h.enqueue(users, h.tpl, goodData)
		// Simulate the crash: claim as a vanished instance, send, record
		// nothing. No engine runs until the ghost has sent, so the ghost
		// claims every row.
		ghost, err := models.WeChatClient(db, h.sealer, h.app, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := models.ClaimDeliveries(context.Background(), db, models.ClaimRequest{AppID: h.app.ID, Owner: "ghost", Limit: 10,
			Now: h.clock.Now(), LeaseFor: time.Second, Decide: func(rows []models.Delivery, _ map[int64]string) []models.Decision {
				out := make([]models.Decision, len(rows))
				return out
			}})
		if err != nil || len(res.Send) != 5 {
			t.Fatalf("claim: %v, %d rows", err, len(res.Send))
		}
		data, _ := res.Send[0].DataMap()
		ids := make([]int64, len(res.Send))
		for i, d := range res.Send {
			ids[i] = d.ID
		}
		// As the engine does: record the calls as started, then send.
		if _, err := models.MarkCalled(context.Background(), db, "ghost", ids, ids, h.clock.Now(), h.clock.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		for _, d := range res.Send {
			if _, err := ghost.Send(context.Background(), wechat.SendRequest{ToUser: d.OpenID, TemplateID: testTplID, Data: data}); err != nil {
				t.Fatal(err)
			}
		}
		h.clock.Set(time.Now().Add(2 * time.Second)) // the ghost's lease expires
		h.engine(context.Background(), nil)
		h.waitFor("the sent events", func() bool { return h.statuses()[models.DeliveryDelivered] == 5 })
		st2 := h.settledAll()
		if st2[models.DeliveryDelivered] != 5 || h.sb.TotalAccepted() != 5 {
			t.Fatalf("statuses %v accepted %d: want the 5 settled by sent events, none resent", st2, h.sb.TotalAccepted())
		}
		var reasons []string
		db.Model(&models.Delivery{}).Distinct().Pluck("reason", &reasons)
		if len(reasons) != 1 || reasons[0] != models.ReasonSentEvent {
			t.Errorf("reasons %v, want sent_event", reasons)
		}
		h.checkCounters()
	})
}

// An instance that dies after claiming but before its calls started (no
// MarkCalled) leaves rows that provably never left: they go back to the
// queue and are sent exactly once, their credit spent once.
func TestCrashBeforeCallRequeues(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		users := h.seedUsers("w", 5, h.tpl, 1, 2, nil) // the sandbox would accept a second send
		h.enqueue(users, h.tpl, goodData)
		res, err := models.ClaimDeliveries(context.Background(), db, models.ClaimRequest{AppID: h.app.ID, Owner: "ghost", Limit: 10,
			Now: h.clock.Now(), LeaseFor: time.Second, Decide: func(rows []models.Delivery, _ map[int64]string) []models.Decision {
				return make([]models.Decision, len(rows))
			}})
		if err != nil || len(res.Send) != 5 {
			t.Fatalf("claim: %v, %d rows", err, len(res.Send))
		}
		h.clock.Set(time.Now().Add(2 * time.Second)) // the ghost's lease expires, nothing was called
		h.engine(context.Background(), nil)
		h.waitFor("the requeued rows", func() bool { return h.statuses()[models.DeliveryDelivered] == 5 })
		st := h.settledAll()
		if st[models.DeliveryDelivered] != 5 || h.sb.TotalAccepted() != 5 {
			t.Fatalf("statuses %v accepted %d: want each requeued row sent once", st, h.sb.TotalAccepted())
		}
		h.checkNoDuplicates(h.tpl.ID, testTplID)
		h.checkCredits(h.tpl)
		h.checkCounters()
	})
}

// A delivery whose credit was spent by an attempt WeChat answered "busy"
// and that is skipped at its retry (its template was deleted meanwhile)
// gets its credit back: spent − refunded stays equal to what WeChat accepted.
func TestSkippedRetryRefundsCredit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		users := h.seedUsers("r", 3, h.tpl, 1, 1, nil)
		h.enqueue(users, h.tpl, goodData)
		if err := h.sb.SetFaults(testAppID, sandbox.Faults{ErrorRate: 1}); err != nil {
			t.Fatal(err)
		}
		// No retry before the test lets one happen: the backoff (base and
		// cap) is an hour, so the rows wait at attempt 1 however slow the
		// machine is.
		e := h.engine(context.Background(), func(c *Config) { c.MaxAttempts = 10; c.RetryBase, c.RetryMax = time.Hour, time.Hour })
		h.waitFor("a first attempt answered busy", func() bool {
			var n int64
			db.Model(&models.Delivery{}).Where("status = ? AND attempts = 1 AND credit_spent = ?", models.DeliveryQueued, true).Count(&n)
			return n == 3
		})
		if err := e.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := models.UpdateTemplateFields(context.Background(), db, h.tpl.ID, map[string]any{"status": models.TemplateDeleted}); err != nil {
			t.Fatal(err)
		}
		db.Model(&models.Delivery{}).Where("status = ?", models.DeliveryQueued).Update("next_attempt_at", h.clock.Now())
		h.engine(context.Background(), nil)
		h.waitFor("the retries skipped", func() bool { return h.statuses()[models.DeliverySkipped] == 3 })
		for _, u := range users {
			s, err := models.GetSubscription(context.Background(), db, u.ID, h.tpl.ID)
			if err != nil || s.Credits != 1 {
				t.Fatalf("user %s: credits %v (%v), want the spent credit back", u.OpenID, s, err)
			}
		}
		h.checkCredits(h.tpl)
		h.checkCounters()
	})
}

// Sent events that match none of our deliveries (the business also sends
// directly) do not hold up settling: newer events are still matched, and
// old unmatched ones are given up on.
func TestForeignSentEventsDoNotBlockSettling(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		old := h.clock.Now().Add(-time.Hour)
		for i := 0; i < 1500; i++ {
			if _, err := models.StoreSentEvent(context.Background(), db, models.SentEvent{AppID: h.app.ID, MsgID: int64(9_000_000 + i),
				OpenID: "o_foreign", WxTemplateID: testTplID, EventTime: old}, old); err != nil {
				t.Fatal(err)
			}
		}
		users := h.seedUsers("f", 3, h.tpl, 1, 1, nil)
		h.enqueue(users, h.tpl, goodData)
		h.engine(context.Background(), nil)
		h.waitFor("our 3 delivered", func() bool { return h.statuses()[models.DeliveryDelivered] == 3 })
		h.waitFor("the foreign events given up on", func() bool {
			var n int64
			db.Model(&models.SentEvent{}).Where("delivery_id IS NULL").Count(&n)
			return n == 0
		})
		var zero int64
		db.Model(&models.SentEvent{}).Where("delivery_id = 0").Count(&zero)
		if zero != 1500 {
			t.Fatalf("%d foreign events marked unmatched, want 1500", zero)
		}
	})
}

// A call slower than its lease: recovery declares the row unknown while the
// call is out; WeChat then answers "busy" (nothing delivered), so the row
// goes back to the queue instead of staying unknown, and is sent once.
func TestLeaseLostThenBusyIsRetried(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		users := h.seedUsers("l", 1, h.tpl, 1, 1, nil)
		h.enqueue(users, h.tpl, goodData)
		release := make(chan struct{})
		var first atomic.Bool
		slowBusy := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if strings.Contains(r.URL.Path, "/subscribe/send") && first.CompareAndSwap(false, true) {
				<-release // the first send hangs until the test lets it answer "busy"
				return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
					Body: io.NopCloser(strings.NewReader(`{"errcode":-1,"errmsg":"system error rid: x"}`)), Request: r}, nil
			}
			return http.DefaultTransport.RoundTrip(r)
		})
		h.engine(context.Background(), func(c *Config) { c.HTTPClient = &http.Client{Transport: slowBusy, Timeout: time.Minute} })
		h.waitFor("the call started", func() bool { return first.Load() })
		h.clock.Set(time.Now().Add(time.Hour)) // the lease runs out while the call is out
		h.waitFor("the lease declared lost", func() bool { return h.statuses()[models.DeliveryUnknown] == 1 })
		close(release)
		h.waitFor("the busy answer requeued it and the retry delivered", func() bool { return h.statuses()[models.DeliveryDelivered] == 1 })
		if n := h.sb.TotalAccepted(); n != 1 {
			t.Fatalf("WeChat accepted %d, want 1", n)
		}
		h.checkCredits(h.tpl)
		h.checkCounters()
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The rate limit holds across two instances: no per-second window used
// beyond the limit, so the sends spread over at least n/limit seconds.
func TestRateLimitAcrossInstances(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		const n, limit = 80, 20
		h := newHarness(t, db, dsn)
		if err := db.Model(&models.App{}).Where("id = ?", h.app.ID).Update("rate_limit", limit).Error; err != nil {
			t.Fatal(err)
		}
		users := h.seedUsers("u", n, h.tpl, 1, 1, nil)
		h.enqueue(users, h.tpl, goodData)
		a := h.engine(context.Background(), nil)
		b := h.engine(context.Background(), nil)
		h.settledAll()
		if h.sb.TotalAccepted() != n {
			t.Fatalf("accepted %d, want %d", h.sb.TotalAccepted(), n)
		}
		used, err := models.MaxSecondWindowUse(context.Background(), db, h.app.ID)
		if err != nil {
			t.Fatal(err)
		}
		if used > limit {
			t.Errorf("a second's window was used %d times, limit %d", used, limit)
		}
		h.arrMu.Lock()
		seconds, busiest := len(h.arrivals), 0
		for _, c := range h.arrivals {
			busiest = max(busiest, c)
		}
		h.arrMu.Unlock()
		// Windows are calendar seconds of the engine's clock, arrivals the
		// sandbox's: the sends of one window may land in the next second
		// next to that second's own, so a fixed-window limit allows at most
		// twice the limit in any one real second, and n sends take at least
		// n/limit - 1 seconds.
		if busiest > 2*limit {
			t.Errorf("the sandbox received %d sends in one second, limit %d", busiest, limit)
		}
		if seconds < n/limit-1 {
			t.Errorf("the sandbox received the %d sends within %d seconds: faster than %d/s", n, seconds, limit)
		}
		t.Logf("engine A sent %d, engine B %d, over %d seconds, busiest window %d", a.Sent(), b.Sent(), seconds, used)
	})
}

// Stop lets in-flight sends finish and leaves nothing sending; another
// engine finishes the rest.
func TestGracefulStop(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		const n = 200
		h := newHarness(t, db, dsn)
		users := h.seedUsers("u", n, h.tpl, 1, 2, nil) // WeChat would take a second message: a duplicate would be counted
		h.enqueue(users, h.tpl, goodData)
		if err := h.sb.SetFaults(testAppID, sandbox.Faults{Latency: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		e := h.engine(context.Background(), nil)
		h.waitFor("some sent", func() bool { return h.sb.TotalAccepted() >= 20 })
		if err := e.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := h.statuses()
		if st[models.DeliverySending] != 0 || st[models.DeliveryUnknown] != 0 {
			t.Fatalf("after Stop: %v: want nothing sending or unknown", st)
		}
		h.engine(context.Background(), nil)
		st = h.settledAll()
		if st[models.DeliveryDelivered] != n || h.sb.TotalAccepted() != n {
			t.Fatalf("statuses %v accepted %d", st, h.sb.TotalAccepted())
		}
		h.checkCounters()
	})
}

// Push events feed the ledger: popup accepts grant credits once even when
// WeChat repeats the push; a settings reject zeroes them.
func TestPushEventsFeedCredits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		ctx := context.Background()
		for i := range 2 {
			// Popups in one second share WeChat's dedup key: a second apart.
			h.clock.Set(time.Now().Add(time.Duration(i) * 1100 * time.Millisecond))
			if _, err := h.sb.Popup(testAppID, "fan1", map[string]string{testTplID: sandbox.PopupAccept}); err != nil {
				t.Fatal(err)
			}
		}
		u := func() *models.User {
			var got *models.User
			h.waitFor("the popup events", func() bool {
				var err error
				got, err = models.GetUserByOpenID(ctx, db, h.app.ID, "fan1")
				if err != nil {
					return false
				}
				s, err := models.GetSubscription(ctx, db, got.ID, h.tpl.ID)
				return err == nil && s.Credits == 2
			})
			return got
		}()
		// The same push delivered twice changes nothing.
		ev := &wechat.Event{FromUserName: "fan1", CreateTime: 1700000000, MsgType: "event", Event: wechat.EventPopup,
			List: []wechat.EventItem{{TemplateID: testTplID, SubscribeStatus: wechat.StatusAccept}}}
		for range 2 {
			if _, err := models.ApplyPushEvent(ctx, db, nil, h.app, ev, h.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if c := credits(t, db, *u, h.tpl.ID); c != 3 {
			t.Errorf("credits %d after a repeated push, want 3", c)
		}
		e := h.engine(ctx, nil)
		d, err := e.SendAndWait(ctx, models.NewDelivery{AppID: h.app.ID, UserID: u.ID, TemplateID: h.tpl.ID, Data: goodData, IdempotencyKey: "order-1"})
		if err != nil || d.Status != models.DeliverySent && d.Status != models.DeliveryDelivered {
			t.Fatalf("test send: %v %+v", err, d)
		}
		again, created, err := e.Enqueue(ctx, models.NewDelivery{AppID: h.app.ID, UserID: u.ID, TemplateID: h.tpl.ID, Data: goodData, IdempotencyKey: "order-1"})
		if err != nil || created || again.ID != d.ID {
			t.Errorf("retried request with the same idempotency key: created %v id %d (first %d) err %v", created, again.ID, d.ID, err)
		}
		if err := h.sb.SettingsReject(testAppID, "fan1", testTplID); err != nil {
			t.Fatal(err)
		}
		h.waitFor("the settings reject", func() bool { return credits(t, db, *u, h.tpl.ID) == 0 })
		h.settledAll()
		if h.count("fan1", testTplID) != 1 {
			t.Errorf("fan1 got %d messages, want 1", h.count("fan1", testTplID))
		}
	})
}
