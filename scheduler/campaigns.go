package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
)

// Campaigns is the work of the `campaigns` job: fire due campaigns (one
// run per firing, misfire policy applied), expand runs into deliveries,
// pause runs whose errors pass their threshold, keep paused and canceled
// runs swept, and finish runs with nothing left.
// The job runner's lease makes one instance do it at a time; the models
// operations it calls are safe even if two did.
type Campaigns struct {
	DB  *gorm.DB
	Log *slog.Logger
	// Now is the clock (tests inject one); nil: time.Now.
	Now func() time.Time
	// MisfireGrace is how late a firing may be and still count as on time
	// (default 2 minutes); later, the campaign's misfire policy decides.
	MisfireGrace time.Duration
	// ExpandBatch is the number of audience members read per batch.
	ExpandBatch int
	// Notify wakes the send workers when deliveries were queued (nil: none).
	Notify func()
}

func (s *Campaigns) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Campaigns) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// Tick does one round of the job.
func (s *Campaigns) Tick(ctx context.Context) error {
	now := s.now()
	stop := s.sampleWhile(ctx)
	defer stop()
	_, ferr := s.FireDue(ctx, now)
	eerr := s.Expand(ctx)
	paused, aerr := models.AutoPauseRuns(ctx, s.DB, now)
	for _, r := range paused {
		s.log().WarnContext(ctx, "campaign run paused automatically: one WeChat error passed the campaign's threshold", "campaign", r.CampaignID, "run", r.ID)
		err := models.Retry(ctx, s.DB, func(tx *gorm.DB) error {
			return models.Audit(ctx, tx, models.Actor{Email: "scheduler"}, "campaign.auto_pause", "campaign", strconv.FormatInt(r.CampaignID, 10),
				map[string]any{"run": r.ID, "reason": r.Reason})
		})
		if err != nil {
			aerr = errors.Join(aerr, err)
		}
	}
	serr := models.SweepStoppedRuns(ctx, s.DB, now)
	finished, rerr := models.FinishRuns(ctx, s.DB, now)
	if len(finished) > 0 { // the last counters of a run that just ended
		_, _ = models.SampleRuns(ctx, s.DB, s.now())
	}
	return errors.Join(label("firing", ferr), label("expanding", eerr), label("auto pause", aerr), label("sweeping", serr), label("finishing", rerr))
}

// FireDue starts a run for each scheduled campaign whose firing has come.
// A firing later than MisfireGrace runs late (policy "run") or is skipped
// (policy "skip"); several missed firings of a recurring campaign run at
// most once, and the next firing is the first one after now.
func (s *Campaigns) FireDue(ctx context.Context, now time.Time) ([]models.CampaignRun, error) {
	grace := s.MisfireGrace
	if grace <= 0 {
		grace = 2 * time.Minute
	}
	due, err := models.DueCampaigns(ctx, s.DB, now, 100)
	if err != nil {
		return nil, err
	}
	var started []models.CampaignRun
	var errs []error
	for i := range due {
		c := &due[i]
		firing := *c.NextRunAt
		next := c.NextFiring(now)
		if now.Sub(firing) > grace && c.MisfirePolicy != models.MisfireRun {
			if _, err := models.SkipFiring(ctx, s.DB, c, firing, next, models.ReasonMisfireSkipped, now); err != nil {
				errs = append(errs, err)
			}
			s.log().WarnContext(ctx, "campaign firing missed: skipped", "campaign", c.ID, "firing", firing, "now", now)
			continue
		}
		run, err := models.StartCampaignRun(ctx, s.DB, models.StartRun{CampaignID: c.ID, ScheduledFor: firing, Now: now,
			ExpectNextRunAt: &firing, Next: next})
		switch {
		case err == nil:
			started = append(started, *run)
			s.log().InfoContext(ctx, "campaign fired", "campaign", c.ID, "run", run.ID, "firing", firing)
		case errors.Is(err, models.ErrFiringTaken):
		case errors.Is(err, models.ErrRunActive):
			if _, err := models.SkipFiring(ctx, s.DB, c, firing, next, models.ReasonOverlapSkipped, now); err != nil {
				errs = append(errs, err)
			}
		case errors.Is(err, models.ErrTemplateGone):
			if err := models.Retry(ctx, s.DB, func(tx *gorm.DB) error {
				return models.UpdateCampaignFields(ctx, tx, c.ID, map[string]any{"held_reason": models.HeldTemplateDeleted})
			}); err != nil {
				errs = append(errs, err)
			}
		default:
			errs = append(errs, err)
		}
	}
	return started, errors.Join(errs...)
}

// Expand expands every run not fully expanded yet, until ctx ends (the next
// tick goes on from the saved cursor).
func (s *Campaigns) Expand(ctx context.Context) error {
	runs, err := models.RunsToExpand(ctx, s.DB, 20)
	if err != nil {
		return err
	}
	for _, r := range runs {
		if _, err := models.ExpandRun(ctx, s.DB, r.ID, s.ExpandBatch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if s.Notify != nil {
			s.Notify()
		}
	}
	return nil
}

func label(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
