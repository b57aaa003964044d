package models

import (
	"context"
	"sort"
	"time"

	"gorm.io/gorm"
)

// Hourly delivery counts (migration 8): what the dashboard charts. Each
// batch of counter changes that reaches applyStats adds, in one upsert,
// to the rows of the current UTC hour:
//   - "sent": messages WeChat accepted. Per app and run, a batch's
//     accepted messages are Δsent + Δdelivered when positive: a send that
//     WeChat took (sending → sent) counts once, its later confirmation
//     (sent → delivered, a zero sum) does not count again, and a delivery
//     settled straight from unknown to delivered counts then;
//   - "delivered": messages confirmed delivered;
//   - "failed": failures, detail the WeChat errcode or our reason.

// HourStatusSent etc. are the statuses delivery_hourly counts.
const (
	HourSent      = "sent"
	HourDelivered = "delivered"
	HourFailed    = "failed"
)

type hourKey struct {
	app            int64
	status, detail string
}

// hourlyDeltas derives the hourly counts of one batch of counter changes.
func hourlyDeltas(s StatDeltas) map[hourKey]int64 {
	out := map[hourKey]int64{}
	type appRun struct{ app, run int64 }
	accepted := map[appRun]int64{}
	for k, v := range s {
		switch {
		case k.status == DeliverySent || k.status == DeliveryDelivered:
			accepted[appRun{k.app, k.run}] += v
			if k.status == DeliveryDelivered && v > 0 {
				out[hourKey{k.app, HourDelivered, ""}] += v
			}
		case k.status == DeliveryFailed && v > 0:
			out[hourKey{k.app, HourFailed, k.detail}] += v
		}
	}
	for ar, v := range accepted {
		if v > 0 {
			out[hourKey{ar.app, HourSent, ""}] += v
		}
	}
	return out
}

// feedHourly adds a batch's counts to the hour of at (one statement; none
// when the batch sent, delivered and failed nothing).
func feedHourly(tx *gorm.DB, at time.Time, s StatDeltas) error {
	return addHourly(tx, at, hourlyDeltas(s))
}

func addHourly(tx *gorm.DB, at time.Time, d map[hourKey]int64) error {
	keys := make([]hourKey, 0, len(d))
	for k, v := range d {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Slice(keys, func(i, j int) bool { // a fixed order: concurrent batches cannot deadlock here
		a, b := keys[i], keys[j]
		if a.app != b.app {
			return a.app < b.app
		}
		if a.status != b.status {
			return a.status < b.status
		}
		return a.detail < b.detail
	})
	hour := HourOf(at)
	rows := make([][]any, len(keys))
	for i, k := range keys {
		rows[i] = []any{k.app, hour, k.status, truncate(k.detail, 64), d[k]}
	}
	return addCounts(tx, "delivery_hourly", []string{"app_id", "hour", "status", "detail"}, rows)
}

// HourOf is the delivery_hourly key of t: the Unix time of its UTC hour.
func HourOf(t time.Time) int64 { return t.Unix() - t.Unix()%3600 }

// HourCount is one count to record for an hour (RecordHourly).
type HourCount struct {
	AppID  int64
	Status string // HourSent, HourDelivered or HourFailed
	Detail string // failures: errcode or reason
	N      int64
}

// RecordHourly adds counts to the hour of at, as the engine's batches do
// for the current hour (sample data and tests for days gone by).
func RecordHourly(ctx context.Context, db *gorm.DB, at time.Time, counts []HourCount) error {
	d := map[hourKey]int64{}
	for _, c := range counts {
		d[hourKey{c.AppID, c.Status, c.Detail}] += c.N
	}
	return addHourly(db.WithContext(ctx), at, d)
}
