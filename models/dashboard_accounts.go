package models

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// AccountState is an account as the dashboard shows it: today's quota, a
// pause and what stands in the way of sending (setup issues).
type AccountState struct {
	App App
	// QuotaUsed is the daily quota taken today (China time), -1 when the
	// account has no quota set in minipush (WeChat's own applies).
	QuotaUsed int64
	// Paused: sends are paused until App.PausedUntil for App.PauseReason.
	Paused bool
	// Issues are setup problems, as stable codes (Setup* below).
	Issues []string
}

// Setup issues of an account (the console words them).
const (
	SetupDisabled     = "disabled"      // the account is switched off
	SetupNoSecret     = "no_secret"     // no AppSecret: no access token, nothing can be sent
	SetupNoPushToken  = "no_push_token" // no push Token: WeChat's pushes cannot be verified, so no credits arrive
	SetupNoAESKey     = "no_aes_key"    // safe mode without an EncodingAESKey
	SetupNoTemplates  = "no_templates"  // no template synced or added
	SetupSyncFailed   = "sync_failed"   // the last template sync failed
	QuotaNearPercent  = 80              // a quota this full is shown as near
	reachableCap      = 10000           // reachable users are counted up to this (an index range of at most this many entries per template)
	dashboardListSize = 20              // runs and held campaigns listed at most
)

// QuotaNear tells whether the account has used QuotaNearPercent of its daily quota.
func (s AccountState) QuotaNear() bool {
	return s.App.DailyQuota > 0 && s.QuotaUsed*100 >= s.App.DailyQuota*QuotaNearPercent
}

// LoadAccountStates returns every account (or one, appID ≠ 0) with its
// quota used today, pause and setup issues.
func LoadAccountStates(ctx context.Context, db *gorm.DB, appID int64, now time.Time) ([]AccountState, error) {
	db = db.WithContext(ctx)
	var apps []App
	q := db.Order("name, id")
	if appID != 0 {
		q = q.Where("id = ?", appID)
	}
	if err := q.Find(&apps).Error; err != nil {
		return nil, err
	}
	var used []struct {
		AppID int64
		Used  int64
	}
	if err := db.Table("send_windows").Select("app_id, used").Where("win = ?", DayWindow(now)).Scan(&used).Error; err != nil {
		return nil, err
	}
	usedBy := map[int64]int64{}
	for _, u := range used {
		usedBy[u.AppID] = u.Used
	}
	tpls, err := CountTemplatesByApp(ctx, db)
	if err != nil {
		return nil, err
	}
	out := make([]AccountState, len(apps))
	for i, a := range apps {
		s := AccountState{App: a, QuotaUsed: -1, Paused: a.PausedUntil != nil && a.PausedUntil.After(now)}
		if a.DailyQuota > 0 {
			s.QuotaUsed = usedBy[a.ID]
		}
		if s.Issues, err = setupIssues(ctx, db, &a, tpls[a.ID]); err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func setupIssues(ctx context.Context, db *gorm.DB, a *App, templates int64) ([]string, error) {
	var out []string
	add := func(ok bool, code string) {
		if !ok {
			out = append(out, code)
		}
	}
	add(!a.Disabled, SetupDisabled)
	add(a.SecretEnc != "", SetupNoSecret)
	add(a.PushTokenEnc != "", SetupNoPushToken)
	add(a.PushMode != PushSafe || a.AESKeyEnc != "", SetupNoAESKey)
	add(templates > 0, SetupNoTemplates)
	last, err := LastTemplateSync(ctx, db, a.ID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return nil, err
	default:
		add(last.Error == "", SetupSyncFailed)
	}
	return out, nil
}

// RunProgress is a campaign run under way.
type RunProgress struct {
	CampaignRun
	Name string // the campaign's
}

// Finished counts the run's deliveries that reached an end (or unknown).
func (r RunProgress) Finished() int64 {
	return r.Sent + r.Delivered + r.Failed + r.Skipped + r.Unknown
}

// Percent is Finished out of the audience (0–100).
func (r RunProgress) Percent() int {
	if r.Audience <= 0 {
		return 0
	}
	return int(min(r.Finished()*100/r.Audience, 100))
}

// ActiveRuns lists runs expanding, sending or paused (newest first), of
// app (0: all), with their campaign's name.
func ActiveRuns(ctx context.Context, db *gorm.DB, appID int64) ([]RunProgress, error) {
	var out []RunProgress
	q := db.WithContext(ctx).Table("campaign_runs r").Select("r.*, c.name AS name").
		Joins("JOIN campaigns c ON c.id = r.campaign_id").
		Where("r.status IN ?", []string{RunExpanding, RunSending, RunPaused})
	if appID != 0 {
		q = q.Where("r.app_id = ?", appID)
	}
	err := q.Order("r.id DESC").Limit(dashboardListSize).Scan(&out).Error
	return out, err
}

// HeldCampaign is a draft or scheduled campaign held by template drift.
type HeldCampaign struct {
	ID         int64
	AppID      int64 `gorm:"column:app_id"`
	Name       string
	HeldReason string
}

// HeldCampaigns lists campaigns held because their template changed or
// vanished upstream, of app (0: all).
func HeldCampaigns(ctx context.Context, db *gorm.DB, appID int64) ([]HeldCampaign, error) {
	var out []HeldCampaign
	q := db.WithContext(ctx).Table("campaigns").Select("id, app_id, name, held_reason").
		Where("held_reason <> '' AND status IN ?", []string{CampaignDraft, CampaignScheduled})
	if appID != 0 {
		q = q.Where("app_id = ?", appID)
	}
	err := q.Order("id DESC").Limit(dashboardListSize).Scan(&out).Error
	return out, err
}

// TemplateReach is a template an account holds and how many of its users
// can receive it now: a credit left (one-time) or an accepted long-term
// subscription.
type TemplateReach struct {
	Template
	Reachable int64
	// Capped: there are at least Reachable (the count stops there).
	Capped bool
}

// TemplatesReach lists the active templates of app (0: all) with their
// reachable users, counted through the (template_id, credits, user_id)
// index and capped at reachableCap per template.
func TemplatesReach(ctx context.Context, db *gorm.DB, appID int64, limit int) ([]TemplateReach, error) {
	db = db.WithContext(ctx)
	var tpls []Template
	q := db.Where("status = ?", TemplateActive).Order("app_id, title, id").Limit(limit)
	if appID != 0 {
		q = q.Where("app_id = ?", appID)
	}
	if err := q.Find(&tpls).Error; err != nil {
		return nil, err
	}
	out := make([]TemplateReach, len(tpls))
	for i, t := range tpls {
		cond := "credits > 0"
		args := []any{t.ID}
		if t.LongTerm() {
			cond = "long_term = ? AND status = ?"
			args = append(args, true, SubAccept)
		}
		var n int64
		err := db.Raw("SELECT COUNT(*) FROM (SELECT 1 FROM subscriptions WHERE template_id = ? AND "+cond+" LIMIT ?) s",
			append(args, reachableCap)...).Scan(&n).Error
		if err != nil {
			return nil, err
		}
		out[i] = TemplateReach{Template: t, Reachable: n, Capped: n >= reachableCap}
	}
	return out, nil
}
