package models_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// The automatic pause judges the run's last N answers, not all of them: a
// burst of 43101 early in the run that the run has left behind does not
// pause it (over the whole run it would: 150 of 260 answers), a burst in
// the latest answers does, and the reason says how many of how many.
func TestAutoPauseSlidingWindow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, tpl, _ := campaignFixture(t, db, 260)
		c := newCampaign(t, db, app, tpl, models.Audience{Kind: models.AudienceSubscribed})
		db.Exec("UPDATE campaigns SET auto_pause_pct = 50, auto_pause_window = 100 WHERE id = ?", c.ID)
		now := time.Now().UTC()
		run, err := models.StartCampaignRun(ctx, db, models.StartRun{CampaignID: c.ID, ScheduledFor: now, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := models.ExpandRun(ctx, db, run.ID, 500); err != nil {
			t.Fatal(err)
		}
		var ids []int64
		db.Model(&models.Delivery{}).Where("run_id = ?", run.ID).Order("id").Pluck("id", &ids)
		if len(ids) != 260 {
			t.Fatalf("%d deliveries", len(ids))
		}
		t0 := now.Add(-time.Hour)
		answer := func(from, to int, failed bool, offset time.Duration) {
			for i := from; i < to; i++ {
				at := t0.Add(offset + time.Duration(i)*time.Second)
				if failed {
					db.Exec("UPDATE deliveries SET status = 'failed', errcode = 43101, settled_at = ? WHERE id = ?", at, ids[i])
				} else {
					db.Exec("UPDATE deliveries SET status = 'sent', sent_at = ? WHERE id = ?", at, ids[i])
				}
			}
		}
		counters := func() {
			db.Exec(`UPDATE campaign_runs SET status = 'sending', queued = 0,
				sent = (SELECT COUNT(*) FROM deliveries WHERE run_id = ? AND status = 'sent'),
				failed = (SELECT COUNT(*) FROM deliveries WHERE run_id = ? AND status = 'failed') WHERE id = ?`, run.ID, run.ID, run.ID)
		}
		answer(0, 150, true, 0)
		answer(150, 260, false, 200*time.Second)
		counters()
		paused, err := models.AutoPauseRuns(ctx, db, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(paused) != 0 {
			t.Fatalf("paused over failures outside the window: %+v", paused[0].Reason)
		}
		// The latest 60 answers fail: 60 of the last 100.
		answer(200, 260, true, 1000*time.Second)
		counters()
		paused, err = models.AutoPauseRuns(ctx, db, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(paused) != 1 {
			t.Fatal("not paused with 60 of the last 100 answers failing")
		}
		want := models.AutoPauseReason{Code: 43101, Hits: 60, Window: 100, Pct: 50}
		if paused[0].Reason != want.String() || want.String() != "auto_pause_43101:60/100:50" {
			t.Fatalf("reason %q", paused[0].Reason)
		}
		got, ok := models.ParseAutoPause(paused[0].Reason)
		if !ok || got != want {
			t.Fatalf("parsed %+v", got)
		}
		r, _ := models.GetRun(ctx, db, run.ID)
		cp, _ := models.GetCampaign(ctx, db, c.ID)
		if r.Status != models.RunPaused || cp.Status != models.CampaignPaused || cp.StatusReason != want.String() {
			t.Fatalf("run %s, campaign %s %q", r.Status, cp.Status, cp.StatusReason)
		}
	})
}

func TestJudgeWindow(t *testing.T) {
	mk := func(fail, ok int, code int) []models.Answer {
		var out []models.Answer
		for i := 0; i < fail; i++ {
			out = append(out, models.Answer{ErrCode: code})
		}
		for i := 0; i < ok; i++ {
			out = append(out, models.Answer{Accepted: true})
		}
		return out
	}
	cases := []struct {
		name  string
		a     []models.Answer
		pct   int
		pause bool
	}{
		{"too few answers", mk(40, 0, 43101), 10, false},
		{"at the threshold", mk(50, 50, 43101), 50, true},
		{"under it", mk(49, 51, 43101), 50, false},
		{"failures without a code", mk(100, 0, 0), 10, false},
		{"off", mk(100, 0, 47003), 0, false},
	}
	for _, tc := range cases {
		if _, got := models.JudgeWindow(tc.a, tc.pct); got != tc.pause {
			t.Errorf("%s: paused %v", tc.name, got)
		}
	}
	if _, ok := models.ParseAutoPause("auto_pause_43101"); !ok {
		t.Error("the older reason form is not read")
	}
}
