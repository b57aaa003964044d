package models_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

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

// A time range is read as an id range widened at both ends; on MariaDB a
// page whose every condition is in the index read is found in the index
// alone (migration 13) and only its rows are read. Pages come out the same
// either way, newest first, for each index and for a filter the index does
// not hold (read row by row).
func TestTimeRangePagesFoundInIndex(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, one, long, u := fixture(t, db)
		base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		type row struct {
			id, tpl int64
			status  string
			errcode int
		}
		var rows []row
		for i := 0; i < 40; i++ {
			r := row{tpl: one.ID, status: models.DeliveryDelivered}
			if i%3 == 0 {
				r.tpl = long.ID
			}
			if i%4 == 0 {
				r.status, r.errcode = models.DeliveryFailed, 43101
			}
			d, _, err := models.EnqueueDelivery(ctx, db, models.NewDelivery{AppID: app.ID, UserID: u.ID, TemplateID: r.tpl, OpenID: u.OpenID})
			if err != nil {
				t.Fatal(err)
			}
			r.id = d.ID
			db.Model(&models.Delivery{}).Where("id = ?", d.ID).Updates(map[string]any{"queued_at": base.Add(time.Duration(i) * time.Hour),
				"status": r.status, "errcode": r.errcode})
			rows = append(rows, r)
		}
		code := 43101
		from, to := base.Add(7*time.Hour), base.Add(31*time.Hour) // hours 7 to 30
		for _, tc := range []struct {
			name      string
			f         models.DeliveryFilter
			match     func(row) bool
			indexOnly bool
		}{
			{"range alone", models.DeliveryFilter{}, func(row) bool { return true }, true},
			{"status", models.DeliveryFilter{Status: models.DeliveryFailed}, func(r row) bool { return r.status == models.DeliveryFailed }, true},
			{"template", models.DeliveryFilter{TemplateID: long.ID}, func(r row) bool { return r.tpl == long.ID }, true},
			{"errcode", models.DeliveryFilter{ErrCode: &code}, func(r row) bool { return r.errcode == code }, true},
			{"status and template (not in one index)", models.DeliveryFilter{Status: models.DeliveryDelivered, TemplateID: one.ID},
				func(r row) bool { return r.status == models.DeliveryDelivered && r.tpl == one.ID }, false},
			{"source (not in the index)", models.DeliveryFilter{Source: models.DeliverySourceTest}, func(row) bool { return true }, false},
		} {
			var want []int64
			for i := len(rows) - 1; i >= 0; i-- {
				if i >= 7 && i <= 30 && tc.match(rows[i]) {
					want = append(want, rows[i].id)
				}
			}
			capture := &sqlCapture{Interface: logger.Discard}
			sess := db.Session(&gorm.Session{Logger: capture})
			f := tc.f
			f.AppID, f.From, f.To, f.Limit = app.ID, from, to, 3
			got := listPages(t, sess, &f)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: pages gave %v, want %v", tc.name, got, want)
			}
			if !models.IsMySQL(db) {
				continue
			}
			if joined := capture.join != ""; joined != tc.indexOnly {
				t.Fatalf("%s: page found in the index first: %v, want %v (last: %s %s)", tc.name, joined, tc.indexOnly, capture.last, capture.join)
			}
			if !tc.indexOnly {
				continue
			}
			var plan []struct {
				Table *string
				Extra *string
			}
			if err := db.Raw("EXPLAIN " + capture.join).Scan(&plan).Error; err != nil {
				t.Fatalf("%s: EXPLAIN %s: %v", tc.name, capture.join, err)
			}
			covered := false
			for _, p := range plan {
				extra := ""
				if p.Extra != nil {
					extra = *p.Extra
				}
				if strings.Contains(extra, "filesort") {
					t.Fatalf("%s: sorts (%s): %s", tc.name, extra, capture.join)
				}
				covered = covered || (p.Table != nil && *p.Table == "deliveries" && strings.Contains(extra, "Using index"))
			}
			if !covered {
				t.Fatalf("%s: the page's ids are not read from the index alone: %+v for %s", tc.name, plan, capture.join)
			}
		}
	})
}

// listPages reads the list f selects page by page (keyset, f.Limit a
// page, 30 pages at most) and returns the ids in the order read. f.Before
// is left as the last page read it (0: there was one page).
func listPages(t *testing.T, db *gorm.DB, f *models.DeliveryFilter) []int64 {
	t.Helper()
	var got []int64
	for pages := 0; pages < 30; pages++ {
		page, err := models.ListDeliveries(context.Background(), db, *f)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, idsOf(page)...)
		if len(page) < f.Limit {
			break
		}
		f.Before = page[len(page)-1].ID
	}
	return got
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

// sqlCapture keeps the last SELECT on deliveries a GORM session ran, with
// its values written in, to EXPLAIN it.
// A page found in the index first (a join on the page's ids) is kept in join.
type sqlCapture struct {
	logger.Interface
	last, join string
	msgidIn    string   // the last lookup of deliveries by a list of msgids
	updates    []string // every UPDATE of deliveries
}

func (c *sqlCapture) Trace(_ context.Context, _ time.Time, fc func() (string, int64), _ error) {
	q, _ := fc()
	if strings.HasPrefix(q, "UPDATE deliveries") || strings.HasPrefix(q, "UPDATE `deliveries`") {
		c.updates = append(c.updates, q)
	}
	if strings.Contains(q, "msgid IN (") && (strings.Contains(q, "FROM deliveries") || strings.Contains(q, "FROM `deliveries`")) {
		c.msgidIn = q
	}
	switch {
	case strings.HasPrefix(q, "SELECT * FROM deliveries") || strings.HasPrefix(q, "SELECT * FROM `deliveries`"):
		c.last = q
	case strings.HasPrefix(q, "SELECT deliveries.* FROM `deliveries` JOIN (SELECT"):
		c.join = q
	}
}

// A list filtered by errcode, status or template reads the index that
// leads with it (migration 11), as a range from the keyset bound down on
// MariaDB, and pages exactly like the unfiltered list.
func TestListDeliveriesByFilterIndex(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app, one, long, u := fixture(t, db)
		type row struct {
			id       int64
			tpl      int64
			status   string
			errcode  int
			fromTest bool
		}
		var rows []row
		for i := 0; i < 60; i++ {
			tpl := one.ID
			if i%3 == 0 {
				tpl = long.ID
			}
			d, _, err := models.EnqueueDelivery(ctx, db, models.NewDelivery{AppID: app.ID, UserID: u.ID, TemplateID: tpl, OpenID: u.OpenID})
			if err != nil {
				t.Fatal(err)
			}
			r := row{id: d.ID, tpl: tpl, status: models.DeliveryDelivered}
			switch {
			case i%5 == 0:
				r.status, r.errcode = models.DeliveryFailed, 43101
			case i%7 == 0:
				r.status, r.errcode = models.DeliveryQueued, -1
			}
			db.Model(&models.Delivery{}).Where("id = ?", d.ID).Updates(map[string]any{"status": r.status, "errcode": r.errcode})
			rows = append(rows, r)
		}
		code, never, busy := 43101, 40037, -1
		cases := []struct {
			name  string
			f     models.DeliveryFilter
			match func(row) bool
			index string
		}{
			{"errcode", models.DeliveryFilter{ErrCode: &code}, func(r row) bool { return r.errcode == code }, "ix_deliveries_app_errcode"},
			{"errcode never seen", models.DeliveryFilter{ErrCode: &never}, func(r row) bool { return false }, "ix_deliveries_app_errcode"},
			{"errcode -1, queued", models.DeliveryFilter{ErrCode: &busy, Status: models.DeliveryQueued}, func(r row) bool { return r.errcode == -1 }, "ix_deliveries_app_errcode"},
			{"status", models.DeliveryFilter{Status: models.DeliveryDelivered}, func(r row) bool { return r.status == models.DeliveryDelivered }, "ix_deliveries_app_status"},
			{"status and template", models.DeliveryFilter{Status: models.DeliveryFailed, TemplateID: long.ID},
				func(r row) bool { return r.status == models.DeliveryFailed && r.tpl == long.ID }, "ix_deliveries_app_status"},
			{"template", models.DeliveryFilter{TemplateID: one.ID}, func(r row) bool { return r.tpl == one.ID }, "ix_deliveries_app_tpl"},
		}
		for _, tc := range cases {
			var want []int64
			for i := len(rows) - 1; i >= 0; i-- {
				if tc.match(rows[i]) {
					want = append(want, rows[i].id)
				}
			}
			capture := &sqlCapture{Interface: logger.Discard}
			sess := db.Session(&gorm.Session{Logger: capture})
			f := tc.f
			f.AppID, f.Limit = app.ID, 4
			got := listPages(t, sess, &f)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: pages gave %v, want %v", tc.name, got, want)
			}
			if !models.IsMySQL(db) {
				continue
			}
			var plan []struct {
				Key   *string
				Type  *string
				Extra *string
			}
			if err := db.Raw("EXPLAIN " + capture.last).Scan(&plan).Error; err != nil {
				t.Fatalf("%s: EXPLAIN %s: %v", tc.name, capture.last, err)
			}
			// The last page read had a keyset bound (id < Before) when the
			// list had more than one page: then only a range starts there.
			wantType := "range"
			if f.Before == 0 {
				wantType = "ref" // the first page: from the newest entry of (app, value)
			}
			if len(plan) == 1 && plan[0].Extra != nil && strings.Contains(*plan[0].Extra, "filesort") {
				t.Fatalf("%s: sorts the matching rows (%s) for %s", tc.name, *plan[0].Extra, capture.last)
			}
			if len(plan) != 1 || plan[0].Key == nil || *plan[0].Key != tc.index || plan[0].Type == nil || *plan[0].Type != wantType {
				k, ty := "", ""
				if len(plan) > 0 && plan[0].Key != nil && plan[0].Type != nil {
					k, ty = *plan[0].Key, *plan[0].Type
				}
				t.Fatalf("%s: plan key %q type %q for %s, want %s of %s", tc.name, k, ty, capture.last, wantType, tc.index)
			}
		}
	})
}
