package models

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Job is the state of one named scheduled job, shared by every instance.
type Job struct {
	Name           string `gorm:"primaryKey"`
	Schedule       string
	LastStartedAt  *time.Time
	LastFinishedAt *time.Time
	LastDurationMs int64
	LastError      string
	LastOK         bool `gorm:"column:last_ok"`
	Runs           int64
	Failures       int64
	RunningUntil   *time.Time
	RunningHolder  string
	UpdatedAt      time.Time
}

// EnsureJob registers a job row (keeping its history) with its schedule.
func EnsureJob(ctx context.Context, db *gorm.DB, name, schedule string) error {
	j := Job{Name: name, Schedule: schedule, UpdatedAt: time.Now().UTC()}
	return db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"schedule"}),
	}).Create(&j).Error
}

// TryStartJob takes the job's run lease until `until` for holder, unless
// another holder's lease is still live. It tells whether it got it.
func TryStartJob(ctx context.Context, db *gorm.DB, name, holder string, now, until time.Time) (bool, error) {
	res := db.WithContext(ctx).Model(&Job{}).
		Where("name = ? AND (running_until IS NULL OR running_until < ? OR running_holder = ?)", name, now, holder).
		Updates(map[string]any{"running_until": until, "running_holder": holder, "last_started_at": now, "updated_at": now})
	return res.RowsAffected == 1, res.Error
}

// FinishJob records the outcome of a run and releases the lease.
func FinishJob(ctx context.Context, db *gorm.DB, name, holder string, started, now time.Time, runErr error) error {
	fields := map[string]any{
		"last_finished_at": now, "last_duration_ms": now.Sub(started).Milliseconds(),
		"running_until": nil, "running_holder": "", "updated_at": now,
		"runs": gorm.Expr("runs + 1"), "last_ok": runErr == nil, "last_error": "",
	}
	if runErr != nil {
		fields["last_error"] = truncateRunes(runErr.Error(), 2000)
		fields["failures"] = gorm.Expr("failures + 1")
	}
	return db.WithContext(ctx).Model(&Job{}).Where("name = ? AND running_holder = ?", name, holder).Updates(fields).Error
}

// ListJobs returns every job by name.
func ListJobs(ctx context.Context, db *gorm.DB) ([]Job, error) {
	var out []Job
	err := db.WithContext(ctx).Order("name").Find(&out).Error
	return out, err
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
