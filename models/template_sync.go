package models

import (
	"context"
	"errors"
	"time"

	"github.com/minipush/minipush/wechat"
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

// TemplateLister is the part of the WeChat client a template sync needs.
type TemplateLister interface {
	GetTemplates(ctx context.Context) ([]wechat.Template, error)
}

// Trigger kinds recorded in the sync history.
const (
	SyncTriggerManual   = "manual"
	SyncTriggerSchedule = "schedule"
)

// TemplateKindOf maps WeChat's template type to ours.
func TemplateKindOf(wxType int) string {
	if wxType == wechat.TemplateLongTerm {
		return TemplateLongTerm
	}
	return TemplateOneTime
}

// KeywordsFromWeChat converts parsed keywords to their stored form.
func KeywordsFromWeChat(kws []wechat.Keyword) []TemplateKeyword {
	out := make([]TemplateKeyword, len(kws))
	for i, k := range kws {
		out[i] = TemplateKeyword{Label: k.Label, Key: k.Key, Type: k.Type, Enum: k.Enum}
	}
	return out
}

// TemplateFromWeChat builds the stored form of a WeChat template for app.
func TemplateFromWeChat(appID int64, t wechat.Template, source string) (*Template, error) {
	m := &Template{AppID: appID, TemplateID: t.PriTmplID, Title: t.Title, Content: t.Content,
		Example: t.Example, Kind: TemplateKindOf(t.Type), Status: TemplateActive, Source: source}
	kws, err := t.Keywords()
	m.SetKeywords(KeywordsFromWeChat(kws))
	return m, err
}

// SyncTemplates keeps an app's templates in step with WeChat's gettemplate:
// new ones are inserted, changed ones updated, and those gone upstream
// marked deleted; a change or deletion under a draft or scheduled campaign
// flags that campaign. One upstream template that cannot be stored (a title
// longer than the column, say) is skipped and named in the run's outcome;
// the others sync. The run is recorded in the sync history whether it
// succeeds or not, its Error holding a SyncOutcome (codes, never Go error
// text). A failure to reach WeChat is a *SyncFetchError. The console's
// "sync" and the template-sync job call it.
func SyncTemplates(ctx context.Context, db *gorm.DB, app *App, client TemplateLister, trigger string, staffID *int64, now time.Time) (*TemplateSync, error) {
	run := &TemplateSync{AppID: app.ID, TriggerKind: trigger, StaffID: staffID, StartedAt: now}
	var out SyncOutcome
	remote, err := client.GetTemplates(ctx)
	if err != nil {
		out.Code = fetchCode(err)
		err = &SyncFetchError{Err: err}
	} else {
		err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return applyTemplateSync(ctx, tx, app, remote, run, &out, now) })
		if err != nil {
			out.Code = SyncStoreFailed
		}
	}
	run.FinishedAt = time.Now().UTC()
	if err != nil {
		run.Inserted, run.Updated, run.Deleted, run.Unchanged, run.Flagged = 0, 0, 0, 0, 0
		out.Skipped = nil
	}
	run.Error = out.encode()
	if rerr := RecordTemplateSync(ctx, db, run); rerr != nil {
		return run, errors.Join(err, rerr)
	}
	return run, err
}

func applyTemplateSync(ctx context.Context, tx *gorm.DB, app *App, remote []wechat.Template, run *TemplateSync, out *SyncOutcome, now time.Time) error {
	local, err := ListTemplates(ctx, tx, TemplateFilter{AppID: app.ID})
	if err != nil {
		return err
	}
	byID := make(map[string]*Template, len(local))
	for i := range local {
		byID[local[i].TemplateID] = &local[i]
	}
	seen := make(map[string]bool, len(remote))
	for _, rt := range remote {
		seen[rt.PriTmplID] = true
		fresh, perr := TemplateFromWeChat(app.ID, rt, SourceSync)
		if perr != nil {
			// Stored anyway (WeChat sends them); the history names what did not parse.
			out.Skipped = append(out.Skipped, SyncProblem{TemplateID: rt.PriTmplID, Title: clip(rt.Title, 40), Code: SyncUnparsed})
		}
		if code := templateTooLong(fresh); code != "" {
			out.Skipped = append(out.Skipped, SyncProblem{TemplateID: clip(rt.PriTmplID, 64), Title: clip(rt.Title, 40), Code: code})
			continue
		}
		fresh.SyncedAt = &now
		// Each template in a savepoint: one the database refuses is skipped, not the run.
		err := tx.Transaction(func(tx *gorm.DB) error { return syncOne(ctx, tx, fresh, byID[rt.PriTmplID], run, now) })
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			out.Skipped = append(out.Skipped, SyncProblem{TemplateID: clip(rt.PriTmplID, 64), Title: clip(rt.Title, 40), Code: SyncStoreRefused})
		}
	}
	for _, lt := range local {
		// Manual entries exist because the API is out of reach: sync never removes them.
		if seen[lt.TemplateID] || lt.Status == TemplateDeleted || lt.Source == SourceManual {
			continue
		}
		if err := UpdateTemplateFields(ctx, tx, lt.ID, map[string]any{"status": TemplateDeleted, "synced_at": now}); err != nil {
			return err
		}
		run.Deleted++
		n, err := FlagCampaignsForTemplate(ctx, tx, lt.ID, HeldTemplateDeleted)
		if err != nil {
			return err
		}
		run.Flagged += n
	}
	return nil
}

// syncOne inserts fresh, or updates old from it, counting what it did.
func syncOne(ctx context.Context, tx *gorm.DB, fresh, old *Template, run *TemplateSync, now time.Time) error {
	if old == nil {
		if err := CreateTemplate(ctx, tx, fresh); err != nil {
			return err
		}
		run.Inserted++
		return nil
	}
	if old.ContentHash == fresh.ContentHash && old.Status == TemplateActive {
		run.Unchanged++
		return UpdateTemplateFields(ctx, tx, old.ID, map[string]any{"synced_at": now})
	}
	fields := map[string]any{"title": fresh.Title, "content": fresh.Content, "example": fresh.Example, "kind": fresh.Kind,
		"keywords": fresh.Keywords, "content_hash": fresh.ContentHash, "status": TemplateActive, "synced_at": now}
	if old.Source == SourceManual {
		fields["source"] = SourceSync
	}
	if err := UpdateTemplateFields(ctx, tx, old.ID, fields); err != nil {
		return err
	}
	run.Updated++
	if old.ContentHash != fresh.ContentHash {
		n, err := FlagCampaignsForTemplate(ctx, tx, old.ID, HeldTemplateChanged)
		if err != nil {
			return err
		}
		run.Flagged += n
	}
	return nil
}
