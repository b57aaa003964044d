package models_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// TestRetentionDeletesOldFinalRowsOnly fills a run's deliveries in every
// status, half of them created 40 days ago, with sent events and
// subscription events old and new, and prunes at 30 days in batches of 3:
// exactly the old delivered/failed/skipped deliveries, the old settled sent
// events and the old subscription events go; the run's counters and
// delivery_stats are what they were.
func TestRetentionDeletesOldFinalRowsOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, tpl, users := campaignFixture(t, db, 16)
		c := newCampaign(t, db, app, tpl, models.Audience{Kind: models.AudienceSubscribed})
		now := time.Now().UTC()
		run, err := models.StartCampaignRun(ctx, db, models.StartRun{CampaignID: c.ID, ScheduledFor: now, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := models.ExpandRun(ctx, db, run.ID, 100); err != nil {
			t.Fatal(err)
		}
		var ds []models.Delivery
		db.Where("run_id = ?", run.ID).Order("id").Find(&ds)
		if len(ds) != len(users) {
			t.Fatalf("%d deliveries for %d users", len(ds), len(users))
		}
		// Every status twice: once old, once new (ids grow with time, as they do).
		statuses := []string{models.DeliveryDelivered, models.DeliveryFailed, models.DeliverySkipped, models.DeliveryUnknown,
			models.DeliverySent, models.DeliverySending, models.DeliveryPaused, models.DeliveryQueued}
		old := now.AddDate(0, 0, -40)
		st := models.StatDeltas{}
		want := map[int64]bool{} // ids that must go
		for i, d := range ds {
			s := statuses[i%len(statuses)]
			created := now
			if i < len(statuses) {
				created = old
			}
			mustExec(t, db, "UPDATE deliveries SET status = ?, created_at = ? WHERE id = ?", s, created, d.ID)
			st.Move(app.ID, &run.ID, models.DeliveryQueued, s, "")
			if created.Equal(old) && (s == models.DeliveryDelivered || s == models.DeliveryFailed || s == models.DeliverySkipped) {
				want[d.ID] = true
			}
		}
		if err := models.ApplyStats(ctx, db, st); err != nil {
			t.Fatal(err)
		}
		// Sent events: old settled, old given up, old pending, new settled.
		for i, se := range []struct {
			delivery *int64
			at       time.Time
		}{{&ds[0].ID, old}, {new(int64), old}, {nil, old}, {&ds[9].ID, now}} {
			mustExec(t, db, `INSERT INTO sent_events (app_id, msgid, openid, wx_template_id, event_time, delivery_id, created_at)
				VALUES (?,?,?,?,?,?,?)`, app.ID, 1000+i, users[0].OpenID, tpl.TemplateID, se.at, se.delivery, se.at)
		}
		for i, at := range []time.Time{old, old, now} {
			mustExec(t, db, `INSERT INTO subscription_events (app_id, user_id, template_id, wx_template_id, kind, delta, source, created_at)
				VALUES (?,?,?,?,?,?,?,?)`, app.ID, users[i].ID, tpl.ID, tpl.TemplateID, models.SubEventAccept, 1, models.SourceWeChat, at)
		}
		runBefore, _ := models.GetRun(ctx, db, run.ID)
		statsBefore, _ := models.AppStats(ctx, db, app.ID)

		res, err := models.PruneOld(ctx, db, models.RetentionOptions{Cutoff: now.AddDate(0, 0, -30), Batch: 3})
		if err != nil {
			t.Fatal(err)
		}
		if res.Deliveries != int64(len(want)) || res.SentEvents != 2 || res.SubscriptionEvents != 2 || res.Batches < 3 {
			t.Fatalf("pruned %+v, want %d deliveries, 2 sent events, 2 subscription events in several batches", res, len(want))
		}
		var left []int64
		db.Model(&models.Delivery{}).Where("run_id = ?", run.ID).Order("id").Pluck("id", &left)
		if len(left) != len(ds)-len(want) {
			t.Fatalf("%d deliveries left of %d, %d should have gone", len(left), len(ds), len(want))
		}
		for _, id := range left {
			if want[id] {
				t.Fatalf("delivery %d (old, final) is still there", id)
			}
		}
		var pending int64
		db.Raw("SELECT COUNT(*) FROM sent_events WHERE delivery_id IS NULL").Scan(&pending)
		if pending != 1 {
			t.Fatalf("the pending sent event was deleted")
		}
		runAfter, _ := models.GetRun(ctx, db, run.ID)
		counters := func(r *models.CampaignRun) [9]int64 {
			return [9]int64{r.Audience, r.Queued, r.Sending, r.Sent, r.Delivered, r.Failed, r.Skipped, r.Unknown, r.Paused}
		}
		if counters(runBefore) != counters(runAfter) {
			t.Fatalf("run counters changed:\n%+v\n%+v", runBefore, runAfter)
		}
		statsAfter, _ := models.AppStats(ctx, db, app.ID)
		for s, m := range statsBefore {
			for d, n := range m {
				if statsAfter[s][d] != n {
					t.Fatalf("delivery_stats %s/%s: %d, was %d", s, d, statsAfter[s][d], n)
				}
			}
		}
		// Nothing older is left: a second pass deletes nothing.
		if res, err := models.PruneOld(ctx, db, models.RetentionOptions{Cutoff: now.AddDate(0, 0, -30)}); err != nil || res.Total() != 0 {
			t.Fatalf("second pass: %+v, %v", res, err)
		}
	})
}
