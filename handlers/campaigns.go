package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
	"github.com/minipush/minipush/wechat"
)

// Campaigns is the campaigns area: list, compose, the campaign page with
// live progress, scheduling and the run lifecycle.
type Campaigns struct {
	Env
	// Queue takes test sends (the delivery engine; nil: unavailable).
	Queue Enqueuer
	// Kick asks the campaigns job to run now (expand a run just started);
	// nil: the job's next tick does it.
	Kick func()
}

const campaignPageSize = 50

func (h *Campaigns) page(c echo.Context, title string) views.Page {
	crumbs := []views.Crumb{{Label: T(c, "nav.group.messaging")}, {Label: T(c, "nav.campaigns"), Href: "/campaigns"}}
	if title != "" {
		crumbs = append(crumbs, views.Crumb{Label: title})
	}
	return views.Page{Title: T(c, "nav.campaigns"), Nav: "campaigns", Crumbs: crumbs}
}

func campaignURL(id int64, suffix string) string {
	return "/campaigns/" + strconv.FormatInt(id, 10) + suffix
}

// List shows campaigns with their state and last result.
func (h *Campaigns) List(c echo.Context) error {
	ctx := c.Request().Context()
	apps, err := models.ListApps(ctx, h.DB)
	if err != nil {
		return err
	}
	d := views.CampaignListData{App: c.QueryParam("app"), Status: c.QueryParam("status")}
	appNames := map[int64]string{}
	for _, a := range apps {
		d.Apps = append(d.Apps, components.Option{Value: strconv.FormatInt(a.ID, 10), Label: a.Name})
		appNames[a.ID] = a.Name
	}
	f := models.CampaignFilter{Status: d.Status, Limit: campaignPageSize}
	f.AppID, _ = strconv.ParseInt(d.App, 10, 64)
	f.BeforeID, _ = strconv.ParseInt(c.QueryParam("before"), 10, 64)
	rows, err := models.ListCampaigns(ctx, h.DB, f)
	if err != nil {
		return err
	}
	ids := make([]int64, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	last, err := models.LastRuns(ctx, h.DB, ids)
	if err != nil {
		return err
	}
	tplTitles := map[int64]string{}
	for _, r := range rows {
		if _, ok := tplTitles[r.TemplateID]; !ok {
			if t, err := models.GetTemplate(ctx, h.DB, r.TemplateID); err == nil {
				tplTitles[r.TemplateID] = t.Title
			}
		}
		row := views.CampaignRow{ID: r.ID, Name: r.Name, AppName: appNames[r.AppID], Template: tplTitles[r.TemplateID],
			Status: r.Status, Held: r.HeldReason, Schedule: scheduleSummary(c, &r)}
		if r.NextRunAt != nil {
			row.Next = campaignTime(&r, *r.NextRunAt)
		}
		if lr := last[r.ID]; lr != nil {
			row.LastRun = &views.RunSummary{Status: lr.Status, Audience: lr.Audience, Done: lr.Sent + lr.Delivered,
				Failed: lr.Failed + lr.Unknown, Skipped: lr.Skipped, At: components.FormatTime(ctx, lr.ScheduledFor)}
		}
		d.Rows = append(d.Rows, row)
	}
	if s := CurrentStaff(c); s != nil && s.Role == models.RoleAdmin {
		if d.Pending, err = models.CountPendingCampaigns(ctx, h.DB); err != nil {
			return err
		}
	}
	if len(rows) == campaignPageSize {
		d.Next = "/campaigns?app=" + d.App + "&status=" + d.Status + "&before=" + strconv.FormatInt(rows[len(rows)-1].ID, 10)
	}
	return Render(c, http.StatusOK, h.page(c, ""), views.CampaignList(d))
}

// scheduleSummary says in words when a campaign fires.
func scheduleSummary(c echo.Context, cp *models.Campaign) string {
	switch cp.ScheduleKind {
	case models.ScheduleOnce:
		if cp.RunAt != nil {
			return T(c, "cmp.sched_once_at", cp.RunAt.In(cp.Location()).Format("2006-01-02 15:04"), cp.Timezone)
		}
	case models.ScheduleCron:
		return views.DescribeCron(c.Request().Context(), cp.CronExpr) + " (" + cp.Timezone + ")"
	}
	return T(c, "cmp.sched_now")
}

// New shows the compose form; without a template it asks for one first.
func (h *Campaigns) New(c echo.Context) error {
	ctx := c.Request().Context()
	tplID, _ := strconv.ParseInt(c.QueryParam("template"), 10, 64)
	if tplID == 0 {
		opts, err := h.templateOptions(ctx)
		if err != nil {
			return err
		}
		return Render(c, http.StatusOK, h.page(c, T(c, "cmp.new")), views.CampaignPick(opts))
	}
	t, a, err := h.template(ctx, tplID)
	if err != nil {
		return err
	}
	f := campaignForm{Name: t.Title, TemplateID: t.ID, AudienceKind: models.AudienceSubscribed, ScheduleKind: models.ScheduleNow,
		Timezone: a.Timezone, Misfire: models.MisfireSkip, Values: map[string]models.Value{}}
	return Render(c, http.StatusOK, h.page(c, T(c, "cmp.new")), views.CampaignForm(h.formData(c, t, a, &f, nil, nil)))
}

func (h *Campaigns) templateOptions(ctx context.Context) ([]components.Option, error) {
	tpls, err := models.ListTemplates(ctx, h.DB, models.TemplateFilter{Status: models.TemplateActive})
	if err != nil {
		return nil, err
	}
	apps, err := models.ListApps(ctx, h.DB)
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	for _, a := range apps {
		names[a.ID] = a.Name
	}
	out := make([]components.Option, 0, len(tpls))
	for _, t := range tpls {
		out = append(out, components.Option{Value: strconv.FormatInt(t.ID, 10), Label: names[t.AppID] + " · " + t.Title})
	}
	return out, nil
}

func (h *Campaigns) template(ctx context.Context, id int64) (*models.Template, *models.App, error) {
	t, err := models.GetTemplate(ctx, h.DB, id)
	if err != nil {
		return nil, nil, NotFound(err)
	}
	a, err := models.GetApp(ctx, h.DB, t.AppID)
	return t, a, err
}

// load reads the campaign named by :id with its template and account.
func (h *Campaigns) load(c echo.Context) (*models.Campaign, *models.Template, *models.App, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return nil, nil, nil, echo.NewHTTPError(http.StatusNotFound)
	}
	ctx := c.Request().Context()
	cp, err := models.GetCampaign(ctx, h.DB, id)
	if err != nil {
		return nil, nil, nil, NotFound(err)
	}
	t, a, err := h.template(ctx, cp.TemplateID)
	return cp, t, a, err
}

// Create saves a new draft.
func (h *Campaigns) Create(c echo.Context) error {
	ctx := c.Request().Context()
	f := bindCampaignForm(c)
	t, a, err := h.template(ctx, f.TemplateID)
	if err != nil {
		return err
	}
	errs := f.validate(c, t, h.Now())
	if errs.Any() {
		return Render(c, http.StatusUnprocessableEntity, h.page(c, T(c, "cmp.new")), views.CampaignForm(h.formData(c, t, a, &f, errs, nil)))
	}
	staff := CurrentStaff(c).ID
	cp := &models.Campaign{AppID: a.ID, TemplateID: t.ID, Status: models.CampaignDraft, CreatedBy: &staff}
	f.apply(cp)
	if err := models.CreateCampaign(ctx, h.DB, cp); err != nil {
		return err
	}
	if err := models.Audit(ctx, h.DB, Actor(c), "campaign.create", "campaign", strconv.FormatInt(cp.ID, 10), f.auditDetail(a)); err != nil {
		return err
	}
	SetFlash(c, "success", T(c, "cmp.saved", cp.Name))
	return Redirect(c, campaignURL(cp.ID, ""))
}

// Edit shows the compose form of a campaign that has not run yet.
func (h *Campaigns) Edit(c echo.Context) error {
	cp, t, a, err := h.load(c)
	if err != nil {
		return err
	}
	if !cp.Editable() {
		SetFlash(c, "error", T(c, "cmp.not_editable"))
		return Redirect(c, campaignURL(cp.ID, ""))
	}
	f := formFromCampaign(cp)
	return Render(c, http.StatusOK, h.page(c, cp.Name), views.CampaignForm(h.formData(c, t, a, &f, nil, cp)))
}

// Update saves the compose form; a scheduled campaign goes back to draft
// (schedule it again), and a held one is released when its values fit the
// template as it is now.
func (h *Campaigns) Update(c echo.Context) error {
	cp, t, a, err := h.load(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if !cp.Editable() {
		SetFlash(c, "error", T(c, "cmp.not_editable"))
		return Redirect(c, campaignURL(cp.ID, ""))
	}
	f := bindCampaignForm(c)
	f.TemplateID = cp.TemplateID
	errs := f.validate(c, t, h.Now())
	if errs.Any() {
		return Render(c, http.StatusUnprocessableEntity, h.page(c, cp.Name), views.CampaignForm(h.formData(c, t, a, &f, errs, cp)))
	}
	wasScheduled := scheduledNow(cp)
	listAud := cp.AudienceSpec()
	f.apply(cp)
	if f.AudienceKind == models.AudienceList { // keep what the upload recorded
		aud := cp.AudienceSpec()
		aud.ListLines, aud.ListMissing, aud.ListBy = listAud.ListLines, listAud.ListMissing, listAud.ListBy
		cp.SetAudience(aud)
	}
	fields := map[string]any{"name": cp.Name, "page": cp.Page, "data": cp.Data, "audience": cp.Audience,
		"schedule_kind": cp.ScheduleKind, "run_at": cp.RunAt, "cron_expr": cp.CronExpr, "timezone": cp.Timezone,
		"misfire_policy": cp.MisfirePolicy, "mp_state": cp.MPState, "lang": cp.Lang, "end_at": cp.EndAt,
		"auto_pause_pct": cp.AutoPausePct, "auto_pause_window": cp.AutoPauseWindow, "held_reason": "", "status": models.CampaignDraft, "next_run_at": nil, "approved_by": nil}
	if err := models.UpdateCampaignFields(ctx, h.DB, cp.ID, fields); err != nil {
		return err
	}
	detail := f.auditDetail(a)
	if cp.HeldReason != "" {
		detail["released_hold"] = cp.HeldReason
	}
	if err := models.Audit(ctx, h.DB, Actor(c), "campaign.update", "campaign", strconv.FormatInt(cp.ID, 10), detail); err != nil {
		return err
	}
	saved := "cmp.saved"
	if wasScheduled {
		saved = "cmp.saved_unscheduled"
	}
	SetFlash(c, "success", T(c, saved, cp.Name))
	return Redirect(c, campaignURL(cp.ID, ""))
}

// scheduledNow: the campaign waits for a firing or for approval, which
// saving an edit takes back (schedule it again).
func scheduledNow(cp *models.Campaign) bool {
	return cp.Status == models.CampaignScheduled || cp.Status == models.CampaignPending
}

// Check answers the compose form's live check (htmx): each keyword's
// value against its rule, the preview card, and the audience size with
// how many can be reached and how many would fail.
func (h *Campaigns) Check(c echo.Context) error {
	ctx := c.Request().Context()
	f := bindCampaignForm(c)
	t, _, err := h.template(ctx, f.TemplateID)
	if err != nil {
		return err
	}
	errs := f.validate(c, t, h.Now())
	cp := &models.Campaign{AppID: t.AppID, TemplateID: t.ID}
	cp.ID, _ = strconv.ParseInt(c.FormValue("campaign"), 10, 64)
	f.apply(cp)
	d := views.CampaignCheckData{Title: t.Title, Keywords: h.keywordRows(c, t, &f, errs, nil), Errors: len(errs)}
	// Preview as a sample member of the audience sees it.
	if m, err := models.SampleMember(ctx, h.DB, cp, t); err == nil {
		rendered := models.RenderValues(f.Values, m.Attributes)
		for i := range d.Keywords {
			if f.Values[d.Keywords[i].Key].Personalised() {
				d.Keywords[i].Value = rendered[d.Keywords[i].Key]
			}
		}
		d.SampleOpenID = m.OpenID
	}
	if cp.AudienceSpec().Kind != models.AudienceList || cp.ID != 0 {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if n, err := models.CountAudience(cctx, h.DB, cp, t, 500); err == nil {
			v := audienceCountView(n)
			d.Audience = &v
		}
	}
	return RenderBare(c, http.StatusOK, views.CampaignCheck(d))
}

// Show is the campaign page.
func (h *Campaigns) Show(c echo.Context) error {
	cp, t, a, err := h.load(c)
	if err != nil {
		return err
	}
	d, err := h.detail(c, cp, t, a)
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, h.page(c, cp.Name), views.CampaignShow(d))
}

// campaignTime is a time of a campaign's schedule as its operator set it:
// on the campaign's clock, with the zone named (the console's own zone may
// differ, and a bare time would be read as either).
func campaignTime(cp *models.Campaign, t time.Time) string {
	loc := cp.Location()
	return t.In(loc).Format("2006-01-02 15:04") + " " + loc.String()
}

func (h *Campaigns) detail(c echo.Context, cp *models.Campaign, t *models.Template, a *models.App) (views.CampaignDetail, error) {
	ctx := c.Request().Context()
	aud := cp.AudienceSpec()
	d := views.CampaignDetail{ID: cp.ID, Name: cp.Name, Status: cp.Status, StatusReason: cp.StatusReason, RejectReason: cp.RejectReason, Held: cp.HeldReason,
		AppName: a.Name, TemplateID: t.ID, TemplateTitle: t.Title, TemplateDeleted: t.Status == models.TemplateDeleted,
		Page: cp.Page, MPState: cp.MPState, Lang: cp.Lang, Schedule: scheduleSummary(c, cp), ScheduleKind: cp.ScheduleKind,
		Timezone: cp.Timezone, Misfire: cp.MisfirePolicy, Editable: cp.Editable(),
		Audience: views.AudienceView{Kind: aud.Kind, Tags: aud.Tags, Conds: condViews(aud.Conds), ListLines: aud.ListLines, ListMissing: aud.ListMissing},
		Keywords: h.keywordRows(c, t, nil, nil, cp.Values()), Pending: cp.Status == models.CampaignPending,
		NeedsApproval: a.RequireApproval}
	if cp.NextRunAt != nil {
		d.Next = campaignTime(cp, *cp.NextRunAt)
	}
	if cp.EndAt != nil {
		d.EndAt = campaignTime(cp, *cp.EndAt)
	}
	// A canceled or completed campaign fires no more: no firings to list.
	if cp.ScheduleKind == models.ScheduleCron && cp.Status != models.CampaignCanceled && cp.Status != models.CampaignCompleted {
		firings, _ := models.NextFirings(cp.CronExpr, cp.Location(), h.Now(), cp.EndAt, 5)
		for _, f := range firings {
			lt := f.In(cp.Location())
			d.Firings = append(d.Firings, lt.Format("2006-01-02 15:04")+" "+T(c, "cron.dow."+strconv.Itoa(int(lt.Weekday())))+" "+cp.Timezone)
		}
	}
	if s := CurrentStaff(c); s != nil && cp.Status == models.CampaignPending {
		self := (cp.SubmittedBy != nil && *cp.SubmittedBy == s.ID) || (cp.CreatedBy != nil && *cp.CreatedBy == s.ID)
		d.CanApprove = s.Role == models.RoleAdmin && !self
	}
	if r, err := models.ActiveRun(ctx, h.DB, cp.ID); err == nil {
		d.ActiveRun = r.ID
		d.RunPaused = r.Status == models.RunPaused
	} else if !errors.Is(err, models.ErrNotFound) {
		return d, err
	}
	runs, err := models.ListRuns(ctx, h.DB, cp.ID, 20)
	if err != nil {
		return d, err
	}
	for _, r := range runs {
		d.Runs = append(d.Runs, views.RunRow{ID: r.ID, Status: r.Status, Reason: r.Reason, At: components.FormatTime(ctx, r.ScheduledFor),
			Audience: r.Audience, Done: r.Sent + r.Delivered, Failed: r.Failed + r.Unknown, Skipped: r.Skipped})
	}
	if len(runs) > 0 {
		d.ProgressURL = campaignURL(cp.ID, "/progress?run="+strconv.FormatInt(runs[0].ID, 10)+"&was="+runs[0].Status)
	}
	return d, nil
}

// Audience answers the audience counts of a saved campaign (loaded lazily).
func (h *Campaigns) Audience(c echo.Context) error {
	cp, t, _, err := h.load(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 20*time.Second)
	defer cancel()
	n, err := models.CountAudience(ctx, h.DB, cp, t, 500)
	if err != nil {
		return err
	}
	return RenderBare(c, http.StatusOK, views.AudienceCounts(audienceCountView(n)))
}

// keywordRows builds the keyword rows of the form or page: value, fallback,
// rule and error per keyword.
func (h *Campaigns) keywordRows(c echo.Context, t *models.Template, f *campaignForm, errs Errors, vals map[string]models.Value) []views.CampaignKeyword {
	kws, _ := t.KeywordList()
	if f != nil {
		vals = f.Values
	}
	out := make([]views.CampaignKeyword, len(kws))
	for i, k := range kws {
		wk := wechat.Keyword{Label: k.Label, Key: k.Key, Type: k.Type, Enum: k.Enum}
		v := vals[k.Key]
		out[i] = views.CampaignKeyword{Label: k.Label, Key: k.Key, Type: k.Type, Enum: k.Enum, Rule: wechat.DescribeRule(wk, Lang(c)),
			Value: v.Value, Fallback: v.Fallback, Personalised: v.Personalised(), Error: errs["kw."+k.Key], FallbackError: errs["fb."+k.Key]}
	}
	return out
}
