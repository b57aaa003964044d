package models_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// The dashboard's numbers on both databases: today's come from a campaign
// run sent through the engine's own steps (claim, WeChat's answers, sent
// events settled), earlier days from recorded hours; days are cut at
// midnight in the console's zone, an eight-day-old hour and another
// account's hours stay out.
func TestDashboardActivityCounts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		loc, _ := time.LoadLocation("Asia/Shanghai")
		app, tpl, users := campaignFixture(t, db, 12) // 9 of 12 hold a credit
		other := &models.App{AppID: "wx00000000000000d2", Name: "other", RateLimit: 20, Timezone: "Asia/Shanghai"}
		if err := db.Create(other).Error; err != nil {
			t.Fatal(err)
		}
		c := newCampaign(t, db, app, tpl, models.Audience{Kind: models.AudienceSubscribed})
		start := time.Now().UTC()
		run, err := models.StartCampaignRun(ctx, db, models.StartRun{CampaignID: c.ID, ScheduledFor: start, Now: start})
		if err != nil {
			t.Fatal(err)
		}
		if done, err := models.ExpandRun(ctx, db, run.ID, 100); !done || err != nil {
			t.Fatalf("expand: %v %v", done, err)
		}
		now := time.Now().UTC()
		res, err := models.ClaimDeliveries(ctx, db, models.ClaimRequest{AppID: app.ID, Owner: "inst", Limit: 100, Now: now, LeaseFor: time.Hour,
			Decide: func(rows []models.Delivery, _ map[int64]string) []models.Decision {
				return make([]models.Decision, len(rows))
			}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Send) != 9 {
			t.Fatalf("claimed %d, want the 9 users with a credit", len(res.Send))
		}
		// WeChat takes 5, refuses 3 with 43101 and 1 with 47003.
		var outs []models.Outcome
		for i := range res.Send {
			d := &res.Send[i]
			switch {
			case i < 5:
				outs = append(outs, models.Outcome{D: d, Status: models.DeliverySent, MsgID: int64(900000 + i)})
			case i < 8:
				outs = append(outs, models.Outcome{D: d, Status: models.DeliveryFailed, ErrCode: 43101, Refund: true})
			default:
				outs = append(outs, models.Outcome{D: d, Status: models.DeliveryFailed, ErrCode: 47003, Refund: true})
			}
		}
		if err := models.ApplyOutcomes(ctx, db, "inst", now, time.Minute, outs); err != nil {
			t.Fatal(err)
		}
		// Sent events confirm 3 of the 5.
		byUser := map[int64]string{}
		for _, u := range users {
			byUser[u.ID] = u.OpenID
		}
		for i := 0; i < 3; i++ {
			if _, err := models.StoreSentEvent(ctx, db, models.SentEvent{AppID: app.ID, MsgID: int64(900000 + i), OpenID: byUser[res.Send[i].UserID],
				WxTemplateID: tpl.TemplateID, EventTime: now}, now); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := models.SettlePendingSentEvents(ctx, db, models.SettlePass{ByWindowAfter: now, GiveUpBefore: now.Add(-time.Hour),
			Now: now, Window: time.Minute, Limit: 100}); err != nil {
			t.Fatal(err)
		}
		rows := map[string]int64{}
		var rs []struct {
			Status string
			N      int64
		}
		db.Raw("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status").Scan(&rs)
		for _, r := range rs {
			rows[r.Status] = r.N
		}
		if rows["delivered"] != 3 || rows["sent"] != 2 || rows["failed"] != 4 {
			t.Fatalf("deliveries by status %v, want 3 delivered, 2 sent, 4 failed", rows)
		}

		// Earlier days, in Shanghai's calendar.
		local := now.In(loc)
		midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
		record := func(at time.Time, appID int64, sent, delivered int64, fails map[string]int64) {
			counts := []models.HourCount{{AppID: appID, Status: models.HourSent, N: sent}, {AppID: appID, Status: models.HourDelivered, N: delivered}}
			for code, n := range fails {
				counts = append(counts, models.HourCount{AppID: appID, Status: models.HourFailed, Detail: code, N: n})
			}
			if err := models.RecordHourly(ctx, db, at, counts); err != nil {
				t.Fatal(err)
			}
		}
		record(midnight.Add(-time.Hour), app.ID, 100, 90, map[string]int64{"43101": 7})                 // yesterday 23:00
		record(midnight.Add(-time.Hour).Add(30*time.Minute), app.ID, 1, 1, nil)                         // same hour
		record(midnight.AddDate(0, 0, -6).Add(time.Hour), app.ID, 40, 30, map[string]int64{"40003": 2}) // six days ago 01:00
		record(midnight.AddDate(0, 0, -7).Add(23*time.Hour), app.ID, 500, 500, nil)                     // seven days ago 23:00: out
		record(midnight.AddDate(0, 0, -1).Add(3*time.Hour), other.ID, 1000, 999, map[string]int64{"45009": 1})

		a, err := models.LoadActivity(ctx, db, app.ID, now, loc, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Days) != 7 || !a.Days[6].Day.Equal(midnight) {
			t.Fatalf("days %v", a.Days)
		}
		want := []models.DayCount{{Sent: 40, Delivered: 30, Failed: 2}, {}, {}, {}, {}, {Sent: 101, Delivered: 91, Failed: 7}, {Sent: 5, Delivered: 3, Failed: 4}}
		for i, w := range want {
			g := a.Days[i]
			if g.Sent != w.Sent || g.Delivered != w.Delivered || g.Failed != w.Failed {
				t.Errorf("day %d (%s): sent %d delivered %d failed %d, want %d %d %d", i, g.Day.Format("01-02"), g.Sent, g.Delivered, g.Failed, w.Sent, w.Delivered, w.Failed)
			}
		}
		// Today's counts equal the rows: WeChat took sent + delivered.
		if tdy := a.Today(); tdy.Sent != rows["sent"]+rows["delivered"] || tdy.Delivered != rows["delivered"] || tdy.Failed != rows["failed"] {
			t.Errorf("today %+v, rows %v", tdy, rows)
		}
		if got := fmt.Sprint(a.FailuresToday); got != "[{43101 3} {47003 1}]" {
			t.Errorf("failures today %s", got)
		}
		if got := fmt.Sprint(a.FailuresWeek); got != "[{43101 10} {40003 2} {47003 1}]" {
			t.Errorf("failures this week %s", got)
		}
		if r := a.Today().DeliveryRate(); r < 33.3 || r > 33.4 { // 3 / (5 + 4)
			t.Errorf("delivery rate %.2f, want 33.33", r)
		}
		all, err := models.LoadActivity(ctx, db, 0, now, loc, 7)
		if err != nil {
			t.Fatal(err)
		}
		if w := all.Week(); w.Sent != 146+1000 || w.Delivered != 124+999 || w.Failed != 13+1 {
			t.Errorf("every account's week %+v", w)
		}

		// The run under way, with its counters.
		runs, err := models.ActiveRuns(ctx, db, app.ID)
		if err != nil || len(runs) != 1 || runs[0].Name != "c" || runs[0].Audience != 12 || runs[0].Finished() != 12 || runs[0].Skipped != 3 || runs[0].Percent() != 100 {
			t.Fatalf("active runs %+v %v", runs, err)
		}
		if none, _ := models.ActiveRuns(ctx, db, other.ID); len(none) != 0 {
			t.Fatalf("other account's runs %+v", none)
		}
	})
}

// Accounts: quota used today, pauses, setup issues; held campaigns;
// templates with their reachable users.
func TestDashboardAccountsAndTemplates(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, tpl, _ := campaignFixture(t, db, 12) // 9 of 12 hold a credit
		now := time.Now().UTC()
		if err := db.Model(app).Updates(map[string]any{"daily_quota": 10, "secret_enc": "sealed"}).Error; err != nil {
			t.Fatal(err)
		}
		if got, err := models.TakeSendCapacity(ctx, db, app.ID, models.DayWindow(now), 8, 10, now); err != nil || got != 8 {
			t.Fatalf("take %d %v", got, err)
		}
		if err := models.PauseAppSends(ctx, db, app.ID, now.Add(time.Hour), models.PauseWeChatQuota); err != nil {
			t.Fatal(err)
		}
		bare := &models.App{AppID: "wx00000000000000d3", Name: "bare", RateLimit: 20, Timezone: "Asia/Shanghai", PushMode: models.PushSafe}
		if err := db.Create(bare).Error; err != nil {
			t.Fatal(err)
		}
		states, err := models.LoadAccountStates(ctx, db, 0, now)
		if err != nil || len(states) != 2 {
			t.Fatalf("states %+v %v", states, err)
		}
		s, b := states[1], states[0] // by name: bare, shop
		if s.App.ID != app.ID || s.QuotaUsed != 8 || !s.QuotaNear() || !s.Paused || s.App.PauseReason != models.PauseWeChatQuota {
			t.Errorf("shop: %+v", s)
		}
		if fmt.Sprint(s.Issues) != "[no_push_token]" {
			t.Errorf("shop issues %v", s.Issues)
		}
		if b.QuotaUsed != -1 || b.Paused || fmt.Sprint(b.Issues) != "[no_secret no_push_token no_aes_key no_templates]" {
			t.Errorf("bare: %+v", b)
		}

		c := newCampaign(t, db, app, tpl, models.Audience{Kind: models.AudienceSubscribed})
		if n, err := models.FlagCampaignsForTemplate(ctx, db, tpl.ID, models.HeldTemplateChanged); err != nil || n != 1 {
			t.Fatalf("flag %d %v", n, err)
		}
		held, err := models.HeldCampaigns(ctx, db, app.ID)
		if err != nil || len(held) != 1 || held[0].ID != c.ID || held[0].HeldReason != models.HeldTemplateChanged {
			t.Fatalf("held %+v %v", held, err)
		}

		long := &models.Template{AppID: app.ID, TemplateID: "TL", Title: "long", Content: "x:{{thing1.DATA}}", Kind: models.TemplateLongTerm}
		long.SetKeywords([]models.TemplateKeyword{{Key: "thing1", Type: "thing"}})
		if err := models.CreateTemplate(ctx, db, long); err != nil {
			t.Fatal(err)
		}
		var uids []int64
		db.Raw("SELECT id FROM users WHERE app_id = ? ORDER BY id LIMIT 4", app.ID).Scan(&uids)
		for i, uid := range uids { // 3 accepted long-term, 1 rejected
			st := models.SubAccept
			if i == 3 {
				st = "reject"
			}
			if err := db.Exec("INSERT INTO subscriptions (user_id, template_id, credits, long_term, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
				uid, long.ID, 0, true, st, now, now).Error; err != nil {
				t.Fatal(err)
			}
		}
		reach, err := models.TemplatesReach(ctx, db, app.ID, 50)
		if err != nil || len(reach) != 2 {
			t.Fatalf("reach %+v %v", reach, err)
		}
		got := map[string]int64{}
		for _, r := range reach {
			got[r.Title] = r.Reachable
		}
		if got["shipped"] != 9 || got["long"] != 3 {
			t.Errorf("reachable %v, want shipped 9, long 3", got)
		}
	})
}

// How counter moves become hourly counts: WeChat's acceptance counts once
// (sending → sent), its confirmation does not count it again (sent →
// delivered), a delivery settled straight from unknown counts as sent and
// delivered, a sent event's failure counts as a failure only; moves that
// send nothing (queued → sending, → skipped) count nothing.
func TestHourlyCountsFollowMoves(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		run := int64(7)
		apply := func(from, to, detail string, n int) {
			t.Helper()
			s := models.StatDeltas{}
			for i := 0; i < n; i++ {
				s.Move(3, &run, from, to, detail)
			}
			if err := models.ApplyStats(ctx, db, s); err != nil {
				t.Fatal(err)
			}
		}
		apply(models.DeliveryQueued, models.DeliverySending, "", 10)
		apply(models.DeliverySending, models.DeliverySent, "", 6)
		apply(models.DeliverySending, models.DeliveryFailed, "43101", 1)
		apply(models.DeliverySending, models.DeliveryUnknown, "", 2)
		apply(models.DeliverySent, models.DeliveryDelivered, "", 4)
		apply(models.DeliverySent, models.DeliveryFailed, "user_refused", 1)
		apply(models.DeliveryUnknown, models.DeliveryDelivered, "", 2)
		apply(models.DeliveryQueued, models.DeliverySkipped, "no_credit", 3)
		now := time.Now()
		a, err := models.LoadActivity(ctx, db, 3, now, time.UTC, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Today(); got.Sent != 8 || got.Delivered != 6 || got.Failed != 2 {
			t.Fatalf("today %+v, want 8 sent (6 + 2 from unknown), 6 delivered, 2 failed", got)
		}
		if got := fmt.Sprint(a.FailuresToday); got != "[{43101 1} {user_refused 1}]" {
			t.Fatalf("failures %s", got)
		}
	})
}
