package models

import (
	"context"
	"sort"
	"time"

	"gorm.io/gorm"
)

// The dashboard's numbers. Everything here reads counters (delivery_hourly,
// campaign_runs, send_windows) or small tables (apps, campaigns,
// templates) through their keys: nothing counts deliveries row by row.

// Activity is an account's (or every account's) sends over the last days.
type Activity struct {
	// Days, oldest first; the last one is today (console time zone).
	Days []DayCount
	// FailuresToday and FailuresWeek: failures by WeChat errcode or our
	// reason, most frequent first.
	FailuresToday, FailuresWeek []DetailCount
}

// DayCount is one day's messages: accepted by WeChat, confirmed delivered, failed.
type DayCount struct {
	Day                     time.Time // midnight, console time zone
	Sent, Delivered, Failed int64
}

// DetailCount is a number of failures with one errcode or reason.
type DetailCount struct {
	Detail string
	N      int64
}

// Today returns the last day's counts.
func (a Activity) Today() DayCount {
	if len(a.Days) == 0 {
		return DayCount{}
	}
	return a.Days[len(a.Days)-1]
}

// Week sums every day's counts.
func (a Activity) Week() DayCount {
	var w DayCount
	for _, d := range a.Days {
		w.Sent += d.Sent
		w.Delivered += d.Delivered
		w.Failed += d.Failed
	}
	return w
}

// DeliveryRate is delivered ÷ (sent + failed) in percent, -1 when nothing was sent.
func (d DayCount) DeliveryRate() float64 {
	if d.Sent+d.Failed == 0 {
		return -1
	}
	return float64(d.Delivered) * 100 / float64(d.Sent+d.Failed)
}

// LoadActivity reads the hourly counters of the last days days (today
// included) of app (0: every account), in loc's calendar.
func LoadActivity(ctx context.Context, db *gorm.DB, appID int64, now time.Time, loc *time.Location, days int) (Activity, error) {
	if loc == nil {
		loc = time.UTC
	}
	local := now.In(loc)
	today := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	a := Activity{Days: make([]DayCount, days)}
	for i := range a.Days {
		a.Days[i].Day = today.AddDate(0, 0, i-days+1)
	}
	from := a.Days[0].Day
	q := db.WithContext(ctx).Table("delivery_hourly").Select("hour, status, detail, SUM(n) AS n").
		Where("hour >= ?", HourOf(from))
	if appID != 0 {
		q = q.Where("app_id = ?", appID)
	}
	var rows []struct {
		Hour   int64
		Status string
		Detail string
		N      int64
	}
	if err := q.Group("hour, status, detail").Scan(&rows).Error; err != nil {
		return a, err
	}
	week, day := map[string]int64{}, map[string]int64{}
	for _, r := range rows {
		t := time.Unix(r.Hour, 0).In(loc)
		i := dayIndex(a.Days, t)
		if i < 0 {
			continue // an hour that straddles the first midnight (zones off the hour)
		}
		d := &a.Days[i]
		switch r.Status {
		case HourSent:
			d.Sent += r.N
		case HourDelivered:
			d.Delivered += r.N
		case HourFailed:
			d.Failed += r.N
			week[r.Detail] += r.N
			if i == len(a.Days)-1 {
				day[r.Detail] += r.N
			}
		}
	}
	a.FailuresWeek, a.FailuresToday = byCount(week), byCount(day)
	return a, nil
}

// dayIndex finds the day t falls on (-1: before the first).
func dayIndex(days []DayCount, t time.Time) int {
	for i := len(days) - 1; i >= 0; i-- {
		if !t.Before(days[i].Day) {
			return i
		}
	}
	return -1
}

func byCount(m map[string]int64) []DetailCount {
	out := make([]DetailCount, 0, len(m))
	for k, n := range m {
		if n != 0 {
			out = append(out, DetailCount{Detail: k, N: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Detail < out[j].Detail
	})
	return out
}
