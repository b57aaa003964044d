package models_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// The push and the client's report of one tap, arriving at the same time,
// grant one credit; a report outside the window grants another.
func TestPairedAcceptsUnderConcurrency(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, one, _, _ := fixture(t, db)
		const users = 20
		var wg sync.WaitGroup
		errs := make(chan error, 2*users)
		ids := make([]int64, users)
		for i := 0; i < users; i++ {
			u, err := models.EnsureUser(ctx, db, app.ID, fmt.Sprintf("o_%02d", i))
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = u.ID
			for _, src := range []string{models.SourceWeChat, models.SourceClient} {
				wg.Add(1)
				go func(uid int64, src string) {
					defer wg.Done()
					_, err := models.GrantAccept(ctx, db, models.CreditChange{AppID: app.ID, UserID: uid, TemplateID: one.ID,
						WxTemplateID: one.TemplateID, Source: src})
					errs <- err
				}(u.ID, src)
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for i, uid := range ids {
			s, err := models.GetSubscription(ctx, db, uid, one.ID)
			if err != nil {
				t.Fatal(err)
			}
			if s.Credits != 1 {
				t.Fatalf("user %d: %d credits from one tap reported twice at once", i, s.Credits)
			}
		}
		// Outside the window the second report counts again.
		c := models.CreditChange{AppID: app.ID, UserID: ids[0], TemplateID: one.ID, WxTemplateID: one.TemplateID, Source: models.SourceWeChat,
			Now: time.Now().Add(-2 * models.PairWindow)}
		if _, err := models.GrantAccept(ctx, db, c); err != nil {
			t.Fatal(err)
		}
		c.Source, c.Now = models.SourceClient, time.Time{}
		res, err := models.GrantAccept(ctx, db, c)
		if err != nil || res.Paired {
			t.Fatalf("a report %v after its twin was paired (%v)", 2*models.PairWindow, err)
		}
		if s, _ := models.GetSubscription(ctx, db, ids[0], one.ID); s.Credits != 3 {
			t.Fatalf("credits %d, want 3", s.Credits)
		}
	})
}
