package models_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// A claim takes messages sent one at a time (the API's, test sends) before
// a campaign's, each lane in due order: an API message queued behind a
// campaign goes out with the next claim, not after the whole campaign.
func TestClaimTakesSingleMessagesBeforeCampaigns(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, tpl := newAccount(t, db, "wx0000000000lanes1")
		now := time.Now().UTC().Truncate(time.Second)
		mustExec(t, db, "INSERT INTO campaigns (app_id,template_id,name,data,audience,created_at,updated_at) VALUES (?,?,'c','{}','{}',?,?)", app.ID, tpl.ID, now, now)
		var campaignID int64
		db.Raw("SELECT MAX(id) FROM campaigns").Scan(&campaignID)
		mustExec(t, db, "INSERT INTO campaign_runs (campaign_id,app_id,scheduled_for,created_at,updated_at) VALUES (?,?,?,?,?)", campaignID, app.ID, now, now, now)
		var runID int64
		db.Raw("SELECT MAX(id) FROM campaign_runs").Scan(&runID)

		queue := func(openid string, run *int64, dueAgo time.Duration) int64 {
			t.Helper()
			u, err := models.EnsureUser(ctx, db, app.ID, openid)
			if err != nil {
				t.Fatal(err)
			}
			d, _, err := models.EnqueueDelivery(ctx, db, models.NewDelivery{AppID: app.ID, UserID: u.ID, TemplateID: tpl.ID, RunID: run,
				Data: map[string]string{"thing1": "x"}})
			if err != nil {
				t.Fatal(err)
			}
			mustExec(t, db, "UPDATE deliveries SET next_attempt_at = ? WHERE id = ?", now.Add(-dueAgo), d.ID)
			return d.ID
		}
		var campaign []int64
		for i := range 5 {
			campaign = append(campaign, queue(fmt.Sprintf("o_c%d", i), &runID, time.Duration(10-i)*time.Minute))
		}
		api := queue("o_api", nil, time.Minute)
		test := queue("o_test", nil, 30*time.Second)
		later := queue("o_later", nil, -time.Hour) // not due yet

		claim := func(limit int) []int64 {
			t.Helper()
			var seen []int64
			_, err := models.ClaimDeliveries(ctx, db, models.ClaimRequest{AppID: app.ID, Owner: "lanes", Limit: limit, Now: now, LeaseFor: time.Minute,
				Decide: func(rows []models.Delivery, _ map[int64]string) []models.Decision {
					seen = seen[:0]
					out := make([]models.Decision, len(rows))
					for i := range rows {
						seen = append(seen, rows[i].ID)
						out[i] = models.Decision{Action: models.ActSkip, Reason: models.ReasonBadData}
					}
					return out
				}})
			if err != nil {
				t.Fatal(err)
			}
			return seen
		}
		if got, want := claim(3), []int64{api, test, campaign[0]}; !slices.Equal(got, want) {
			t.Fatalf("first claim took %v, want the two single messages, then the campaign's oldest: %v", got, want)
		}
		if got, want := claim(10), campaign[1:]; !slices.Equal(got, want) {
			t.Fatalf("second claim took %v, want the rest of the campaign in due order %v (not %d, not due)", got, want, later)
		}
	})
}
