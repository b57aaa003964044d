package models_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// campaignFixture makes an app, a one-time template with two keywords and n
// users: user i has tag "vip" when i%3==0, attribute city "sh" when even
// (else "bj"), a nickname when i%4 != 1, and a credit when i%5 != 0; every
// user allowed the template once (status accept).
func campaignFixture(t *testing.T, db *gorm.DB, n int) (*models.App, *models.Template, []*models.User) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	app := &models.App{AppID: "wx00000000000000c9", Name: "shop", CreatedAt: now, UpdatedAt: now, RateLimit: 20, Timezone: "Asia/Shanghai"}
	if err := db.Create(app).Error; err != nil {
		t.Fatal(err)
	}
	tpl := &models.Template{AppID: app.ID, TemplateID: "TC", Title: "shipped", Content: "a:{{thing1.DATA}} b:{{number2.DATA}}", Kind: models.TemplateOneTime}
	tpl.SetKeywords([]models.TemplateKeyword{{Key: "thing1", Type: "thing"}, {Key: "number2", Type: "number"}})
	if err := models.CreateTemplate(ctx, db, tpl); err != nil {
		t.Fatal(err)
	}
	var users []*models.User
	for i := 0; i < n; i++ {
		tags := "[]"
		if i%3 == 0 {
			tags = `["vip"]`
		}
		city := "bj"
		if i%2 == 0 {
			city = "sh"
		}
		attrs := fmt.Sprintf(`{"city":%q,"age":%d}`, city, 20+i)
		if i%4 != 1 {
			attrs = fmt.Sprintf(`{"city":%q,"age":%d,"nickname":"u%d"}`, city, 20+i, i)
		}
		u := &models.User{AppID: app.ID, OpenID: fmt.Sprintf("o_%03d", i), BusinessID: fmt.Sprintf("b%d", i), Attributes: attrs, Tags: tags, CreatedAt: now, UpdatedAt: now}
		if err := db.Create(u).Error; err != nil {
			t.Fatal(err)
		}
		if tags != "[]" { // what every user write keeps beside the JSON
			if err := db.Exec("INSERT INTO user_tags (app_id, tag, user_id) VALUES (?, 'vip', ?)", app.ID, u.ID).Error; err != nil {
				t.Fatal(err)
			}
		}
		credits := 1
		if i%5 == 0 {
			credits = 0
		}
		if err := db.Exec("INSERT INTO subscriptions (user_id, template_id, credits, long_term, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
			u.ID, tpl.ID, credits, false, models.SubAccept, now, now).Error; err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	return app, tpl, users
}

func newCampaign(t *testing.T, db *gorm.DB, app *models.App, tpl *models.Template, a models.Audience) *models.Campaign {
	t.Helper()
	c := &models.Campaign{AppID: app.ID, TemplateID: tpl.ID, Name: "c", Status: models.CampaignScheduled, ScheduleKind: models.ScheduleNow,
		Timezone: "Asia/Shanghai", MisfirePolicy: models.MisfireSkip}
	c.SetValues(map[string]models.Value{"thing1": {Value: "{{nickname}}，已发货", Fallback: "您好，已发货"}, "number2": {Value: "42"}})
	c.SetAudience(a)
	if err := models.CreateCampaign(context.Background(), db, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// checkCounters asserts that the run's counters equal its rows by status.
func checkCounters(t *testing.T, db *gorm.DB, runID int64) map[string]int64 {
	t.Helper()
	var rows []struct {
		Status string
		N      int64
	}
	db.Raw("SELECT status, COUNT(*) AS n FROM deliveries WHERE run_id = ? GROUP BY status", runID).Scan(&rows)
	got := map[string]int64{}
	for _, r := range rows {
		got[r.Status] = r.N
	}
	r, err := models.GetRun(context.Background(), db, runID)
	if err != nil {
		t.Fatal(err)
	}
	cols := map[string]int64{"queued": r.Queued, "sending": r.Sending, "sent": r.Sent, "delivered": r.Delivered,
		"failed": r.Failed, "skipped": r.Skipped, "unknown": r.Unknown, "paused": r.Paused}
	stats, _ := models.RunStats(context.Background(), db, r.AppID, runID)
	for st, n := range cols {
		if got[st] != n {
			t.Fatalf("run %d: %s counter %d, rows %d (rows %v)", runID, st, n, got[st], got)
		}
		var s int64
		for _, v := range stats[st] {
			s += v
		}
		if s != n {
			t.Fatalf("run %d: delivery_stats %s = %d, rows %d", runID, st, s, n)
		}
	}
	return got
}

func TestCampaignExpansionResumesWithoutDuplicates(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, tpl, users := campaignFixture(t, db, 23)
		c := newCampaign(t, db, app, tpl, models.Audience{Kind: models.AudienceSubscribed})
		now := time.Now().UTC()
		run, err := models.StartCampaignRun(ctx, db, models.StartRun{CampaignID: c.ID, ScheduledFor: now, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		// The same firing again is refused (also while the run goes on).
		if _, err := models.StartCampaignRun(ctx, db, models.StartRun{CampaignID: c.ID, ScheduledFor: now, Now: now, From: []string{models.CampaignRunning}}); err != models.ErrRunActive {
			t.Fatalf("second start: %v, want ErrRunActive", err)
		}
		// Expand two batches of 5, then "crash": the cursor goes back to
		// where a half-done batch might have left it, and expansion resumes.
		cctx, cancel := context.WithCancel(ctx)
		calls := 0
		db.Callback().Create().After("gorm:create").Register("count_batches", func(tx *gorm.DB) {
			if tx.Statement.Table == "deliveries" {
				calls++
				if calls == 3 { // the third batch fails and rolls back
					cancel()
				}
			}
		})
		defer db.Callback().Create().Remove("count_batches")
		done, err := models.ExpandRun(cctx, db, run.ID, 5)
		if done || err == nil {
			t.Fatalf("expansion cut short: done %v err %v", done, err)
		}
		mid, _ := models.GetRun(ctx, db, run.ID)
		if mid.ExpandCursor == 0 || mid.Audience != 10 {
			t.Fatalf("after two batches: cursor %d audience %d, want 10 added", mid.ExpandCursor, mid.Audience)
		}
		// A crash after inserting but before the cursor moved: replay from the start.
		db.Exec("UPDATE campaign_runs SET expand_cursor = 0 WHERE id = ?", run.ID)
		done, err = models.ExpandRun(ctx, db, run.ID, 5)
		if !done || err != nil {
			t.Fatalf("expansion: done %v err %v", done, err)
		}
		var n, distinct int64
		db.Raw("SELECT COUNT(*) FROM deliveries WHERE run_id = ?", run.ID).Scan(&n)
		db.Raw("SELECT COUNT(DISTINCT user_id) FROM deliveries WHERE run_id = ?", run.ID).Scan(&distinct)
		if n != int64(len(users)) || distinct != n {
			t.Fatalf("deliveries %d (distinct users %d), want %d", n, distinct, len(users))
		}
		r, _ := models.GetRun(ctx, db, run.ID)
		if r.Status != models.RunSending || r.ExpandedAt == nil || r.Audience != n {
			t.Fatalf("run after expansion: %+v", r)
		}
		got := checkCounters(t, db, run.ID)
		if got["queued"] != n {
			t.Fatalf("queued %v", got)
		}
		// Values: personalised with the nickname, or the fallback.
		var d0, d1 models.Delivery
		db.Where("run_id = ? AND user_id = ?", run.ID, users[0].ID).First(&d0)
		db.Where("run_id = ? AND user_id = ?", run.ID, users[1].ID).First(&d1)
		if !strings.Contains(d0.Data, `"u0，已发货"`) || !strings.Contains(d1.Data, `"您好，已发货"`) || !strings.Contains(d0.Data, `"42"`) {
			t.Fatalf("rendered data: %s / %s", d0.Data, d1.Data)
		}
		c2, _ := models.GetCampaign(ctx, db, c.ID)
		if c2.Status != models.CampaignRunning {
			t.Fatalf("campaign status %s", c2.Status)
		}
	})
}

func TestCampaignAudienceKindsAndReachable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, tpl, users := campaignFixture(t, db, 30)
		// A user who rejected is not in the audience.
		db.Exec("UPDATE subscriptions SET status = 'reject', credits = 0 WHERE user_id = ?", users[29].ID)
		cases := []struct {
			name            string
			a               models.Audience
			size, reachable int64
		}{
			// 29 accepted; credits on i%5 != 0 → 0,5,10,15,20,25 lack one.
			{"subscribed", models.Audience{Kind: models.AudienceSubscribed}, 29, 23},
			// vip: i%3==0, i<29 → 0,3,…,27 (10); without credit 0,15 → 8.
			{"tags", models.Audience{Kind: models.AudienceTags, Tags: []string{"vip"}}, 10, 8},
			// city sh (even) and age > 40 (i > 20): 22,24,26,28 → reachable but 25? (odd) → 4, all with credit.
			{"attrs", models.Audience{Kind: models.AudienceAttrs, Conds: []models.Cond{{Attr: "city", Op: "eq", Value: "sh"}, {Attr: "age", Op: "gt", Value: "40"}}}, 4, 4},
		}
		for _, tc := range cases {
			c := newCampaign(t, db, app, tpl, tc.a)
			got, err := models.CountAudience(ctx, db, c, tpl, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if got.Size != tc.size || got.Reachable != tc.reachable {
				t.Errorf("%s: size %d reachable %d, want %d %d", tc.name, got.Size, got.Reachable, tc.size, tc.reachable)
			}
			if got.WouldFail != 0 {
				t.Errorf("%s: %d would fail with a fallback set", tc.name, got.WouldFail)
			}
		}
		// Without a fallback, users lacking the nickname would fail (i%4==1).
		c := newCampaign(t, db, app, tpl, models.Audience{Kind: models.AudienceSubscribed})
		c.SetValues(map[string]models.Value{"thing1": {Value: "{{nickname}}"}, "number2": {Value: "42"}})
		got, _ := models.CountAudience(ctx, db, c, tpl, 1000)
		if got.WouldFail != 7 { // 1,5,9,13,17,21,25
			t.Errorf("would fail %d, want 7", got.WouldFail)
		}

		// An uploaded list: openids, a header, one unknown, one repeated.
		lc := newCampaign(t, db, app, tpl, models.Audience{Kind: models.AudienceList})
		csv := "openid\no_000\no_001\r\no_unknown\no_001\n\no_029\n"
		res, err := models.ImportRecipients(ctx, db, lc, strings.NewReader(csv), "openid")
		if err != nil {
			t.Fatal(err)
		}
		if res.Lines != 5 || res.Added != 3 || res.Missing != 2 {
			t.Fatalf("import %+v", res)
		}
		lc, _ = models.GetCampaign(ctx, db, lc.ID)
		got, _ = models.CountAudience(ctx, db, lc, tpl, 0)
		// o_000 has no credit, o_029 rejected: 3 listed, 1 reachable.
		if got.Size != 3 || got.Reachable != 1 {
			t.Fatalf("list audience %+v", got)
		}
		// By business id, replacing the list.
		res, err = models.ImportRecipients(ctx, db, lc, strings.NewReader("b3\nb4\n"), "business_id")
		if err != nil || res.Added != 2 {
			t.Fatalf("business ids: %+v %v", res, err)
		}
		lc, _ = models.GetCampaign(ctx, db, lc.ID)
		if got, _ = models.CountAudience(ctx, db, lc, tpl, 0); got.Size != 2 {
			t.Fatalf("replaced list %+v", got)
		}
		// Expansion of the list run matches the count.
		now := time.Now().UTC()
		run, err := models.StartCampaignRun(ctx, db, models.StartRun{CampaignID: lc.ID, ScheduledFor: now, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := models.ExpandRun(ctx, db, run.ID, 100); err != nil {
			t.Fatal(err)
		}
		var ids []int64
		db.Raw("SELECT user_id FROM deliveries WHERE run_id = ? ORDER BY user_id", run.ID).Scan(&ids)
		if len(ids) != 2 || ids[0] != users[3].ID || ids[1] != users[4].ID {
			t.Fatalf("list run users %v", ids)
		}
	})
}

func TestCampaignPauseResumeCancelKeepCounters(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, tpl, _ := campaignFixture(t, db, 12)
		c := newCampaign(t, db, app, tpl, models.Audience{Kind: models.AudienceSubscribed})
		now := time.Now().UTC()
		run, err := models.StartCampaignRun(ctx, db, models.StartRun{CampaignID: c.ID, ScheduledFor: now, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		// Pause mid-expansion: the rest is expanded paused.
		cctx, cancel := context.WithCancel(ctx)
		creates := 0
		db.Callback().Create().After("gorm:create").Register("stop_after_one", func(tx *gorm.DB) {
			if tx.Statement.Table == "deliveries" {
				if creates++; creates == 2 { // the second batch fails and rolls back
					cancel()
				}
			}
		})
		_, _ = models.ExpandRun(cctx, db, run.ID, 4)
		db.Callback().Create().Remove("stop_after_one")
		for i := 0; i < 2; i++ { // idempotent
			changed, err := models.PauseRun(ctx, db, run, models.ReasonStaffPause, now)
			if err != nil || changed != (i == 0) {
				t.Fatalf("pause %d: %v %v", i, changed, err)
			}
		}
		if got := checkCounters(t, db, run.ID); got["paused"] != 4 || got["queued"] != 0 {
			t.Fatalf("after pause: %v", got)
		}
		if c2, _ := models.GetCampaign(ctx, db, c.ID); c2.Status != models.CampaignPaused {
			t.Fatalf("campaign %s", c2.Status)
		}
		if _, err := models.ExpandRun(ctx, db, run.ID, 4); err != nil {
			t.Fatal(err)
		}
		if got := checkCounters(t, db, run.ID); got["paused"] != 12 || got["queued"] != 0 {
			t.Fatalf("expanded while paused: %v", got)
		}
		r, _ := models.GetRun(ctx, db, run.ID)
		if r.Status != models.RunPaused || r.ExpandedAt == nil {
			t.Fatalf("run %+v", r)
		}
		// Nothing paused is finished.
		if done, _ := models.FinishRuns(ctx, db, now); len(done) != 0 {
			t.Fatalf("finished a paused run")
		}
		for i := 0; i < 2; i++ {
			changed, err := models.ResumeRun(ctx, db, run, now)
			if err != nil || changed != (i == 0) {
				t.Fatalf("resume %d: %v %v", i, changed, err)
			}
		}
		if got := checkCounters(t, db, run.ID); got["queued"] != 12 || got["paused"] != 0 {
			t.Fatalf("after resume: %v", got)
		}
		r, _ = models.GetRun(ctx, db, run.ID)
		if r.Status != models.RunSending {
			t.Fatalf("resumed run status %s", r.Status)
		}
		// Pretend the engine took 3; cancel skips the other 9.
		db.Exec("UPDATE deliveries SET status = 'sending' WHERE run_id = ? AND id IN (SELECT id FROM (SELECT id FROM deliveries WHERE run_id = ? ORDER BY id LIMIT 3) x)", run.ID, run.ID)
		db.Exec("UPDATE campaign_runs SET queued = queued - 3, sending = sending + 3 WHERE id = ?", run.ID)
		db.Exec("INSERT INTO delivery_stats (app_id, run_id, status, detail, n) VALUES (?,?,?,?,?)", app.ID, run.ID, "sending", "", 3)
		db.Exec("UPDATE delivery_stats SET n = n - 3 WHERE run_id = ? AND status = 'queued'", run.ID)
		for i := 0; i < 2; i++ {
			changed, err := models.CancelCampaign(ctx, db, c, now)
			if err != nil || changed != (i == 0) {
				t.Fatalf("cancel %d: %v %v", i, changed, err)
			}
		}
		got := checkCounters(t, db, run.ID)
		if got["skipped"] != 9 || got["sending"] != 3 || got["queued"] != 0 {
			t.Fatalf("after cancel: %v", got)
		}
		var reasons []string
		db.Raw("SELECT DISTINCT reason FROM deliveries WHERE run_id = ? AND status = 'skipped'", run.ID).Scan(&reasons)
		if len(reasons) != 1 || reasons[0] != models.ReasonCanceled {
			t.Fatalf("skip reasons %v", reasons)
		}
		// No credit moved: canceled rows never spent one.
		var spent int64
		db.Raw("SELECT COUNT(*) FROM subscription_events WHERE kind IN ('spend','refund')").Scan(&spent)
		if spent != 0 {
			t.Fatalf("credit events %d", spent)
		}
		r, _ = models.GetRun(ctx, db, run.ID)
		c2, _ := models.GetCampaign(ctx, db, c.ID)
		if r.Status != models.RunCanceled || c2.Status != models.CampaignCanceled {
			t.Fatalf("run %s campaign %s", r.Status, c2.Status)
		}
	})
}

func TestCronFiringsInTimeZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	// 09:30 on weekdays in New York, across the March DST change.
	after := time.Date(2026, 3, 6, 15, 0, 0, 0, time.UTC) // Friday 10:00 EST
	got, err := models.NextFirings("30 9 * * 1-5", ny, after, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{
		time.Date(2026, 3, 9, 13, 30, 0, 0, time.UTC),  // Monday 09:30 EDT
		time.Date(2026, 3, 10, 13, 30, 0, 0, time.UTC), // Tuesday
		time.Date(2026, 3, 11, 13, 30, 0, 0, time.UTC),
	}
	for i := range want {
		if i >= len(got) || !got[i].Equal(want[i]) {
			t.Fatalf("firings %v, want %v", got, want)
		}
	}
	end := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	if got, _ := models.NextFirings("30 9 * * 1-5", ny, after, &end, 5); len(got) != 1 {
		t.Fatalf("with end date: %v", got)
	}
	utc := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, time.UTC) }
	for _, c := range []struct {
		name, expr string
		loc        *time.Location
		after      time.Time
		want       []time.Time
	}{
		// 01:30 happens twice on 7 Nov 2027 (EDT, then EST): once only.
		{"autumn, fixed time", "30 1 * * *", ny, utc(2027, 11, 6, 12, 0), []time.Time{utc(2027, 11, 7, 5, 30), utc(2027, 11, 8, 6, 30)}},
		// The same from inside the repeated hour, after the first 01:30.
		{"autumn, from the repeat", "30 1 * * *", ny, utc(2027, 11, 7, 6, 10), []time.Time{utc(2027, 11, 8, 6, 30)}},
		// 02:30 does not exist on 14 Mar 2027: 03:30 EDT, late by the jump.
		{"spring, fixed time", "30 2 * * *", ny, utc(2027, 3, 13, 12, 0), []time.Time{utc(2027, 3, 14, 7, 30), utc(2027, 3, 15, 6, 30)}},
		// Two firings that meet after the jump fire once.
		{"spring, two meet", "30 2,3 * * *", ny, utc(2027, 3, 14, 6, 0), []time.Time{utc(2027, 3, 14, 7, 30), utc(2027, 3, 15, 6, 30)}},
		// Every hour keeps to real time: both 01:00s, no 02:00 in spring.
		{"autumn, hourly", "0 * * * *", ny, utc(2027, 11, 7, 4, 30), []time.Time{utc(2027, 11, 7, 5, 0), utc(2027, 11, 7, 6, 0), utc(2027, 11, 7, 7, 0)}},
		{"spring, hourly", "0 * * * *", ny, utc(2027, 3, 14, 5, 30), []time.Time{utc(2027, 3, 14, 6, 0), utc(2027, 3, 14, 7, 0), utc(2027, 3, 14, 8, 0)}},
		{"no DST", "0 10 * * *", sh, utc(2027, 11, 6, 12, 0), []time.Time{utc(2027, 11, 7, 2, 0), utc(2027, 11, 8, 2, 0)}},
	} {
		got, err := models.NextFirings(c.expr, c.loc, c.after, nil, len(c.want))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: firings %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if !got[i].Equal(c.want[i]) {
				t.Errorf("%s: firings %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
	if _, err := models.ParseCron("61 * * * *"); err == nil {
		t.Fatal("bad minute accepted")
	}
	for expr, want := range map[string]string{"61 9 * * *": "minute 61", "0 25 * * *": "hour 25", "0 9 32 * *": "day 32",
		"0 9 * 13 *": "month 13", "0 9 * * 8": "weekday 8", "*/0 * * * *": "minute */0", "a b c d e": "minute a", "0 9 * *": " ", "@dayly": " "} {
		i, field := models.BadCronField(expr)
		got := " "
		if i >= 0 {
			got = models.CronFields[i] + " " + field
		}
		if got != want {
			t.Errorf("BadCronField(%q) = %q, want %q", expr, got, want)
		}
	}
	for _, expr := range []string{"@every 1s", "@EVERY 5m", " @every 1h"} {
		if _, err := models.ParseCron(expr); err == nil {
			t.Errorf("%q accepted: an interval would start a run at every tick", expr)
		}
	}
	if _, err := models.ParseCron("@daily"); err != nil {
		t.Fatalf("@daily: %v", err)
	}
	if _, err := models.ParseCron("CRON_TZ=UTC 0 9 * * *"); err == nil {
		t.Fatal("zone in expression accepted")
	}
}

// Resend to failed repeats exactly the transient failures (max attempts,
// unknown then failed) of users who still hold a credit, once each.
func TestCampaignResendToFailed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, tpl, users := campaignFixture(t, db, 10) // users 0 and 5 hold no credit
		c := newCampaign(t, db, app, tpl, models.Audience{Kind: models.AudienceSubscribed})
		now := time.Now().UTC()
		run, err := models.StartCampaignRun(ctx, db, models.StartRun{CampaignID: c.ID, ScheduledFor: now, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := models.ExpandRun(ctx, db, run.ID, 100); err != nil {
			t.Fatal(err)
		}
		set := func(i int, status, reason string) {
			db.Exec("UPDATE deliveries SET status = ?, reason = ? WHERE run_id = ? AND user_id = ?", status, reason, run.ID, users[i].ID)
		}
		set(0, models.DeliveryFailed, models.ReasonMaxAttempts) // no credit: not resent
		set(1, models.DeliveryFailed, models.ReasonMaxAttempts) // resent
		set(2, models.DeliveryFailed, models.ReasonSentEvent)   // unknown, then failed: resent
		set(3, models.DeliveryFailed, models.ReasonWeChat)      // permanent: not resent
		set(4, models.DeliverySkipped, models.ReasonInvalidValue)
		db.Exec("UPDATE deliveries SET status = 'delivered' WHERE run_id = ? AND status = 'queued'", run.ID)
		db.Exec("UPDATE campaign_runs SET queued = 0 WHERE id = ?", run.ID)
		if _, err := models.FinishRuns(ctx, db, now); err != nil {
			t.Fatal(err)
		}
		run, _ = models.GetRun(ctx, db, run.ID)
		c, _ = models.GetCampaign(ctx, db, c.ID)
		if run.Status != models.RunCompleted || c.Status != models.CampaignCompleted {
			t.Fatalf("run %s campaign %s", run.Status, c.Status)
		}
		if n, _ := models.ResendCandidates(ctx, db, run, tpl); n != 2 {
			t.Fatalf("candidates %d, want 2", n)
		}
		later := now.Add(time.Minute)
		rr, err := models.StartResend(ctx, db, c, run, later)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := models.StartResend(ctx, db, c, run, later.Add(time.Second)); err != models.ErrNotStartable && err != models.ErrRunActive {
			t.Fatalf("second resend while the first runs: %v", err)
		}
		for i := 0; i < 2; i++ { // a repeated expansion adds nobody twice
			db.Exec("UPDATE campaign_runs SET expand_cursor = 0, expanded_at = NULL, status = 'expanding' WHERE id = ?", rr.ID)
			if _, err := models.ExpandRun(ctx, db, rr.ID, 1); err != nil {
				t.Fatal(err)
			}
		}
		var got []int64
		db.Raw("SELECT user_id FROM deliveries WHERE run_id = ? ORDER BY user_id", rr.ID).Scan(&got)
		if len(got) != 2 || got[0] != users[1].ID || got[1] != users[2].ID {
			t.Fatalf("resend recipients %v", got)
		}
		rr, _ = models.GetRun(ctx, db, rr.ID)
		if rr.ResendOf == nil || *rr.ResendOf != run.ID || rr.Audience != 2 {
			t.Fatalf("resend run %+v", rr)
		}
		checkCounters(t, db, rr.ID)
	})
}
