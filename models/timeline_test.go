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

// LoadUserStory gives the same last accept and reject per template as
// LastAnswers, whether it takes them from the events it read (all of them)
// or asks the database (more events than a page), and the same timeline
// as UserTimeline.
func TestLoadUserStoryMatchesQueries(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, one, long, u := fixture(t, db)
		base := time.Now().UTC().Add(-time.Hour)
		for i, step := range []struct {
			tpl    *models.Template
			reject string
		}{{one, ""}, {one, models.SubEventReject}, {long, ""}, {one, ""}, {long, models.SubEventChange}, {one, ""}, {long, models.SubEventBan}} {
			c := models.CreditChange{AppID: app.ID, UserID: u.ID, TemplateID: step.tpl.ID, WxTemplateID: step.tpl.TemplateID,
				LongTerm: step.tpl.LongTerm(), Source: models.SourceWeChat, DedupKey: fmt.Sprint("ev", i), Now: base.Add(time.Duration(i) * time.Minute)}
			var err error
			if step.reject == "" {
				_, err = models.GrantCredit(ctx, db, c)
			} else {
				_, err = models.RecordReject(ctx, db, c, step.reject)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := models.EnqueueDelivery(ctx, db, models.NewDelivery{AppID: app.ID, UserID: u.ID, TemplateID: one.ID, OpenID: u.OpenID}); err != nil {
				t.Fatal(err)
			}
		}
		accepts, rejects, err := models.LastAnswers(ctx, db, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(accepts) != 2 || len(rejects) != 2 {
			t.Fatalf("fixture: %d accepts, %d rejects", len(accepts), len(rejects))
		}
		for _, limit := range []int{50, 3} { // all events in one page; more events than a page
			st, err := models.LoadUserStory(ctx, db, u.ID, models.TimelineCursor{}, limit)
			if err != nil {
				t.Fatal(err)
			}
			for name, pair := range map[string][2]map[int64]models.SubscriptionEvent{"accepts": {accepts, st.Accepts}, "rejects": {rejects, st.Rejects}} {
				want, got := pair[0], pair[1]
				if len(got) != len(want) {
					t.Fatalf("limit %d: %s %v, want %v", limit, name, got, want)
				}
				for tpl, e := range want {
					if got[tpl].ID != e.ID {
						t.Fatalf("limit %d: %s of template %d: event %d, want %d", limit, name, tpl, got[tpl].ID, e.ID)
					}
				}
			}
			items, next, err := models.UserTimeline(ctx, db, u.ID, models.TimelineCursor{}, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != len(st.Timeline) || fmt.Sprint(next) != fmt.Sprint(st.Next) || len(st.Subs) != 2 {
				t.Fatalf("limit %d: timeline %d lines (next %v), story %d (next %v), %d subscriptions", limit, len(items), next, len(st.Timeline), st.Next, len(st.Subs))
			}
		}
	})
}
