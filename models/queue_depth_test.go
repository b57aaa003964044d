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

// TestQueueDepthFollowsTheQueue: the queue-depth gauge, read from the
// status counters, equals a count of the queued rows after batch and
// single enqueues (sharded counters on MySQL) and a claim.
func TestQueueDepthFollowsTheQueue(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		var apps []*models.App
		for i, n := range []int{40, 7} {
			app, tpl := newAccount(t, db, fmt.Sprintf("wx00000000000qd%03d", i))
			queueForNewUsers(t, db, app, tpl, n, fmt.Sprintf("qd%d-", i))
			for j := range 3 { // one by one, as the API queues
				u, err := models.EnsureUser(ctx, db, app.ID, fmt.Sprintf("qd%d-single-%d", i, j))
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := models.EnqueueDelivery(ctx, db, models.NewDelivery{AppID: app.ID, UserID: u.ID, TemplateID: tpl.ID,
					Data: map[string]string{"thing1": "x"}}); err != nil {
					t.Fatal(err)
				}
			}
			apps = append(apps, app)
		}
		check := func(when string) {
			t.Helper()
			got, err := models.QueueDepth(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			for _, app := range apps {
				var want int64
				if err := db.Model(&models.Delivery{}).Where("app_id = ? AND status = ?", app.ID, models.DeliveryQueued).Count(&want).Error; err != nil {
					t.Fatal(err)
				}
				if got[app.ID] != want {
					t.Errorf("%s: queue depth of app %d is %d, %d rows are queued", when, app.ID, got[app.ID], want)
				}
			}
		}
		check("queued")
		// No user holds a credit: every claimed row ends skipped.
		res, err := models.ClaimDeliveries(ctx, db, models.ClaimRequest{AppID: apps[0].ID, Owner: "qd", Limit: 25, Now: time.Now().UTC(),
			LeaseFor: time.Minute, Decide: func(rows []models.Delivery, _ map[int64]string) []models.Decision {
				return make([]models.Decision, len(rows)) // ActSend: no credit, so skipped
			}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Skipped[models.ReasonNoSubscription] != 25 {
			t.Fatalf("claim skipped %v, want 25 without subscription", res.Skipped)
		}
		check("after a claim")
	})
}
