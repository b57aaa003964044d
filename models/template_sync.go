package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// TemplateSync is one run of "sync templates from WeChat" for an app.
type TemplateSync struct {
	ID          int64
	AppID       int64  `gorm:"column:app_id"`
	TriggerKind string // manual | schedule
	StaffID     *int64
	Inserted    int
	Updated     int
	Deleted     int
	Unchanged   int
	Flagged     int // draft or scheduled campaigns flagged by a change
	Error       string
	StartedAt   time.Time
	FinishedAt  time.Time
}

// RecordTemplateSync stores one sync run.
func RecordTemplateSync(ctx context.Context, db *gorm.DB, s *TemplateSync) error {
	return db.WithContext(ctx).Create(s).Error
}

// ListTemplateSyncs returns an app's latest sync runs, newest first.
func ListTemplateSyncs(ctx context.Context, db *gorm.DB, appID int64, limit int) ([]TemplateSync, error) {
	var out []TemplateSync
	err := db.WithContext(ctx).Where("app_id = ?", appID).Order("id DESC").Limit(limit).Find(&out).Error
	return out, err
}

// LastTemplateSync returns an app's latest sync run.
func LastTemplateSync(ctx context.Context, db *gorm.DB, appID int64) (*TemplateSync, error) {
	var s TemplateSync
	err := db.WithContext(ctx).Where("app_id = ?", appID).Order("id DESC").First(&s).Error
	if err != nil {
		return nil, translate(err)
	}
	return &s, nil
}

// Campaign flags set when a template changes under a campaign.
const (
	HeldTemplateChanged = "template_changed"
	HeldTemplateDeleted = "template_deleted"
)

// FlagCampaignsForTemplate marks the draft and scheduled campaigns of a
// template with reason (the campaign scheduler holds flagged campaigns).
// It returns how many were flagged.
func FlagCampaignsForTemplate(ctx context.Context, db *gorm.DB, templateID int64, reason string) (int, error) {
	res := db.WithContext(ctx).Table("campaigns").
		Where("template_id = ? AND status IN ?", templateID, []string{"draft", "scheduled"}).
		Updates(map[string]any{"held_reason": reason, "updated_at": time.Now().UTC()})
	return int(res.RowsAffected), res.Error
}

// CampaignRef names a campaign for confirmations.
type CampaignRef struct {
	ID     int64
	Name   string
	Status string
}

// CampaignsUsingTemplate lists the campaigns that use a template and may
// still send (not completed or canceled).
func CampaignsUsingTemplate(ctx context.Context, db *gorm.DB, templateID int64) ([]CampaignRef, error) {
	var out []CampaignRef
	err := db.WithContext(ctx).Table("campaigns").Select("id, name, status").
		Where("template_id = ? AND status NOT IN ?", templateID, []string{"completed", "canceled"}).
		Order("id").Limit(100).Scan(&out).Error
	return out, err
}

// UpdateTemplateFields writes the named columns of a template.
func UpdateTemplateFields(ctx context.Context, db *gorm.DB, id int64, fields map[string]any) error {
	fields["updated_at"] = time.Now().UTC()
	return translate(db.WithContext(ctx).Model(&Template{}).Where("id = ?", id).Updates(fields).Error)
}
