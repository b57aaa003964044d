package models

import (
	"context"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// Send capacity: an app's limits (messages per second, messages per day)
// are shared by every instance. Each limit is a row of send_windows per
// window ("s:<unix second>", "d:<China date>"); instances take capacity from
// it in chunks with one conditional UPDATE (used + n <= limit), so the sum
// over all instances never exceeds the limit, whatever their number.

// SecondWindow names the per-second window of t.
func SecondWindow(t time.Time) string { return "s:" + strconv.FormatInt(t.Unix(), 10) }

// chinaZone is UTC+8 (China has no DST), where WeChat's daily quota resets at midnight.
var chinaZone = time.FixedZone("CST", 8*3600)

// DayWindow names the daily-quota window of t (the China-time date).
func DayWindow(t time.Time) string { return "d:" + t.In(chinaZone).Format("20060102") }

// NextChinaMidnight returns the next midnight in China time after t, when
// WeChat resets daily quotas.
func NextChinaMidnight(t time.Time) time.Time {
	c := t.In(chinaZone)
	return time.Date(c.Year(), c.Month(), c.Day()+1, 0, 0, 0, 0, chinaZone).UTC()
}

// TakeSendCapacity takes up to n units of an app's window whose limit is
// limit and returns how many it got (0 when the window is used up).
func TakeSendCapacity(ctx context.Context, db *gorm.DB, appID int64, window string, n, limit int64, now time.Time) (int64, error) {
	if n <= 0 || limit <= 0 {
		return 0, nil
	}
	db = db.WithContext(ctx)
	now = now.UTC()
	ins := "INSERT INTO send_windows (app_id, win, used, updated_at) VALUES (?, ?, 0, ?) ON CONFLICT DO NOTHING"
	if IsMySQL(db) {
		ins = "INSERT IGNORE INTO send_windows (app_id, win, used, updated_at) VALUES (?, ?, 0, ?)"
	}
	if err := db.Exec(ins, appID, window, now).Error; err != nil {
		return 0, err
	}
	want := min(n, limit)
	for range 8 {
		r := db.Exec("UPDATE send_windows SET used = used + ?, updated_at = ? WHERE app_id = ? AND win = ? AND used + ? <= ?",
			want, now, appID, window, want, limit)
		if r.Error != nil {
			return 0, r.Error
		}
		if r.RowsAffected == 1 {
			return want, nil
		}
		var used int64
		if err := db.Raw("SELECT used FROM send_windows WHERE app_id = ? AND win = ?", appID, window).Scan(&used).Error; err != nil {
			return 0, err
		}
		if used >= limit {
			return 0, nil
		}
		want = min(want, limit-used)
	}
	return 0, nil
}

// ReturnSendCapacity gives back units taken but not used (daily quota).
func ReturnSendCapacity(ctx context.Context, db *gorm.DB, appID int64, window string, n int64) error {
	if n <= 0 {
		return nil
	}
	return db.WithContext(ctx).Exec("UPDATE send_windows SET used = CASE WHEN used >= ? THEN used - ? ELSE 0 END WHERE app_id = ? AND win = ?",
		n, n, appID, window).Error
}

// MaxSecondWindowUse returns the highest use of any per-second window of the
// app (tests: the rate limit held across instances).
func MaxSecondWindowUse(ctx context.Context, db *gorm.DB, appID int64) (int64, error) {
	var used int64
	err := db.WithContext(ctx).Raw("SELECT COALESCE(MAX(used), 0) FROM send_windows WHERE app_id = ? AND win LIKE 's:%'", appID).Scan(&used).Error
	return used, err
}

// PruneSendWindows deletes per-second windows untouched since before and
// daily windows older than two days.
func PruneSendWindows(ctx context.Context, db *gorm.DB, before time.Time) error {
	db = db.WithContext(ctx)
	if err := db.Exec("DELETE FROM send_windows WHERE win LIKE 's:%' AND updated_at < ?", before.UTC()).Error; err != nil {
		return err
	}
	return db.Exec("DELETE FROM send_windows WHERE win LIKE 'd:%' AND updated_at < ?", before.UTC().Add(-48*time.Hour)).Error
}
