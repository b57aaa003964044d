package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

func (h *harness) campaign(name, kind, expr, tz, misfire string, runAt *time.Time) *models.Campaign {
	h.t.Helper()
	c := &models.Campaign{AppID: h.app.ID, TemplateID: h.tpl.ID, Name: name, ScheduleKind: kind, CronExpr: expr, RunAt: runAt,
		Timezone: tz, MisfirePolicy: misfire}
	c.SetValues(map[string]models.Value{"thing1": {Value: "{{item}}", Fallback: "咖啡豆"}, "number2": {Value: "2"}})
	c.SetAudience(models.Audience{Kind: models.AudienceSubscribed})
	if err := models.CreateCampaign(context.Background(), h.db, c); err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) schedule(c *models.Campaign, now time.Time) *models.Campaign {
	h.t.Helper()
	if _, err := models.ScheduleCampaign(context.Background(), h.db, c, 1, now); err != nil {
		h.t.Fatal(err)
	}
	got, err := models.GetCampaign(context.Background(), h.db, c.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return got
}

func (h *harness) runsOf(c *models.Campaign) []models.CampaignRun {
	h.t.Helper()
	runs, err := models.ListRuns(context.Background(), h.db, c.ID, 100)
	if err != nil {
		h.t.Fatal(err)
	}
	return runs
}

func utc(y int, m time.Month, d, hh, mm, ss int) time.Time {
	return time.Date(y, m, d, hh, mm, ss, 0, time.UTC)
}

// Each schedule kind fires at its instant in the campaign's time zone (New
// York, across the DST change, and Shanghai), not before, and once.
func TestCampaignFiresAtTheRightInstant(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		ctx := context.Background()
		s := &Campaigns{DB: db, Log: h.quiet}

		// 09:00 every day in New York. Scheduled on Saturday 7 March 2026
		// 12:00 UTC (07:00 EST): first firing 14:00 UTC; after the switch
		// to EDT on Sunday, 13:00 UTC.
		cr := h.schedule(h.campaign("daily", models.ScheduleCron, "0 9 * * *", "America/New_York", models.MisfireSkip, nil), utc(2026, 3, 7, 12, 0, 0))
		if cr.Status != models.CampaignScheduled || !cr.NextRunAt.Equal(utc(2026, 3, 7, 14, 0, 0)) {
			t.Fatalf("cron campaign: %s next %v", cr.Status, cr.NextRunAt)
		}
		// Once at 2026-03-07 22:30 Shanghai = 14:30 UTC.
		at := time.Date(2026, 3, 7, 22, 30, 0, 0, mustLoc(t, "Asia/Shanghai"))
		once := h.schedule(h.campaign("once", models.ScheduleOnce, "", "Asia/Shanghai", models.MisfireSkip, &at), utc(2026, 3, 7, 12, 0, 0))

		if started, err := s.FireDue(ctx, utc(2026, 3, 7, 13, 59, 59)); err != nil || len(started) != 0 {
			t.Fatalf("fired early: %v %v", started, err)
		}
		started, err := s.FireDue(ctx, utc(2026, 3, 7, 14, 0, 5))
		if err != nil || len(started) != 1 || started[0].CampaignID != cr.ID || !started[0].ScheduledFor.Equal(utc(2026, 3, 7, 14, 0, 0)) {
			t.Fatalf("cron firing: %+v %v", started, err)
		}
		cr, _ = models.GetCampaign(ctx, db, cr.ID)
		if cr.Status != models.CampaignRunning || !cr.NextRunAt.Equal(utc(2026, 3, 8, 13, 0, 0)) {
			t.Fatalf("after firing: %s next %v (want 2026-03-08 13:00 UTC, 09:00 EDT)", cr.Status, cr.NextRunAt)
		}
		if started, _ := s.FireDue(ctx, utc(2026, 3, 7, 14, 0, 30)); len(started) != 0 {
			t.Fatalf("fired twice: %+v", started)
		}
		started, err = s.FireDue(ctx, utc(2026, 3, 7, 14, 30, 1))
		if err != nil || len(started) != 1 || started[0].CampaignID != once.ID || !started[0].ScheduledFor.Equal(at.UTC()) {
			t.Fatalf("once firing: %+v %v", started, err)
		}
		once, _ = models.GetCampaign(ctx, db, once.ID)
		if once.NextRunAt != nil {
			t.Fatalf("a once campaign keeps a next firing: %v", once.NextRunAt)
		}
		// The cron run finishes (expanded, nothing to send is left after the
		// rows are ended): the campaign is scheduled again for its next firing.
		h.seedUsers("u", 3, h.tpl, 1, 1, nil)
		if err := s.Expand(ctx); err != nil {
			t.Fatal(err)
		}
		db.Exec("UPDATE deliveries SET status = 'delivered'")
		db.Exec("UPDATE campaign_runs SET queued = 0, delivered = audience")
		if _, err := models.FinishRuns(ctx, db, utc(2026, 3, 7, 15, 0, 0)); err != nil {
			t.Fatal(err)
		}
		cr, _ = models.GetCampaign(ctx, db, cr.ID)
		once, _ = models.GetCampaign(ctx, db, once.ID)
		if cr.Status != models.CampaignScheduled || once.Status != models.CampaignCompleted {
			t.Fatalf("after the runs: cron %s, once %s", cr.Status, once.Status)
		}
		started, err = s.FireDue(ctx, utc(2026, 3, 8, 13, 0, 0))
		if err != nil || len(started) != 1 || !started[0].ScheduledFor.Equal(utc(2026, 3, 8, 13, 0, 0)) {
			t.Fatalf("second day: %+v %v", started, err)
		}
	})
}

func mustLoc(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// A firing missed while nothing ran is skipped or run late, by the
// campaign's policy; several missed firings run at most once, and never twice.
func TestCampaignMisfirePolicy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		ctx := context.Background()
		s := &Campaigns{DB: db, Log: h.quiet, MisfireGrace: time.Minute}
		at := utc(2026, 5, 1, 2, 0, 0)
		sched := utc(2026, 5, 1, 0, 0, 0)
		skip := h.schedule(h.campaign("skip", models.ScheduleOnce, "", "Europe/Berlin", models.MisfireSkip, &at), sched)
		late := h.schedule(h.campaign("late", models.ScheduleOnce, "", "Europe/Berlin", models.MisfireRun, &at), sched)
		// Every hour at :00 in Berlin; down from 00:30 to 05:10 UTC: the
		// 01:00…05:00 firings were missed.
		hourly := h.schedule(h.campaign("hourly", models.ScheduleCron, "0 * * * *", "Europe/Berlin", models.MisfireRun, nil), utc(2026, 5, 1, 0, 30, 0))
		hourlySkip := h.schedule(h.campaign("hourly-skip", models.ScheduleCron, "0 * * * *", "Europe/Berlin", models.MisfireSkip, nil), utc(2026, 5, 1, 0, 30, 0))

		now := utc(2026, 5, 1, 5, 10, 0)
		for i := 0; i < 3; i++ {
			if _, err := s.FireDue(ctx, now.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if runs := h.runsOf(skip); len(runs) != 0 {
			t.Fatalf("skip policy ran: %+v", runs)
		}
		skip, _ = models.GetCampaign(ctx, db, skip.ID)
		if skip.Status != models.CampaignCompleted || skip.StatusReason != models.ReasonMisfireSkipped {
			t.Fatalf("skipped once campaign: %s %s", skip.Status, skip.StatusReason)
		}
		if runs := h.runsOf(late); len(runs) != 1 || !runs[0].ScheduledFor.Equal(at) {
			t.Fatalf("run-late policy: %+v", runs)
		}
		runs := h.runsOf(hourly)
		if len(runs) != 1 || !runs[0].ScheduledFor.Equal(utc(2026, 5, 1, 1, 0, 0)) {
			t.Fatalf("missed hourly firings ran %d times: %+v", len(runs), runs)
		}
		hourly, _ = models.GetCampaign(ctx, db, hourly.ID)
		if !hourly.NextRunAt.Equal(utc(2026, 5, 1, 6, 0, 0)) {
			t.Fatalf("hourly next %v, want the first firing after now", hourly.NextRunAt)
		}
		if runs := h.runsOf(hourlySkip); len(runs) != 0 {
			t.Fatalf("hourly skip ran: %+v", runs)
		}
		hourlySkip, _ = models.GetCampaign(ctx, db, hourlySkip.ID)
		if hourlySkip.Status != models.CampaignScheduled || !hourlySkip.NextRunAt.Equal(utc(2026, 5, 1, 6, 0, 0)) || hourlySkip.StatusReason != models.ReasonMisfireSkipped {
			t.Fatalf("hourly skip: %s %v %s", hourlySkip.Status, hourlySkip.NextRunAt, hourlySkip.StatusReason)
		}
		// On time (within the grace), the skip policy runs it.
		if started, _ := s.FireDue(ctx, utc(2026, 5, 1, 6, 0, 30)); len(started) != 1 || started[0].CampaignID != hourlySkip.ID {
			t.Fatalf("on-time firing: %+v", started)
		}
	})
}

// Two schedulers on one database firing at the same moment start one run.
func TestCampaignTwoSchedulersFireOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		ctx := context.Background()
		var cs []*models.Campaign
		for i := 0; i < 5; i++ {
			cs = append(cs, h.schedule(h.campaign("c", models.ScheduleCron, "*/5 * * * *", "Asia/Tokyo", models.MisfireRun, nil), utc(2026, 6, 1, 0, 1, 0)))
		}
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			other, err := models.Open(ctx, dsn, models.OpenOptions{Logger: h.quiet})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = models.Close(other) })
			s := &Campaigns{DB: other, Log: h.quiet}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 3; j++ {
					_, _ = s.FireDue(ctx, utc(2026, 6, 1, 0, 5, j))
				}
			}()
		}
		wg.Wait()
		for _, c := range cs {
			if runs := h.runsOf(c); len(runs) != 1 {
				t.Fatalf("campaign %d: %d runs", c.ID, len(runs))
			}
		}
	})
}

// A run through the engine: send now, pause mid-run (sends stop), resume
// (it continues where it stopped), every user messaged exactly once, the
// run completes and its counters equal its rows.
func TestCampaignRunPauseResumeExactlyOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		const n = 480
		users := h.seedUsers("p", n, h.tpl, 1, 2, map[string]any{"item": "手冲咖啡"}) // WeChat would take a second message
		db.Exec("UPDATE apps SET rate_limit = 50 WHERE id = ?", h.app.ID)         // about 10 s of sending
		e := h.engine(ctx, nil)
		s := &Campaigns{DB: db, Log: h.quiet, Notify: e.Notify, ExpandBatch: 50}
		c := h.campaign("now", models.ScheduleNow, "", "Asia/Shanghai", models.MisfireSkip, nil)
		now := time.Now().UTC()
		run, err := models.StartCampaignRun(ctx, db, models.StartRun{CampaignID: c.ID, ScheduledFor: now, Now: now, From: []string{models.CampaignDraft}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Tick(ctx); err != nil {
			t.Logf("tick (the next one goes on): %v", err)
		}
		accepted := func() int64 { return h.sb.Stats().Accepted }
		h.waitFor("some sends", func() bool { return accepted() >= 20 })
		if _, err := models.PauseRun(ctx, db, run, models.ReasonStaffPause, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		// What was claimed before the pause finishes; then nothing moves.
		h.waitFor("in-flight sends to end", func() bool {
			r, _ := models.GetRun(ctx, db, run.ID)
			return r.Sending == 0
		})
		atPause := accepted()
		time.Sleep(1500 * time.Millisecond)
		_ = s.Tick(ctx)
		if got := accepted(); got != atPause || got >= n {
			t.Fatalf("sends went on while paused: %d then %d (of %d)", atPause, got, n)
		}
		r, _ := models.GetRun(ctx, db, run.ID)
		if r.Paused == 0 || r.Queued != 0 {
			t.Fatalf("paused run: %+v", r)
		}
		if _, err := models.ResumeRun(ctx, db, run, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		e.Notify()
		h.waitFor("the run to finish", func() bool {
			_ = s.Tick(ctx)
			r, _ := models.GetRun(ctx, db, run.ID)
			return r.Status == models.RunCompleted
		})
		h.settledAll()
		for _, u := range users {
			if got := h.count(u.OpenID, h.tpl.TemplateID); got != 1 {
				t.Fatalf("%s received %d messages", u.OpenID, got)
			}
		}
		h.checkNoDuplicates(h.tpl.ID, h.tpl.TemplateID)
		h.checkCounters()
		r, _ = models.GetRun(ctx, db, run.ID)
		if r.Delivered+r.Sent != n || r.Audience != n {
			t.Fatalf("run counters: %+v", r)
		}
		c, _ = models.GetCampaign(ctx, db, c.ID)
		if c.Status != models.CampaignCompleted {
			t.Fatalf("campaign %s", c.Status)
		}
	})
}

// Quiet hours (London, 22:00–08:00; the clock is set ahead of real time so
// rows queued now are due): a campaign's deliveries wait for the
// window's end (defer) or end skipped without spending a credit (skip); a
// message outside any campaign (API, test send) goes out at once.
func TestCampaignQuietHoursDeferAndSkip(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		london := mustLoc(t, "Europe/London")
		db.Exec("UPDATE apps SET timezone = 'Europe/London', quiet_start = '22:00', quiet_end = '08:00', quiet_policy = 'defer' WHERE id = ?", h.app.ID)
		h.clock.Set(time.Date(2027, 1, 14, 23, 0, 0, 0, london))
		users := h.seedUsers("q", 6, h.tpl, 1, 2, map[string]any{"item": "咖啡"})
		other := h.seedUsers("api", 1, h.tpl, 1, 2, nil)
		e := h.engine(ctx, nil)
		s := &Campaigns{DB: db, Log: h.quiet, Now: h.clock.Now}
		start := func(name string) *models.CampaignRun {
			c := h.campaign(name, models.ScheduleNow, "", "Europe/London", models.MisfireSkip, nil)
			now := h.clock.Now().UTC()
			run, err := models.StartCampaignRun(ctx, db, models.StartRun{CampaignID: c.ID, ScheduledFor: now, Now: now, From: []string{models.CampaignDraft}})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; ; i++ { // as the job would: again at the next tick when SQLite was busy
				err := s.Expand(ctx)
				if err == nil {
					break
				}
				if i == 20 {
					t.Fatal(err)
				}
				t.Logf("expand: %v", err)
			}
			e.Notify()
			return run
		}
		run := start("night")
		h.enqueue(other, h.tpl, goodData) // not a campaign message: quiet hours do not apply
		e.Notify()
		h.waitFor("the API message", func() bool { return h.count(other[0].OpenID, h.tpl.TemplateID) == 1 })
		end := time.Date(2027, 1, 15, 8, 0, 0, 0, london).UTC()
		h.waitFor("campaign deliveries deferred to 08:00 London", func() bool {
			var n int64
			db.Model(&models.Delivery{}).Where("run_id = ? AND status = ? AND next_attempt_at = ?", run.ID, models.DeliveryQueued, end).Count(&n)
			return n == int64(len(users)+1) // the API user is subscribed too
		})
		time.Sleep(300 * time.Millisecond)
		for _, u := range users {
			if got := h.count(u.OpenID, h.tpl.TemplateID); got != 0 {
				t.Fatalf("%s got a message inside quiet hours", u.OpenID)
			}
		}
		// 08:00 London: they go.
		h.clock.Set(end.Add(time.Second))
		e.Notify()
		h.waitFor("the deferred sends", func() bool {
			for _, u := range users {
				if h.count(u.OpenID, h.tpl.TemplateID) != 1 {
					return false
				}
			}
			return true
		})

		// Skip policy, the next night: skipped, no credit spent.
		db.Exec("UPDATE apps SET quiet_policy = 'skip' WHERE id = ?", h.app.ID)
		h.clock.Set(time.Date(2027, 1, 15, 22, 30, 0, 0, london))
		db.Exec("UPDATE subscriptions SET credits = 1")
		time.Sleep(200 * time.Millisecond) // the engine reloads the app
		run = start("next-night")
		h.waitFor("quiet-hours skips", func() bool {
			var n int64
			db.Model(&models.Delivery{}).Where("run_id = ? AND status = ? AND reason = ?", run.ID, models.DeliverySkipped, models.ReasonQuietHours).Count(&n)
			return n == int64(len(users)+1)
		})
		for _, u := range users {
			if got := h.count(u.OpenID, h.tpl.TemplateID); got != 1 {
				t.Fatalf("%s: %d messages after a skipped night", u.OpenID, got)
			}
			sub, _ := models.GetSubscription(ctx, db, u.ID, h.tpl.ID)
			if sub.Credits != 1 {
				t.Fatalf("%s: credit spent on a skipped delivery (%d left)", u.OpenID, sub.Credits)
			}
		}
		h.checkCounters()
	})
}

func TestQuietWindow(t *testing.T) {
	a := &models.App{Timezone: "America/Los_Angeles", QuietStart: "22:00", QuietEnd: "08:00"}
	la := mustLoc(t, "America/Los_Angeles")
	cases := []struct {
		at  time.Time
		in  bool
		end time.Time
	}{
		{time.Date(2026, 7, 1, 21, 59, 0, 0, la), false, time.Time{}},
		{time.Date(2026, 7, 1, 22, 0, 0, 0, la), true, time.Date(2026, 7, 2, 8, 0, 0, 0, la)},
		{time.Date(2026, 7, 2, 7, 59, 0, 0, la), true, time.Date(2026, 7, 2, 8, 0, 0, 0, la)},
		{time.Date(2026, 7, 2, 8, 0, 0, 0, la), false, time.Time{}},
	}
	for _, c := range cases {
		in, end := models.QuietWindow(a, c.at)
		if in != c.in || !end.Equal(c.end) {
			t.Errorf("%v: %v %v, want %v %v", c.at, in, end, c.in, c.end)
		}
	}
	day := &models.App{Timezone: "Asia/Shanghai", QuietStart: "12:00", QuietEnd: "14:00"}
	if in, _ := models.QuietWindow(day, time.Date(2026, 7, 1, 5, 0, 0, 0, time.UTC)); !in { // 13:00 Shanghai
		t.Error("a daytime window missed")
	}
	if in, _ := models.QuietWindow(&models.App{Timezone: "Asia/Shanghai"}, time.Now()); in {
		t.Error("no window, yet quiet")
	}
}

// A run whose answers are mostly one WeChat error (43101: WeChat holds no
// credit) pauses by itself once the share passes the campaign's threshold;
// the reason names the code, and nothing more is sent until a resume.
func TestCampaignAutoPauseOnErrorShare(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		h := newHarness(t, db, dsn)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h.seedUsers("ok", 20, h.tpl, 1, 1, nil)
		h.seedUsers("gone", 280, h.tpl, 1, 0, nil)                        // minipush thinks they have a credit; WeChat says 43101
		db.Exec("UPDATE apps SET rate_limit = 25 WHERE id = ?", h.app.ID) // 300 take 12 s
		e := h.engine(ctx, nil)
		s := &Campaigns{DB: db, Log: h.quiet, Notify: e.Notify}
		c := h.campaign("auto", models.ScheduleNow, "", "Asia/Shanghai", models.MisfireSkip, nil)
		db.Exec("UPDATE campaigns SET auto_pause_pct = 50 WHERE id = ?", c.ID)
		now := time.Now().UTC()
		run, err := models.StartCampaignRun(ctx, db, models.StartRun{CampaignID: c.ID, ScheduledFor: now, Now: now, From: []string{models.CampaignDraft}})
		if err != nil {
			t.Fatal(err)
		}
		h.waitFor("the automatic pause", func() bool {
			if err := s.Tick(ctx); err != nil {
				t.Logf("tick (the next one goes on): %v", err) // SQLite may answer busy under load
			}
			r, _ := models.GetRun(ctx, db, run.ID)
			return r.Status == models.RunPaused
		})
		r, _ := models.GetRun(ctx, db, run.ID)
		if code, ok := models.AutoPauseCode(r.Reason); !ok || code != 43101 {
			t.Fatalf("reason %q", r.Reason)
		}
		c, _ = models.GetCampaign(ctx, db, c.ID)
		if c.Status != models.CampaignPaused || c.StatusReason != r.Reason {
			t.Fatalf("campaign %s %q", c.Status, c.StatusReason)
		}
		h.waitFor("in-flight sends to end", func() bool {
			r, _ := models.GetRun(ctx, db, run.ID)
			return r.Sending == 0
		})
		r, _ = models.GetRun(ctx, db, run.ID)
		if r.Paused == 0 || r.Failed < models.AutoPauseMinAnswers/2 {
			t.Fatalf("paused run %+v", r)
		}
		// The reason says how many of the last answers carried the code.
		if ap, ok := models.ParseAutoPause(r.Reason); !ok || ap.Window < models.AutoPauseMinAnswers || ap.Hits*100 < 50*ap.Window || ap.Pct != 50 {
			t.Fatalf("reason %q read as %+v", r.Reason, ap)
		}
		// Each tick sampled the run's counters for its page's rate and chart.
		var samples int64
		db.Model(&models.RunSample{}).Where("run_id = ?", run.ID).Count(&samples)
		if samples == 0 {
			t.Fatal("the ticks took no sample of the run")
		}
		var audits int64
		db.Model(&models.AuditEntry{}).Where("action = 'campaign.auto_pause'").Count(&audits)
		if audits != 1 {
			t.Fatalf("auto pause audited %d times", audits)
		}
		h.checkCounters()
	})
}

// levelCounter counts the records logged at each level.
type levelCounter struct {
	mu   sync.Mutex
	seen map[slog.Level][]string
}

func (l *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *levelCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
	l.seen[r.Level] = append(l.seen[r.Level], msg)
	return nil
}
func (l *levelCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *levelCounter) WithGroup(string) slog.Handler      { return l }

// A tick with nothing to do ends while its first sample of the runs may
// still be reading: the sample finishes instead of being cut, so the
// database log shows no "context canceled" error every tick (a fresh
// serve logged one about every 15 s).
func TestCampaignTickLetsItsSampleFinish(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		logs := &levelCounter{seen: map[slog.Level][]string{}}
		db = db.Session(&gorm.Session{Logger: logger.NewSlogLogger(slog.New(logs), logger.Config{LogLevel: logger.Warn})})
		var slowed atomic.Int32
		// The sampler's read (runs going on or finished lately) waits, as on
		// a busy server, until after the rest of the tick is done.
		err := db.Callback().Query().Before("gorm:query").Register("test:slow_sample", func(tx *gorm.DB) {
			if w, ok := tx.Statement.Clauses["WHERE"]; ok && strings.Contains(fmt.Sprint(w.Expression), "finished_at >=") {
				slowed.Add(1)
				time.Sleep(300 * time.Millisecond)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		s := &Campaigns{DB: db, Log: slog.New(logs)}
		start := time.Now()
		if err := s.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		if slowed.Load() == 0 {
			t.Fatal("the sampler's query was not seen: the test no longer slows it")
		}
		if time.Since(start) < 300*time.Millisecond {
			t.Fatal("Tick returned before its sample finished")
		}
		if errs := logs.seen[slog.LevelError]; len(errs) > 0 {
			t.Fatalf("errors logged by a tick with nothing to do: %q", errs)
		}
	})
}
