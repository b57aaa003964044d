package models_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// Single sends queued concurrently are counted exactly (spread over shards
// on MariaDB), and the engine's moves out of queued (shard 0) keep the
// sums equal to the rows.
func TestQueuedCounterShardsStayExact(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, one, _, u := fixture(t, db)
		var wg sync.WaitGroup
		errs := make(chan error, 60)
		for i := 0; i < 60; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, _, err := models.EnqueueDelivery(ctx, db, models.NewDelivery{AppID: app.ID, UserID: u.ID, TemplateID: one.ID,
					OpenID: u.OpenID, IdempotencyKey: fmt.Sprint("k", i%50)}) // 10 retries of a used key: no row, no count
				errs <- err
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		check := func(queued, sent int64) {
			t.Helper()
			stats, err := models.AppStats(ctx, db, app.ID)
			if err != nil {
				t.Fatal(err)
			}
			var rows int64
			db.Model(&models.Delivery{}).Where("app_id = ?", app.ID).Count(&rows)
			if stats["queued"][""] != queued || stats["sent"][""] != sent || rows != queued+sent {
				t.Fatalf("counters queued %d sent %d, rows %d; want %d and %d (%v)", stats["queued"][""], stats["sent"][""], rows, queued, sent, stats)
			}
		}
		check(50, 0)
		if models.IsMySQL(db) {
			var shards int64
			db.Raw("SELECT COUNT(*) FROM delivery_stats WHERE app_id = ? AND status = 'queued'", app.ID).Scan(&shards)
			if shards < 2 {
				t.Fatalf("queued counted on %d row(s), want it spread over shards", shards)
			}
		}
		// The engine moves 30 of them on (shard 0 goes negative, the sum holds).
		st := models.StatDeltas{}
		for i := 0; i < 30; i++ {
			st.Move(app.ID, nil, models.DeliveryQueued, models.DeliverySent, "")
		}
		if err := models.ApplyStats(ctx, db, st); err != nil {
			t.Fatal(err)
		}
		db.Exec("UPDATE deliveries SET status = 'sent' WHERE id IN (SELECT id FROM (SELECT id FROM deliveries WHERE app_id = ? ORDER BY id LIMIT 30) x)", app.ID)
		check(20, 30)
	})
}
