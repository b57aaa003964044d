package models_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// The engine's statements that change deliveries by id read them by the
// primary key on MariaDB, also when its statistics were taken while almost
// nothing was in sending (before a campaign started): it would otherwise
// read the status index, every row in sending of every app, for each
// chunk of 32 marked called and each batch's answers.
func TestUpdatesByIDReadThePrimaryKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		if !models.IsMySQL(db) {
			t.Skip("a MariaDB plan")
		}
		ctx := context.Background()
		app, tpl, _, _ := fixture(t, db)
		const total, sending = 3000, 500
		now := time.Now().UTC()
		queueForNewUsers(t, db, app, tpl, total, "plan")
		db.Exec("UPDATE deliveries SET status = ?", models.DeliveryDelivered)
		freezeStatistics(t, db) // taken with nothing in sending
		var ids []int64
		db.Model(&models.Delivery{}).Order("id").Limit(sending).Pluck("id", &ids)
		db.Exec("UPDATE deliveries SET status = ?, lease_owner = 'me', lease_until = ? WHERE id IN ?", models.DeliverySending, now.Add(time.Minute), ids)

		capture := &sqlCapture{Interface: logger.Discard}
		sess := db.Session(&gorm.Session{Logger: capture})
		chunk := ids[:32]
		if _, err := models.MarkCalled(ctx, sess, "me", ids[32:], chunk, now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		var ds []models.Delivery
		db.Where("id IN ?", chunk).Order("id").Find(&ds)
		outs := make([]models.Outcome, len(ds))
		for i := range ds {
			outs[i] = models.Outcome{D: &ds[i], Status: models.DeliverySent, MsgID: 7_000_000 + ds[i].ID}
		}
		if err := models.ApplyOutcomes(ctx, sess, "me", now, time.Minute, outs); err != nil {
			t.Fatal(err)
		}
		if len(capture.updates) < 3 {
			t.Fatalf("captured %d UPDATEs of deliveries, want the renewal, the call and the answers", len(capture.updates))
		}
		for _, q := range capture.updates {
			var plan []map[string]any
			if err := db.Raw("EXPLAIN " + q).Scan(&plan).Error; err != nil {
				t.Fatal(err)
			}
			if len(plan) != 1 || fmt.Sprint(plan[0]["key"]) != "PRIMARY" {
				t.Errorf("planned as %v, not a read of the primary key: %.150s…", plan, q)
			}
		}
	})
}
