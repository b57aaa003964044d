package models_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// fixture makes an app, a one-time and a long-term template and a user.
func fixture(t *testing.T, db *gorm.DB) (*models.App, *models.Template, *models.Template, *models.User) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	app := &models.App{AppID: "wx00000000000000b2", Name: "shop", CreatedAt: now, UpdatedAt: now, RateLimit: 20, Timezone: "Asia/Shanghai"}
	if err := db.Create(app).Error; err != nil {
		t.Fatal(err)
	}
	one := &models.Template{AppID: app.ID, TemplateID: "T1", Title: "t1", Content: "x:{{thing1.DATA}}", Kind: models.TemplateOneTime}
	long := &models.Template{AppID: app.ID, TemplateID: "T2", Title: "t2", Content: "x:{{thing1.DATA}}", Kind: models.TemplateLongTerm}
	for _, tp := range []*models.Template{one, long} {
		tp.SetKeywords([]models.TemplateKeyword{{Key: "thing1", Type: "thing"}})
		if err := models.CreateTemplate(ctx, db, tp); err != nil {
			t.Fatal(err)
		}
	}
	u, err := models.EnsureUser(ctx, db, app.ID, "openid-1")
	if err != nil {
		t.Fatal(err)
	}
	return app, one, long, u
}

func TestCreditsLedger(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		ctx := context.Background()
		app, one, long, u := fixture(t, db)
		c := models.CreditChange{AppID: app.ID, UserID: u.ID, TemplateID: one.ID, Source: models.SourceWeChat}
		for _, key := range []string{"a", "b", "a", "b", "c"} {
			c.DedupKey = key
			if _, err := models.GrantCredit(ctx, db, c); err != nil {
				t.Fatal(err)
			}
		}
		s, _ := models.GetSubscription(ctx, db, u.ID, one.ID)
		if s.Credits != 3 {
			t.Fatalf("credits %d after 3 distinct accepts and 2 repeats, want 3", s.Credits)
		}
		spend := c
		for i, want := range []bool{true, true, true, false} {
			spend.DedupKey = "spend" + string(rune('0'+i))
			ok, err := models.SpendCredit(ctx, db, spend)
			if err != nil || ok != want {
				t.Fatalf("spend %d: %v %v, want %v", i, ok, err, want)
			}
		}
		refund := c
		refund.DedupKey = "refund:1"
		for range 2 {
			if _, err := models.RefundCredit(ctx, db, refund); err != nil {
				t.Fatal(err)
			}
		}
		if s, _ = models.GetSubscription(ctx, db, u.ID, one.ID); s.Credits != 1 {
			t.Fatalf("credits %d after one refund given twice, want 1", s.Credits)
		}
		// A popup reject keeps one-time credits; a settings reject zeroes them.
		c.DedupKey = "r1"
		if _, err := models.RecordReject(ctx, db, c, models.SubEventReject); err != nil {
			t.Fatal(err)
		}
		if s, _ = models.GetSubscription(ctx, db, u.ID, one.ID); s.Credits != 1 || s.Status != models.SubReject {
			t.Fatalf("after popup reject: %+v", s)
		}
		c.DedupKey = "r2"
		if _, err := models.RecordReject(ctx, db, c, models.SubEventChange); err != nil {
			t.Fatal(err)
		}
		if s, _ = models.GetSubscription(ctx, db, u.ID, one.ID); s.Credits != 0 {
			t.Fatalf("after settings reject: %+v", s)
		}
		z := c
		z.DedupKey = "zero:9"
		if _, err := models.ZeroCredits(ctx, db, z); err != nil {
			t.Fatal(err)
		}
		tot, err := models.SumCreditEvents(ctx, db, one.ID)
		if err != nil || tot.Spent != 3 || tot.Refunded != 1 || tot.Zeroed != 1 {
			t.Fatalf("totals %+v %v", tot, err)
		}
		// Long-term: accept turns it on, spends nothing.
		lc := models.CreditChange{AppID: app.ID, UserID: u.ID, TemplateID: long.ID, LongTerm: true, Source: models.SourceAPI, DedupKey: "l1"}
		if _, err := models.GrantCredit(ctx, db, lc); err != nil {
			t.Fatal(err)
		}
		ls, _ := models.GetSubscription(ctx, db, u.ID, long.ID)
		if !ls.CanReceive(true) || ls.Credits != 0 {
			t.Fatalf("long-term after accept: %+v", ls)
		}
		if n, _ := models.ReachableCount(ctx, db, long.ID, true); n != 1 {
			t.Fatalf("reachable long-term %d", n)
		}
		evs, err := models.ListSubscriptionEvents(ctx, db, u.ID, 0, 100)
		if err != nil || len(evs) != 11 {
			t.Fatalf("%d ledger lines (%v), want 11", len(evs), err)
		}
	})
}
