package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// DeliveryPaused is the status of a run's deliveries held back while the run
// is paused: the engine claims only queued rows, so a pause moves queued →
// paused and a resume moves them back.
const DeliveryPaused = "paused"

// Errors of starting a run.
var (
	ErrCampaignHeld  = errors.New("campaign held: its template changed or vanished upstream")
	ErrRunActive     = errors.New("campaign has a run still going")
	ErrFiringTaken   = errors.New("this firing was already taken")
	ErrNotStartable  = errors.New("campaign cannot start in its status")
	ErrTemplateGone  = errors.New("the campaign's template is deleted")
	ErrNeedsApproval = errors.New("campaign awaits approval")
)

// StartRun asks for a run of a campaign.
type StartRun struct {
	CampaignID int64
	// ScheduledFor names the firing; one run per (campaign, firing).
	ScheduledFor time.Time
	Now          time.Time
	// ExpectNextRunAt (scheduler): start only while the campaign's
	// next_run_at still equals this firing, so two schedulers cannot both
	// take it.
	ExpectNextRunAt *time.Time
	// Next is the campaign's next firing after this one (nil: none).
	Next *time.Time
	// From are the campaign statuses that may start (default: scheduled).
	From []string
	// ResendOf makes a "resend to failed" run of that run.
	ResendOf *int64
}

// StartCampaignRun creates a run of a campaign for one firing, in status
// expanding, and marks the campaign running. The console's "send now" and
// the scheduler both call it. It refuses a held campaign, one with a run
// still going (runs never overlap), and a firing already taken.
func StartCampaignRun(ctx context.Context, db *gorm.DB, req StartRun) (*CampaignRun, error) {
	if len(req.From) == 0 {
		req.From = []string{CampaignScheduled}
	}
	now := req.Now.UTC()
	var run *CampaignRun
	err := retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
		run = nil
		var c Campaign
		q := tx
		if IsMySQL(tx) {
			q = q.Clauses(lockingClause())
		}
		if err := q.First(&c, req.CampaignID).Error; err != nil {
			return translate(err)
		}
		if req.ExpectNextRunAt != nil && (c.NextRunAt == nil || !c.NextRunAt.Equal(*req.ExpectNextRunAt)) {
			return ErrFiringTaken
		}
		if c.Held() {
			return ErrCampaignHeld
		}
		ok := false
		for _, s := range req.From {
			ok = ok || c.Status == s
		}
		if !ok {
			return ErrNotStartable
		}
		var tplStatus string
		if err := tx.Model(&Template{}).Where("id = ?", c.TemplateID).Pluck("status", &tplStatus).Error; err != nil {
			return err
		}
		if tplStatus == TemplateDeleted {
			return ErrTemplateGone
		}
		var active int64
		if err := tx.Model(&CampaignRun{}).Where("campaign_id = ? AND status IN ?", c.ID, activeRunStatuses).Count(&active).Error; err != nil {
			return err
		}
		if active > 0 {
			return ErrRunActive
		}
		r := &CampaignRun{CampaignID: c.ID, AppID: c.AppID, Status: RunExpanding, ScheduledFor: req.ScheduledFor.UTC(),
			ResendOf: req.ResendOf, StartedAt: &now, CreatedAt: now, UpdatedAt: now}
		res := insertIgnore(tx).Create(r)
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrFiringTaken
		}
		run = r
		return tx.Model(&Campaign{}).Where("id = ?", c.ID).Updates(map[string]any{
			"status": CampaignRunning, "status_reason": "", "next_run_at": req.Next, "updated_at": now}).Error
	})
	if err != nil {
		return nil, err
	}
	return run, nil
}

// RunsToExpand lists runs whose audience is not fully expanded yet
// (expanding, or paused mid-expansion), oldest first.
func RunsToExpand(ctx context.Context, db *gorm.DB, limit int) ([]CampaignRun, error) {
	var out []CampaignRun
	err := db.WithContext(ctx).Where("expanded_at IS NULL AND status IN ?", []string{RunExpanding, RunPaused}).
		Order("id").Limit(limit).Find(&out).Error
	return out, err
}

// ExpandRun turns a run's audience into deliveries, batch by batch: each
// batch reads the next members after the run's cursor, inserts one delivery
// per member (unique per run and user, so a batch repeated after a crash
// adds nobody twice) and moves the cursor, in one transaction. Memory does
// not grow with the audience. Deliveries of a paused run are inserted
// paused. It returns when the audience is exhausted (the run then sends),
// the run was canceled, or ctx ends (the next call resumes at the cursor).
func ExpandRun(ctx context.Context, db *gorm.DB, runID int64, batch int) (done bool, err error) {
	if batch <= 0 {
		batch = 1000
	}
	db = db.WithContext(ctx)
	r, err := GetRun(ctx, db, runID)
	if err != nil {
		return false, err
	}
	c, err := GetCampaign(ctx, db, r.CampaignID)
	if err != nil {
		return false, err
	}
	t, err := GetTemplate(ctx, db, c.TemplateID)
	if err != nil {
		return false, err
	}
	a := c.AudienceSpec()
	vals := c.Values()
	for ctx.Err() == nil {
		finished := false
		err := retryTx(ctx, db, func(tx *gorm.DB) error {
			// The run is read without a lock: holding its row for the whole
			// batch would stall every send of the run (their counters live
			// there). The cursor moves at the end only if nobody moved it
			// and the status is still the one read (else the batch is rolled
			// back and read again); deliveries are unique per run and user.
			var cur CampaignRun
			if err := tx.First(&cur, runID).Error; err != nil {
				return translate(err)
			}
			if cur.ExpandedAt != nil || (cur.Status != RunExpanding && cur.Status != RunPaused) {
				finished = true
				return nil
			}
			var ms []Member
			var last int64
			var err error
			if cur.ResendOf != nil {
				ms, last, err = resendBatch(tx, c, *cur.ResendOf, t.LongTerm(), cur.ExpandCursor, batch)
			} else {
				ms, last, err = audienceBatch(tx, c, &a, t.LongTerm(), cur.ExpandCursor, batch)
			}
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			status := DeliveryQueued
			if cur.Status == RunPaused {
				status = DeliveryPaused
			}
			n, err := insertRunDeliveries(tx, c, &cur, ms, vals, status, now)
			if err != nil {
				return err
			}
			set := map[string]any{"expand_cursor": last, "audience": gorm.Expr("audience + ?", n), "updated_at": now}
			if last == cur.ExpandCursor {
				finished = true
				set["expanded_at"] = now
				if cur.Status == RunExpanding {
					set["status"] = RunSending
				}
			}
			res := tx.Model(&CampaignRun{}).Where("id = ? AND expand_cursor = ? AND status = ? AND expanded_at IS NULL", runID, cur.ExpandCursor, cur.Status).
				Updates(set)
			if res.Error == nil && res.RowsAffected == 0 {
				return errExpandMoved
			}
			return res.Error
		})
		if errors.Is(err, errExpandMoved) {
			continue // paused, resumed or canceled meanwhile: read it again
		}
		if err != nil {
			return false, err
		}
		if finished {
			return true, nil
		}
	}
	return false, ctx.Err()
}

// errExpandMoved rolls back an expansion batch whose run changed meanwhile.
var errExpandMoved = errors.New("the run changed during an expansion batch")

// insertRunDeliveries inserts one delivery per member in status, skipping
// members already in the run, and counts them.
func insertRunDeliveries(tx *gorm.DB, c *Campaign, r *CampaignRun, ms []Member, vals map[string]Value, status string, now time.Time) (int64, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	runID := r.ID
	rows := make([]*Delivery, 0, len(ms))
	for _, m := range ms {
		nd := NewDelivery{AppID: c.AppID, UserID: m.UserID, TemplateID: c.TemplateID, OpenID: m.OpenID, RunID: &runID,
			Page: c.Page, Data: RenderValues(vals, m.Attributes)}
		d, err := nd.row(now)
		if err != nil {
			return 0, err
		}
		d.Status = status
		rows = append(rows, d)
	}
	chunk := 500
	if !IsMySQL(tx) {
		chunk = 50 // SQLite's driver binds arguments in time quadratic in their number
	}
	var n int64
	for start := 0; start < len(rows); start += chunk {
		end := min(start+chunk, len(rows))
		res := insertIgnore(tx).Create(rows[start:end])
		if res.Error != nil {
			return 0, translate(res.Error)
		}
		n += res.RowsAffected
	}
	st := StatDeltas{}
	st.Add(c.AppID, &runID, status, "", n)
	return n, applyStats(tx, st)
}

// moveRunDeliveries moves a run's deliveries from one status to another in
// batches (each its own transaction, counters moved with the rows), until
// none is left in from. Rows the engine holds locked are not touched.
func moveRunDeliveries(ctx context.Context, db *gorm.DB, r *CampaignRun, from, to, reason string, now time.Time) (int64, error) {
	var total int64
	runID := r.ID
	for {
		var ids []int64
		if err := db.WithContext(ctx).Model(&Delivery{}).Where("run_id = ? AND status = ?", r.ID, from).
			Order("id").Limit(1000).Pluck("id", &ids).Error; err != nil {
			return total, err
		}
		if len(ids) == 0 {
			return total, nil
		}
		var n int64
		err := retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
			set := "status = ?, updated_at = ?"
			args := []any{to, now}
			if to == DeliverySkipped {
				set += ", reason = ?, settled_at = ?"
				args = append(args, reason, now)
			}
			res := tx.Exec(updateDeliveriesByID(tx)+set+" WHERE id IN "+inList(ids)+" AND status = ?", append(args, from)...)
			if res.Error != nil {
				return res.Error
			}
			n = res.RowsAffected
			detail := ""
			if to == DeliverySkipped {
				detail = reason
			}
			st := StatDeltas{}
			st.Add(r.AppID, &runID, from, "", -n)
			st.Add(r.AppID, &runID, to, detail, n)
			return applyStats(tx, st)
		})
		if err != nil {
			return total, err
		}
		total += n
		if n == 0 {
			return total, nil // what is left is held by the engine right now
		}
	}
}

// setRunStatus changes a run's status when it is in one of from; it tells
// whether it changed.
func setRunStatus(ctx context.Context, db *gorm.DB, runID int64, from []string, fields map[string]any) (bool, error) {
	fields["updated_at"] = time.Now().UTC()
	var changed bool
	err := retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
		res := tx.Model(&CampaignRun{}).Where("id = ? AND status IN ?", runID, from).Updates(fields)
		changed = res.RowsAffected == 1
		return res.Error
	})
	return changed, err
}

// setCampaignStatus writes fields of a campaign while it is in status from.
func setCampaignStatus(ctx context.Context, db *gorm.DB, id int64, from string, fields map[string]any) (bool, error) {
	var changed bool
	err := retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
		q := tx.Model(&Campaign{}).Where("id = ?", id)
		if from != "" {
			q = q.Where("status = ?", from)
		}
		res := q.Updates(fields)
		changed = res.RowsAffected == 1
		return res.Error
	})
	return changed, err
}

// Retry runs fn in a transaction, again when the database was busy or a
// deadlock was detected (for writes that race the send workers).
func Retry(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	return retryTx(ctx, db.WithContext(ctx), fn)
}

// PauseRun pauses a run: no more of its deliveries are claimed (queued ones
// become paused; the few already being sent finish). Idempotent: pausing a
// paused run only sweeps again. reason is a stable code.
func PauseRun(ctx context.Context, db *gorm.DB, r *CampaignRun, reason string, now time.Time) (bool, error) {
	changed, err := setRunStatus(ctx, db, r.ID, []string{RunExpanding, RunSending}, map[string]any{"status": RunPaused, "reason": reason})
	if err != nil {
		return false, fmt.Errorf("pausing run %d: %w", r.ID, err)
	}
	cur, err := GetRun(ctx, db, r.ID)
	if err != nil {
		return changed, err
	}
	if cur.Status != RunPaused {
		return false, nil
	}
	// The campaign follows its run (also when an earlier attempt stopped
	// half-way); what is left queued is swept here and by the job.
	if _, err := setCampaignStatus(ctx, db, r.CampaignID, CampaignRunning,
		map[string]any{"status": CampaignPaused, "status_reason": cur.Reason, "updated_at": now}); err != nil {
		return changed, fmt.Errorf("pausing campaign %d: %w", r.CampaignID, err)
	}
	if _, err := moveRunDeliveries(ctx, db, cur, DeliveryQueued, DeliveryPaused, "", now); err != nil {
		return changed, fmt.Errorf("holding back run %d: %w", r.ID, err)
	}
	return changed, nil
}

// ResumeRun resumes a paused run where it stopped: paused deliveries are
// queued again and expansion, if unfinished, goes on. Idempotent.
func ResumeRun(ctx context.Context, db *gorm.DB, r *CampaignRun, now time.Time) (bool, error) {
	cur, err := GetRun(ctx, db, r.ID)
	if err != nil {
		return false, err
	}
	to := RunSending
	if cur.ExpandedAt == nil {
		to = RunExpanding
	}
	changed, err := setRunStatus(ctx, db, r.ID, []string{RunPaused}, map[string]any{"status": to, "reason": ""})
	if err != nil {
		return false, fmt.Errorf("resuming run %d: %w", r.ID, err)
	}
	if cur, err = GetRun(ctx, db, r.ID); err != nil {
		return changed, err
	}
	if cur.Status != RunSending && cur.Status != RunExpanding {
		return false, nil
	}
	if _, err := setCampaignStatus(ctx, db, r.CampaignID, CampaignPaused,
		map[string]any{"status": CampaignRunning, "status_reason": "", "updated_at": now}); err != nil {
		return changed, fmt.Errorf("resuming campaign %d: %w", r.CampaignID, err)
	}
	if _, err := moveRunDeliveries(ctx, db, cur, DeliveryPaused, DeliveryQueued, "", now); err != nil {
		return changed, fmt.Errorf("queueing run %d again: %w", r.ID, err)
	}
	return changed, nil
}

// CancelRun cancels a run: its queued and paused deliveries end skipped
// with reason canceled (no credit was spent on them, so none is refunded);
// those being sent finish. Idempotent.
func CancelRun(ctx context.Context, db *gorm.DB, r *CampaignRun, now time.Time) (bool, error) {
	changed, err := setRunStatus(ctx, db, r.ID, activeRunStatuses, map[string]any{"status": RunCanceled, "reason": ReasonCanceled, "finished_at": now})
	if err != nil {
		return false, err
	}
	cur, err := GetRun(ctx, db, r.ID)
	if err != nil {
		return changed, err
	}
	if cur.Status != RunCanceled {
		return false, nil
	}
	for _, from := range []string{DeliveryQueued, DeliveryPaused} {
		if _, err := moveRunDeliveries(ctx, db, cur, from, DeliverySkipped, ReasonCanceled, now); err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// CancelCampaign cancels a campaign: its run still going and its future
// firings. Idempotent.
func CancelCampaign(ctx context.Context, db *gorm.DB, c *Campaign, now time.Time) (bool, error) {
	var changed bool
	err := retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
		res := tx.Model(&Campaign{}).Where("id = ? AND status <> ?", c.ID, CampaignCanceled).
			Updates(map[string]any{"status": CampaignCanceled, "status_reason": ReasonCanceled, "next_run_at": nil, "updated_at": now})
		changed = res.RowsAffected == 1
		return res.Error
	})
	if err != nil {
		return false, err
	}
	if r, err := ActiveRun(ctx, db, c.ID); err == nil {
		if _, err := CancelRun(ctx, db, r, now); err != nil {
			return changed, err
		}
	} else if !errors.Is(err, ErrNotFound) {
		return changed, err
	}
	return changed, nil
}

// SweepStoppedRuns moves deliveries that went back to queued after their
// run was paused or canceled (a retry scheduled by the engine before the
// pause) to where the run's state says; the campaigns job calls it.
func SweepStoppedRuns(ctx context.Context, db *gorm.DB, now time.Time) error {
	var runs []CampaignRun
	if err := db.WithContext(ctx).Where("(status IN ? AND queued > 0) OR (status = ? AND paused > 0)", []string{RunPaused, RunCanceled}, RunCanceled).
		Limit(100).Find(&runs).Error; err != nil {
		return err
	}
	for i := range runs {
		r := &runs[i]
		var err error
		if r.Status == RunPaused {
			_, err = moveRunDeliveries(ctx, db, r, DeliveryQueued, DeliveryPaused, "", now)
		} else {
			_, err = moveRunDeliveries(ctx, db, r, DeliveryQueued, DeliverySkipped, ReasonCanceled, now)
			if err == nil {
				_, err = moveRunDeliveries(ctx, db, r, DeliveryPaused, DeliverySkipped, ReasonCanceled, now)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// FinishRuns completes runs that are fully expanded with nothing left
// queued, paused or being sent, and moves their campaign on: a recurring
// campaign with a next firing is scheduled again, others complete. It
// returns the runs completed.
func FinishRuns(ctx context.Context, db *gorm.DB, now time.Time) ([]CampaignRun, error) {
	var runs []CampaignRun
	err := db.WithContext(ctx).Where("status = ? AND expanded_at IS NOT NULL AND queued = 0 AND sending = 0 AND paused = 0", RunSending).
		Limit(100).Find(&runs).Error
	if err != nil {
		return nil, err
	}
	var done []CampaignRun
	for _, r := range runs {
		err := retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
			res := tx.Model(&CampaignRun{}).Where("id = ? AND status = ? AND queued = 0 AND sending = 0 AND paused = 0", r.ID, RunSending).
				Updates(map[string]any{"status": RunCompleted, "finished_at": now, "updated_at": now})
			if res.Error != nil || res.RowsAffected == 0 {
				return res.Error
			}
			done = append(done, r)
			var c Campaign
			if err := tx.First(&c, r.CampaignID).Error; err != nil {
				return translate(err)
			}
			if c.Status != CampaignRunning {
				return nil
			}
			status := CampaignCompleted
			if c.ScheduleKind == ScheduleCron && c.NextRunAt != nil {
				status = CampaignScheduled
			}
			return tx.Model(&Campaign{}).Where("id = ? AND status = ?", c.ID, CampaignRunning).
				Updates(map[string]any{"status": status, "updated_at": now}).Error
		})
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// DueCampaigns lists scheduled campaigns, not held, whose next firing is
// at or before now.
func DueCampaigns(ctx context.Context, db *gorm.DB, now time.Time, limit int) ([]Campaign, error) {
	var out []Campaign
	err := db.WithContext(ctx).Where("status = ? AND held_reason = '' AND next_run_at IS NOT NULL AND next_run_at <= ?", CampaignScheduled, now.UTC()).
		Order("next_run_at").Limit(limit).Find(&out).Error
	return out, err
}

// SkipFiring moves a scheduled campaign past a firing it will not run
// (missed, or overlapping a run), recording why; only while next_run_at
// still equals the firing. A campaign with no firing left completes.
func SkipFiring(ctx context.Context, db *gorm.DB, c *Campaign, firing time.Time, next *time.Time, reason string, now time.Time) (bool, error) {
	fields := map[string]any{"next_run_at": next, "status_reason": reason, "updated_at": now}
	if next == nil {
		fields["status"] = CampaignCompleted
	}
	var changed bool
	err := retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
		res := tx.Model(&Campaign{}).Where("id = ? AND status = ? AND next_run_at = ?", c.ID, CampaignScheduled, firing.UTC()).
			Updates(fields)
		changed = res.RowsAffected == 1
		return res.Error
	})
	return changed, err
}
