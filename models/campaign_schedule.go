package models

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// Errors of scheduling and approving.
var (
	ErrNoFiring     = errors.New("the schedule has no firing in the future")
	ErrEmptyList    = errors.New("the campaign's uploaded list holds nobody")
	ErrSelfApproval = errors.New("the author of a campaign cannot approve it")
	ErrNotPending   = errors.New("campaign is not awaiting approval")
	ErrNotDraft     = errors.New("only a draft can be scheduled")
)

// AppRequiresApproval tells whether the account's campaigns need an admin's approval.
func AppRequiresApproval(ctx context.Context, db *gorm.DB, appID int64) (bool, error) {
	var v []bool
	err := db.WithContext(ctx).Raw("SELECT require_approval FROM apps WHERE id = ?", appID).Scan(&v).Error
	return len(v) == 1 && v[0], err
}

// SetAppRequiresApproval turns the approval step on or off for an account.
func SetAppRequiresApproval(ctx context.Context, db *gorm.DB, appID int64, on bool) error {
	return db.WithContext(ctx).Exec("UPDATE apps SET require_approval = ?, updated_at = ? WHERE id = ?", on, time.Now().UTC(), appID).Error
}

// FirstFiring is when a campaign would first fire if scheduled at now.
func (c *Campaign) FirstFiring(now time.Time) (*time.Time, error) {
	switch c.ScheduleKind {
	case ScheduleNow:
		n := now.UTC()
		return &n, nil
	case ScheduleOnce, ScheduleCron:
		if f := c.NextFiring(now); f != nil {
			return f, nil
		}
	}
	return nil, ErrNoFiring
}

// ScheduleCampaign submits a draft: it becomes scheduled with its first
// firing set, or pending_approval when the account asks for approval. It
// returns the new status.
func ScheduleCampaign(ctx context.Context, db *gorm.DB, c *Campaign, by int64, now time.Time) (string, error) {
	if c.Status != CampaignDraft {
		return "", ErrNotDraft
	}
	if c.Held() {
		return "", ErrCampaignHeld
	}
	first, err := c.FirstFiring(now)
	if err != nil {
		return "", err
	}
	if err := checkSendable(ctx, db, c); err != nil {
		return "", err
	}
	need, err := AppRequiresApproval(ctx, db, c.AppID)
	if err != nil {
		return "", err
	}
	fields := map[string]any{"submitted_by": by, "status_reason": ""}
	status := CampaignScheduled
	if need {
		status = CampaignPending
	} else {
		fields["next_run_at"] = first
	}
	fields["status"] = status
	res := db.WithContext(ctx).Model(&Campaign{}).Where("id = ? AND status = ?", c.ID, CampaignDraft).
		Updates(withUpdated(fields, now))
	if res.Error != nil {
		return "", res.Error
	}
	if res.RowsAffected == 0 {
		return "", ErrNotDraft
	}
	return status, nil
}

// checkSendable refuses to schedule a campaign whose template is deleted
// or whose audience is an uploaded list holding nobody: both would be
// scheduled only to be held or to finish having sent to nobody.
func checkSendable(ctx context.Context, db *gorm.DB, c *Campaign) error {
	var status string
	if err := db.WithContext(ctx).Model(&Template{}).Where("id = ?", c.TemplateID).Pluck("status", &status).Error; err != nil {
		return err
	}
	if status != TemplateActive {
		return ErrTemplateGone
	}
	if c.AudienceSpec().Kind != AudienceList {
		return nil
	}
	var one []int
	if err := db.WithContext(ctx).Raw("SELECT 1 FROM campaign_recipients WHERE campaign_id = ? LIMIT 1", c.ID).Scan(&one).Error; err != nil {
		return err
	}
	if len(one) == 0 {
		return ErrEmptyList
	}
	return nil
}

// ApproveCampaign schedules a campaign awaiting approval; the approver
// cannot be who submitted or created it.
func ApproveCampaign(ctx context.Context, db *gorm.DB, c *Campaign, approver int64, now time.Time) error {
	if c.Status != CampaignPending {
		return ErrNotPending
	}
	if (c.SubmittedBy != nil && *c.SubmittedBy == approver) || (c.CreatedBy != nil && *c.CreatedBy == approver) {
		return ErrSelfApproval
	}
	first, err := c.FirstFiring(now)
	if err != nil {
		return err
	}
	if err := checkSendable(ctx, db, c); err != nil { // the list or the template may have changed since it was submitted
		return err
	}
	res := db.WithContext(ctx).Model(&Campaign{}).Where("id = ? AND status = ?", c.ID, CampaignPending).
		Updates(withUpdated(map[string]any{"status": CampaignScheduled, "approved_by": approver, "next_run_at": first}, now))
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotPending
	}
	return nil
}

// UnscheduleCampaign moves a scheduled or pending campaign back to draft
// (to edit it); idempotent.
func UnscheduleCampaign(ctx context.Context, db *gorm.DB, c *Campaign, now time.Time) (bool, error) {
	res := db.WithContext(ctx).Model(&Campaign{}).Where("id = ? AND status IN ?", c.ID, []string{CampaignScheduled, CampaignPending}).
		Updates(withUpdated(map[string]any{"status": CampaignDraft, "next_run_at": nil, "approved_by": nil}, now))
	return res.RowsAffected == 1, res.Error
}

func withUpdated(m map[string]any, now time.Time) map[string]any {
	m["updated_at"] = now.UTC()
	return m
}

// ReasonRejected is the status reason of a campaign an admin sent back.
const ReasonRejected = "rejected"

// RejectCampaign sends a campaign awaiting approval back to draft, with
// the status reason "rejected" and the admin's words (reason) for its
// author to see. Any admin may reject,
// the author included (it withdraws the submission).
func RejectCampaign(ctx context.Context, db *gorm.DB, c *Campaign, reason string, now time.Time) error {
	res := db.WithContext(ctx).Model(&Campaign{}).Where("id = ? AND status = ?", c.ID, CampaignPending).
		Updates(withUpdated(map[string]any{"status": CampaignDraft, "status_reason": ReasonRejected, "reject_reason": reason,
			"next_run_at": nil, "approved_by": nil}, now))
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotPending
	}
	return nil
}

// PendingCampaigns lists campaigns awaiting approval, oldest submission
// first (by id), after the keyset afterID.
func PendingCampaigns(ctx context.Context, db *gorm.DB, afterID int64, limit int) ([]Campaign, error) {
	var out []Campaign
	err := db.WithContext(ctx).Where("status = ? AND id > ?", CampaignPending, afterID).Order("id").Limit(limit).Find(&out).Error
	return out, err
}

// CountPendingCampaigns counts campaigns awaiting approval.
func CountPendingCampaigns(ctx context.Context, db *gorm.DB) (int64, error) {
	var n int64
	err := db.WithContext(ctx).Model(&Campaign{}).Where("status = ?", CampaignPending).Count(&n).Error
	return n, err
}
