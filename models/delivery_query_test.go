package models_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// Filtered lists page by keyset and honour time ranges (turned into id
// ranges) exactly, on both databases.
func TestListDeliveriesFiltersAndTimeRange(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, one, _, u := fixture(t, db)
		base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		var ids []int64
		for i := 0; i < 40; i++ {
			d, _, err := models.EnqueueDelivery(ctx, db, models.NewDelivery{AppID: app.ID, UserID: u.ID, TemplateID: one.ID, OpenID: u.OpenID})
			if err != nil {
				t.Fatal(err)
			}
			status := models.DeliveryDelivered
			if i%4 == 0 {
				status = models.DeliveryFailed
			}
			db.Model(&models.Delivery{}).Where("id = ?", d.ID).Updates(map[string]any{"queued_at": base.Add(time.Duration(i) * time.Hour), "status": status})
			ids = append(ids, d.ID)
		}
		// Hours 10 to 19 (inclusive), failed: hours 12 and 16.
		f := models.DeliveryFilter{AppID: app.ID, Status: models.DeliveryFailed, From: base.Add(10 * time.Hour), To: base.Add(20 * time.Hour), Limit: 50}
		got, err := models.ListDeliveries(ctx, db, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != ids[16] || got[1].ID != ids[12] {
			t.Fatalf("failed in [10h, 20h): %v", idsOf(got))
		}
		// Keyset pages of 7 over all 40, newest first, none twice.
		seen := map[int64]bool{}
		page := models.DeliveryFilter{AppID: app.ID, Limit: 7}
		for n := 0; ; n++ {
			rows, err := models.ListDeliveries(ctx, db, page)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range rows {
				if seen[d.ID] || (i > 0 && d.ID >= rows[i-1].ID) {
					t.Fatalf("page %d: %v", n, idsOf(rows))
				}
				seen[d.ID] = true
			}
			if len(rows) < 7 {
				break
			}
			page.Before = rows[len(rows)-1].ID
		}
		if len(seen) != 40 {
			t.Fatalf("pages saw %d deliveries", len(seen))
		}
		// Bounds outside the data.
		for _, tc := range []struct {
			from, to time.Time
			want     int
		}{{base.Add(-time.Hour), time.Time{}, 40}, {base.Add(100 * time.Hour), time.Time{}, 0}, {time.Time{}, base, 0}, {time.Time{}, base.Add(time.Minute), 1}} {
			rows, err := models.ListDeliveries(ctx, db, models.DeliveryFilter{AppID: app.ID, From: tc.from, To: tc.to, Limit: 100})
			if err != nil || len(rows) != tc.want {
				t.Fatalf("from %v to %v: %d rows (%v), want %d", tc.from, tc.to, len(rows), err, tc.want)
			}
		}
	})
}

func idsOf(ds []models.Delivery) []int64 {
	out := make([]int64, len(ds))
	for i := range ds {
		out[i] = ds[i].ID
	}
	return out
}

// DeliveryIDAt finds the first id queued at or after a time, across gaps in the ids.
func TestDeliveryIDAt(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, one, _, u := fixture(t, db)
		base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		var ids []int64
		for i := 0; i < 30; i++ {
			d, _, err := models.EnqueueDelivery(ctx, db, models.NewDelivery{AppID: app.ID, UserID: u.ID, TemplateID: one.ID, OpenID: u.OpenID})
			if err != nil {
				t.Fatal(err)
			}
			db.Model(&models.Delivery{}).Where("id = ?", d.ID).Update("queued_at", base.Add(time.Duration(i)*time.Minute))
			ids = append(ids, d.ID)
		}
		// Gaps: rows 5-9 and 20-24 deleted.
		db.Where("id IN ?", append(append([]int64{}, ids[5:10]...), ids[20:25]...)).Delete(&models.Delivery{})
		for _, tc := range []struct {
			at   time.Duration
			want int64
		}{
			{-time.Hour, ids[0]}, {0, ids[0]}, {30 * time.Second, ids[1]}, {5 * time.Minute, ids[10]}, {7 * time.Minute, ids[10]},
			{19*time.Minute + time.Second, ids[25]}, {29 * time.Minute, ids[29]}, {time.Hour, ids[29] + 1},
		} {
			got, err := models.DeliveryIDAt(db, base.Add(tc.at))
			if err != nil || got != tc.want {
				t.Errorf("at +%v: %d (%v), want %d", tc.at, got, err, tc.want)
			}
		}
	})
}
