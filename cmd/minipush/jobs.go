package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/scheduler/jobs"
)

// startJobs registers the named scheduled jobs and starts their cron.
func startJobs(db *gorm.DB, sealer *models.Sealer, loc *time.Location, log *slog.Logger, holder string, wx *http.Client) (*jobs.Runner, error) {
	r := jobs.New(db, log, loc, holder)
	err := errors.Join(
		r.Add("template-sync", "@every 10m", 5*time.Minute, func(ctx context.Context) error {
			return syncDueTemplates(ctx, db, sealer, wx)
		}),
		// Campaigns: fire due campaigns, expand runs, finish them (issue 9).
		r.Add("campaigns", "@every 5s", 2*time.Minute, (&scheduler.Campaigns{DB: db, Log: log}).Tick),
		r.Add("sessions-prune", "@every 1h", time.Minute, func(ctx context.Context) error {
			now := time.Now().UTC()
			_, err := models.PruneSessions(ctx, db, now)
			if err == nil {
				_, err = models.PruneThrottle(ctx, db, now, 24*time.Hour)
			}
			return err
		}),
	)
	if err != nil {
		return nil, err
	}
	r.Start()
	return r, nil
}

// syncDueTemplates re-syncs the templates of every account whose interval
// has passed; one account's failure does not stop the others.
func syncDueTemplates(ctx context.Context, db *gorm.DB, sealer *models.Sealer, wx *http.Client) error {
	apps, err := models.AppsDueForSync(ctx, db, time.Now().UTC())
	if err != nil {
		return err
	}
	var errs []error
	for i := range apps {
		a := &apps[i]
		client, err := models.WeChatClient(db, sealer, a, wx)
		if err == nil {
			_, err = models.SyncTemplates(ctx, db, a, client, models.SyncTriggerSchedule, nil, time.Now().UTC())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.AppID, err))
		}
	}
	return errors.Join(errs...)
}
