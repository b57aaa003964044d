package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// RunSample is a run's counters as the campaigns job saw them at one
// moment (campaign_run_samples, migration 10). Accepted counts messages
// WeChat took (sent + delivered), so its growth is the send rate.
type RunSample struct {
	RunID     int64
	At        time.Time
	Accepted  int64
	Delivered int64
	Failed    int64
	Unknown   int64
	Skipped   int64
}

// TableName names the samples table.
func (RunSample) TableName() string { return "campaign_run_samples" }

// Answered is how many sends WeChat answered (or that ended unknown).
func (s RunSample) Answered() int64 { return s.Accepted + s.Failed + s.Unknown }

// sampleOf reads the sample counters off a run.
func sampleOf(r *CampaignRun, at time.Time) RunSample {
	return RunSample{RunID: r.ID, At: at, Accepted: r.Sent + r.Delivered, Delivered: r.Delivered, Failed: r.Failed,
		Unknown: r.Unknown, Skipped: r.Skipped}
}

// SampleGrace is how long after a run finished it is still sampled (its
// sends settle into delivered or failed after the last one went out).
const SampleGrace = 3 * time.Minute

// SampleRuns records the counters of every run going on, and of runs
// finished within SampleGrace, at now (to the second). One row per run and
// second: a second sampler in the same second adds nothing.
func SampleRuns(ctx context.Context, db *gorm.DB, now time.Time) (int, error) {
	now = now.UTC().Truncate(time.Second)
	var runs []CampaignRun
	err := db.WithContext(ctx).Where("status IN ? OR (finished_at IS NOT NULL AND finished_at >= ?)", activeRunStatuses, now.Add(-SampleGrace)).
		Limit(200).Find(&runs).Error
	if err != nil || len(runs) == 0 {
		return 0, err
	}
	rows := make([]RunSample, len(runs))
	for i := range runs {
		rows[i] = sampleOf(&runs[i], now)
	}
	res := insertIgnore(db.WithContext(ctx)).Create(&rows)
	return int(res.RowsAffected), res.Error
}

// RunSamples reads a run's samples in time order (at most the last limit).
func RunSamples(ctx context.Context, db *gorm.DB, runID int64, limit int) ([]RunSample, error) {
	var out []RunSample
	err := db.WithContext(ctx).Where("run_id = ?", runID).Order("at DESC").Limit(limit).Find(&out).Error
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// RateWindow is the span the current rate is measured over.
const RateWindow = 30 * time.Second

// CurrentRate is the answers per second of a run over about the last
// RateWindow: its counters now against the newest sample at least
// RateWindow old (or the oldest sample, when the run is younger). ok is
// false when no sample is old enough (at least 5 s) to measure.
func CurrentRate(ctx context.Context, db *gorm.DB, r *CampaignRun, now time.Time) (rate float64, ok bool, err error) {
	var base []RunSample
	err = db.WithContext(ctx).Where("run_id = ? AND at <= ?", r.ID, now.UTC().Add(-RateWindow)).Order("at DESC").Limit(1).Find(&base).Error
	if err == nil && len(base) == 0 {
		err = db.WithContext(ctx).Where("run_id = ?", r.ID).Order("at").Limit(1).Find(&base).Error
	}
	if err != nil || len(base) == 0 {
		return 0, false, err
	}
	end := now.UTC()
	if r.FinishedAt != nil && r.FinishedAt.Before(end) {
		end = r.FinishedAt.UTC()
	}
	secs := end.Sub(base[0].At).Seconds()
	if secs < 5 {
		return 0, false, nil
	}
	d := sampleOf(r, end).Answered() - base[0].Answered()
	return max(float64(d), 0) / secs, true, nil
}

// MinuteSends is what a run did in one minute: messages WeChat accepted,
// deliveries confirmed and failures.
type MinuteSends struct {
	Minute                      time.Time
	Accepted, Delivered, Failed int64
}

// SendsPerMinute turns a run's samples (time order) into sends per minute:
// each minute's last sample less the previous minute's (the run starts from
// zero), minutes without a sample shown as none. At most the last limit
// minutes.
func SendsPerMinute(samples []RunSample, limit int) []MinuteSends {
	if len(samples) == 0 {
		return nil
	}
	var out []MinuteSends
	prev := RunSample{}
	i := 0
	for m := samples[0].At.UTC().Truncate(time.Minute); i < len(samples); m = m.Add(time.Minute) {
		last, seen := prev, false
		for i < len(samples) && samples[i].At.UTC().Before(m.Add(time.Minute)) {
			last, seen = samples[i], true
			i++
		}
		row := MinuteSends{Minute: m}
		if seen {
			row.Accepted = max(last.Accepted-prev.Accepted, 0)
			row.Delivered = max(last.Delivered-prev.Delivered, 0)
			row.Failed = max(last.Failed-prev.Failed, 0)
			prev = last
		}
		out = append(out, row)
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}
