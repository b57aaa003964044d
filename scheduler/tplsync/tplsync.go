// Package tplsync keeps an app's templates in step with WeChat's
// gettemplate: new ones are inserted, changed ones updated, and those gone
// upstream marked deleted. A change or deletion under a draft or scheduled
// campaign flags that campaign.
package tplsync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat"
)

// Lister is the part of the WeChat client sync needs.
type Lister interface {
	GetTemplates(ctx context.Context) ([]wechat.Template, error)
}

// Trigger kinds recorded in the sync history.
const (
	TriggerManual   = "manual"
	TriggerSchedule = "schedule"
)

// Kind maps WeChat's template type to ours.
func Kind(wxType int) string {
	if wxType == wechat.TemplateLongTerm {
		return models.TemplateLongTerm
	}
	return models.TemplateOneTime
}

// Keywords converts parsed keywords to their stored form.
func Keywords(kws []wechat.Keyword) []models.TemplateKeyword {
	out := make([]models.TemplateKeyword, len(kws))
	for i, k := range kws {
		out[i] = models.TemplateKeyword{Label: k.Label, Key: k.Key, Type: k.Type, Enum: k.Enum}
	}
	return out
}

// FromWeChat builds the stored form of a WeChat template for app.
func FromWeChat(appID int64, t wechat.Template, source string) (*models.Template, error) {
	m := &models.Template{AppID: appID, TemplateID: t.PriTmplID, Title: t.Title, Content: t.Content,
		Example: t.Example, Kind: Kind(t.Type), Status: models.TemplateActive, Source: source}
	kws, err := t.Keywords()
	m.SetKeywords(Keywords(kws))
	return m, err
}

// Sync fetches the app's templates and applies the differences. The run is
// recorded in the sync history whether it succeeds or not.
func Sync(ctx context.Context, db *gorm.DB, app *models.App, client Lister, trigger string, staffID *int64, now time.Time) (*models.TemplateSync, error) {
	run := &models.TemplateSync{AppID: app.ID, TriggerKind: trigger, StaffID: staffID, StartedAt: now}
	remote, err := client.GetTemplates(ctx)
	if err == nil {
		err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return apply(ctx, tx, app, remote, run, now) })
	}
	run.FinishedAt = time.Now().UTC()
	if err != nil {
		run.Inserted, run.Updated, run.Deleted, run.Unchanged, run.Flagged = 0, 0, 0, 0, 0
		run.Error = err.Error()
	}
	if rerr := models.RecordTemplateSync(ctx, db, run); rerr != nil {
		return run, errors.Join(err, rerr)
	}
	return run, err
}

func apply(ctx context.Context, tx *gorm.DB, app *models.App, remote []wechat.Template, run *models.TemplateSync, now time.Time) error {
	local, err := models.ListTemplates(ctx, tx, models.TemplateFilter{AppID: app.ID})
	if err != nil {
		return err
	}
	byID := make(map[string]*models.Template, len(local))
	for i := range local {
		byID[local[i].TemplateID] = &local[i]
	}
	seen := make(map[string]bool, len(remote))
	var parseErrs []error
	for _, rt := range remote {
		seen[rt.PriTmplID] = true
		fresh, perr := FromWeChat(app.ID, rt, models.SourceSync)
		if perr != nil {
			parseErrs = append(parseErrs, fmt.Errorf("%s (%s): %w", rt.PriTmplID, rt.Title, perr))
		}
		fresh.SyncedAt = &now
		old, ok := byID[rt.PriTmplID]
		if !ok {
			if err := models.CreateTemplate(ctx, tx, fresh); err != nil {
				return err
			}
			run.Inserted++
			continue
		}
		if old.ContentHash == fresh.ContentHash && old.Status == models.TemplateActive {
			run.Unchanged++
			if err := models.UpdateTemplateFields(ctx, tx, old.ID, map[string]any{"synced_at": now}); err != nil {
				return err
			}
			continue
		}
		fields := map[string]any{"title": fresh.Title, "content": fresh.Content, "example": fresh.Example, "kind": fresh.Kind,
			"keywords": fresh.Keywords, "content_hash": fresh.ContentHash, "status": models.TemplateActive, "synced_at": now}
		if old.Source == models.SourceManual {
			fields["source"] = models.SourceSync
		}
		if err := models.UpdateTemplateFields(ctx, tx, old.ID, fields); err != nil {
			return err
		}
		run.Updated++
		if old.ContentHash != fresh.ContentHash {
			n, err := models.FlagCampaignsForTemplate(ctx, tx, old.ID, models.HeldTemplateChanged)
			if err != nil {
				return err
			}
			run.Flagged += n
		}
	}
	for _, lt := range local {
		// Manual entries exist because the API is out of reach: sync never removes them.
		if seen[lt.TemplateID] || lt.Status == models.TemplateDeleted || lt.Source == models.SourceManual {
			continue
		}
		if err := models.UpdateTemplateFields(ctx, tx, lt.ID, map[string]any{"status": models.TemplateDeleted, "synced_at": now}); err != nil {
			return err
		}
		run.Deleted++
		n, err := models.FlagCampaignsForTemplate(ctx, tx, lt.ID, models.HeldTemplateDeleted)
		if err != nil {
			return err
		}
		run.Flagged += n
	}
	if len(parseErrs) > 0 {
		// Stored anyway (WeChat sends them); the history shows what did not parse.
		run.Error = errors.Join(parseErrs...).Error()
	}
	return nil
}
