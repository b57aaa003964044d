package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
	"github.com/minipush/minipush/wechat"
)

// Dashboard is the landing page after sign-in: today's and the week's
// messages, why they failed, accounts paused or near their quota,
// campaigns under way, templates and who can receive them, and (for
// admins) what stands in the way of sending.
type Dashboard struct{ Env }

// dashboardDays is how many days the chart shows, today included.
const dashboardDays = 7

// dashboardTemplates is how many templates the dashboard lists at most.
const dashboardTemplates = 30

// Show shows the dashboard, for one account (?app=ID) or for all.
func (h *Dashboard) Show(c echo.Context) error {
	ctx := c.Request().Context()
	now := h.Now()
	apps, err := models.ListApps(ctx, h.DB)
	if err != nil {
		return err
	}
	d := views.DashboardData{}
	names := map[int64]string{}
	for _, a := range apps {
		d.Apps = append(d.Apps, views.DashApp{ID: a.ID, Name: a.Name})
		names[a.ID] = a.Name
		if strconv.FormatInt(a.ID, 10) == c.QueryParam("app") {
			d.AppID = a.ID
		}
	}
	act, err := models.LoadActivity(ctx, h.DB, d.AppID, now, h.Location, dashboardDays)
	if err != nil {
		return err
	}
	h.activity(c, &d, act)
	if err := h.accounts(c, &d, now); err != nil {
		return err
	}
	if err := h.campaigns(c, &d); err != nil {
		return err
	}
	if err := h.templates(c, &d, names); err != nil {
		return err
	}
	if d.Steps, err = h.steps(ctx); err != nil {
		return err
	}
	return Render(c, http.StatusOK, views.Page{Title: T(c, "nav.dashboard"), Nav: "dashboard"}, views.Dashboard(d))
}

func totals(dc models.DayCount) views.DashTotals {
	t := views.DashTotals{Sent: dc.Sent, Delivered: dc.Delivered, Failed: dc.Failed, Rate: "—"}
	if r := dc.DeliveryRate(); r >= 0 {
		t.Rate = fmt.Sprintf("%.1f%%", r)
	}
	return t
}

// activity fills the totals, the chart and the failures by cause.
func (h *Dashboard) activity(c echo.Context, d *views.DashboardData, act models.Activity) {
	lang := Lang(c)
	d.Today, d.Week = totals(act.Today()), totals(act.Week())
	sent := views.DashSeries{Key: "sent", Name: T(c, "dash.sent")}
	delivered := views.DashSeries{Key: "delivered", Name: T(c, "dash.delivered")}
	failed := views.DashSeries{Key: "failed", Name: T(c, "dash.failed")}
	for _, day := range act.Days {
		d.Chart.Days = append(d.Chart.Days, day.Day.Format("01-02"))
		sent.Data = append(sent.Data, day.Sent)
		delivered.Data = append(delivered.Data, day.Delivered)
		failed.Data = append(failed.Data, day.Failed)
	}
	d.Chart.Series = []views.DashSeries{sent, delivered, failed}
	w := act.Week()
	d.Chart.Empty = w.Sent+w.Delivered+w.Failed == 0

	today := map[string]int64{}
	for _, f := range act.FailuresToday {
		today[f.Detail] = f.N
	}
	canList := components.CanOpen(c.Request().Context(), "/deliveries")
	for _, f := range act.FailuresWeek {
		row := views.DashFailure{Code: f.Detail, Today: today[f.Detail], Week: f.N}
		q := url.Values{"status": {models.DeliveryFailed}}
		if code, err := strconv.Atoi(f.Detail); err == nil {
			row.Text = components.Translate(lang, "wechat.error", wechat.Explain(code, lang))
			q.Set("errcode", f.Detail)
		} else {
			row.Text = components.Translate(lang, "delivery.failed."+f.Detail)
		}
		if d.AppID != 0 {
			q.Set("app", strconv.FormatInt(d.AppID, 10))
		}
		if canList {
			row.Href = "/deliveries?" + q.Encode()
		}
		d.Failures = append(d.Failures, row)
	}
}

// accounts fills the quota and pause table and, for admins, setup issues.
func (h *Dashboard) accounts(c echo.Context, d *views.DashboardData, now time.Time) error {
	ctx := c.Request().Context()
	states, err := models.LoadAccountStates(ctx, h.DB, d.AppID, now)
	if err != nil {
		return err
	}
	d.ShowIssues = components.CanOpen(ctx, "/settings/apps")
	for _, s := range states {
		a := views.DashAccount{ID: s.App.ID, Name: s.App.Name, AppID: s.App.AppID, QuotaPercent: -1,
			Paused: s.Paused, Disabled: s.App.Disabled, Near: s.QuotaNear()}
		href := "/settings/apps/" + strconv.FormatInt(s.App.ID, 10)
		if components.CanOpen(ctx, href) {
			a.Href = href
		}
		if s.QuotaUsed < 0 {
			a.QuotaText = T(c, "dash.quota_unset")
		} else {
			a.QuotaText = T(c, "dash.quota_of", components.FormatInt(s.QuotaUsed), components.FormatInt(s.App.DailyQuota))
			a.QuotaPercent = int(min(s.QuotaUsed*100/s.App.DailyQuota, 100))
		}
		if s.Paused {
			d.Paused++
			a.PauseText = T(c, "pause."+s.App.PauseReason)
			a.PausedUntil = components.FormatTimePtr(ctx, s.App.PausedUntil)
		}
		if a.Near {
			d.Near++
		}
		d.Accounts = append(d.Accounts, a)
		if d.ShowIssues {
			for _, code := range s.Issues {
				to := href
				if code == models.SetupSyncFailed { // the templates page syncs again and says why
					to = "/templates?app=" + strconv.FormatInt(s.App.ID, 10)
				}
				d.Issues = append(d.Issues, views.DashIssue{App: s.App.Name, Href: to, Text: T(c, "dash.issue."+code)})
			}
		}
	}
	return nil
}

// campaigns fills the runs under way and the held campaigns; they link
// to the campaign only for roles that can open it.
func (h *Dashboard) campaigns(c echo.Context, d *views.DashboardData) error {
	ctx := c.Request().Context()
	runs, err := models.ActiveRuns(ctx, h.DB, d.AppID)
	if err != nil {
		return err
	}
	link := func(id int64) string {
		if u := campaignURL(id, ""); components.CanOpen(ctx, u) {
			return u
		}
		return ""
	}
	for _, r := range runs {
		d.Runs = append(d.Runs, views.DashRun{Name: r.Name, Href: link(r.CampaignID), Status: r.Status, Reason: r.Reason,
			Finished: r.Finished(), Audience: r.Audience, Failed: r.Failed, Percent: r.Percent()})
	}
	held, err := models.HeldCampaigns(ctx, h.DB, d.AppID)
	if err != nil {
		return err
	}
	for _, hc := range held {
		d.Held = append(d.Held, views.DashHeld{Name: hc.Name, Href: link(hc.ID), Text: T(c, "cmp.held_reason."+hc.HeldReason)})
	}
	return nil
}

// templates fills the templates held and their reachable users.
func (h *Dashboard) templates(c echo.Context, d *views.DashboardData, names map[int64]string) error {
	ctx := c.Request().Context()
	reach, err := models.TemplatesReach(ctx, h.DB, d.AppID, dashboardTemplates)
	if err != nil {
		return err
	}
	for _, t := range reach {
		row := views.DashTemplate{Title: t.Title, App: names[t.AppID], Kind: T(c, "tpl.kind."+t.Kind),
			Reachable: components.FormatInt(t.Reachable)}
		if t.Capped {
			row.Reachable = T(c, "dash.reachable_capped", row.Reachable)
		}
		if href := "/templates/" + strconv.FormatInt(t.ID, 10); components.CanOpen(ctx, href) {
			row.Href = href
		}
		d.Templates = append(d.Templates, row)
	}
	return nil
}

// dashStep is a getting-started step: shown to roles that may call what
// it asks for, ticked when done.
type dashStep struct {
	key, href string
	needs     [2]string // method and path the step's action takes
	done      func(models.Overview) bool
}

var dashSteps = []dashStep{
	{"app", "/settings/apps/new", [2]string{http.MethodPost, "/settings/apps"}, func(o models.Overview) bool { return o.Apps > 0 }},
	{"templates", "/templates", [2]string{http.MethodPost, "/templates/sync"}, func(o models.Overview) bool { return o.Templates > 0 }},
	{"staff", "/settings/staff/new", [2]string{http.MethodPost, "/settings/staff"}, func(o models.Overview) bool { return o.Staff > 1 }},
	{"apikey", "/settings/apikeys", [2]string{http.MethodPost, "/settings/apikeys"}, func(o models.Overview) bool { return o.APIKeys > 0 }},
	{"users", "/users/import", [2]string{http.MethodPost, "/users/import"}, func(o models.Overview) bool { return o.HasUsers }},
	{"test_send", "/templates", [2]string{http.MethodPost, "/templates/0/test-send"}, func(o models.Overview) bool { return o.HasSends }},
	{"campaign", "/campaigns/new", [2]string{http.MethodPost, "/campaigns"}, func(o models.Overview) bool { return o.Campaigns > 0 }},
}

// steps returns the getting-started steps the viewer can do, or none
// once they are all done.
func (h *Dashboard) steps(ctx context.Context) ([]views.DashStep, error) {
	o, err := models.CountOverview(ctx, h.DB)
	if err != nil {
		return nil, err
	}
	lang := components.Req(ctx).Lang
	var out []views.DashStep
	pending := false
	for _, s := range dashSteps {
		if !components.CanCall(ctx, s.needs[0], s.needs[1]) || !components.CanOpen(ctx, s.href) {
			continue
		}
		done := s.done(o)
		pending = pending || !done
		out = append(out, views.DashStep{Key: s.key, Text: components.Translate(lang, "dash.step."+s.key), Href: s.href, Done: done})
	}
	if !pending {
		return nil, nil
	}
	return out, nil
}
