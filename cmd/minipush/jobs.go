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

// jobSettings are the knobs of the scheduled jobs.
type jobSettings struct {
	// RetentionDays keeps that many days of deliveries and events (the
	// retention job deletes older ones); 0 keeps everything (no job).
	RetentionDays int
	// Notify wakes the send workers when a campaign queued deliveries (nil: they poll).
	Notify func()
}

// startJobs registers the named scheduled jobs and starts their cron.
func startJobs(db *gorm.DB, sealer *models.Sealer, loc *time.Location, log *slog.Logger, holder string, wx *http.Client, js jobSettings) (*jobs.Runner, error) {
	r := jobs.New(db, log, loc, holder)
	if err := addJobs(r, db, sealer, log, wx, js); err != nil {
		return nil, err
	}
	r.Start()
	return r, nil
}

// addJobs registers the named scheduled jobs on r.
func addJobs(r *jobs.Runner, db *gorm.DB, sealer *models.Sealer, log *slog.Logger, wx *http.Client, js jobSettings) error {
	err := errors.Join(
		r.Add("template-sync", "@every 10m", 5*time.Minute, func(ctx context.Context) error {
			return syncDueTemplates(ctx, db, sealer, wx)
		}),
		// Campaigns: fire due campaigns, expand runs, finish them (issue 9).
		r.Add("campaigns", "@every 5s", 2*time.Minute, (&scheduler.Campaigns{DB: db, Log: log, Notify: js.Notify}).Tick),
		r.Add("sessions-prune", "@every 1h", time.Minute, func(ctx context.Context) error {
			now := time.Now().UTC()
			_, err := models.PruneSessions(ctx, db, now)
			if err == nil {
				_, err = models.PruneThrottle(ctx, db, now, 24*time.Hour)
			}
			return err
		}),
	)
	if err == nil && js.RetentionDays > 0 {
		err = r.Add("retention", "@every 1h", 55*time.Minute, retentionJob(db, log, js.RetentionDays))
	}
	return err
}

// retentionJob deletes deliveries and events older than days, in batches
// with a short pause between them; a run cut off by its timeout goes on
// at the next.
func retentionJob(db *gorm.DB, log *slog.Logger, days int) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		cutoff := time.Now().UTC().AddDate(0, 0, -days)
		res, err := models.PruneOld(ctx, db, models.RetentionOptions{Cutoff: cutoff, Pause: 20 * time.Millisecond})
		log.InfoContext(ctx, "retention", "cutoff", cutoff, "deliveries", res.Deliveries, "sent_events", res.SentEvents,
			"subscription_events", res.SubscriptionEvents, "batches", res.Batches, "max_delete_ms", res.MaxDelete.Milliseconds())
		if err != nil && ctx.Err() != nil {
			return nil // cut off by the run's timeout: the next run goes on
		}
		return err
	}
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
