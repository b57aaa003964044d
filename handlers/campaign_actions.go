package handlers

import (
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
	"github.com/minipush/minipush/wechat"
)

// campaignErrorKey maps a lifecycle refusal to its message key.
func campaignErrorKey(err error) (string, bool) {
	switch {
	case errors.Is(err, models.ErrCampaignHeld):
		return "cmp.err_held", true
	case errors.Is(err, models.ErrRunActive):
		return "cmp.err_run_active", true
	case errors.Is(err, models.ErrFiringTaken), errors.Is(err, models.ErrNotStartable), errors.Is(err, models.ErrNotDraft):
		return "cmp.err_state", true
	case errors.Is(err, models.ErrTemplateGone):
		return "cmp.template_deleted", true
	case errors.Is(err, models.ErrNoFiring):
		return "cmp.err_no_firing", true
	case errors.Is(err, models.ErrEmptyList):
		return "cmp.err_empty_list", true
	case errors.Is(err, models.ErrSelfApproval):
		return "cmp.err_self_approval", true
	case errors.Is(err, models.ErrNotPending):
		return "cmp.err_state", true
	}
	return "", false
}

// refuse turns a lifecycle refusal into a flash; other errors stay errors.
func (h *Campaigns) refuse(c echo.Context, cp *models.Campaign, err error) error {
	if key, ok := campaignErrorKey(err); ok {
		SetFlash(c, "error", T(c, key))
		return Redirect(c, campaignURL(cp.ID, ""))
	}
	return err
}

func (h *Campaigns) audit(c echo.Context, action string, cp *models.Campaign, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["name"] = cp.Name
	return models.Audit(c.Request().Context(), h.DB, Actor(c), action, "campaign", strconv.FormatInt(cp.ID, 10), detail)
}

// Schedule submits a draft: "send now" starts a run at once; a time or a
// cron schedule waits for its firing; an account that asks for approval
// puts it in front of an admin first.
func (h *Campaigns) Schedule(c echo.Context) error {
	cp, _, _, err := h.load(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	staff := CurrentStaff(c).ID
	now := h.Now().UTC()
	status, err := models.ScheduleCampaign(ctx, h.DB, cp, staff, now)
	if err != nil {
		return h.refuse(c, cp, err)
	}
	detail := map[string]any{"status": status, "schedule": cp.ScheduleKind}
	if status == models.CampaignScheduled && cp.ScheduleKind == models.ScheduleNow {
		run, err := h.startNow(c, cp.ID, now)
		if err != nil {
			return h.refuse(c, cp, err)
		}
		detail["run"] = run.ID
	}
	if err := h.audit(c, "campaign.schedule", cp, detail); err != nil {
		return err
	}
	SetFlash(c, "success", T(c, "cmp.flash_"+status))
	return Redirect(c, campaignURL(cp.ID, ""))
}

// startNow starts a run of a scheduled "send now" campaign and asks the job
// to expand it.
func (h *Campaigns) startNow(c echo.Context, id int64, now time.Time) (*models.CampaignRun, error) {
	cp, err := models.GetCampaign(c.Request().Context(), h.DB, id)
	if err != nil {
		return nil, err
	}
	run, err := models.StartCampaignRun(c.Request().Context(), h.DB, models.StartRun{CampaignID: id, ScheduledFor: now, Now: now,
		ExpectNextRunAt: cp.NextRunAt})
	if errors.Is(err, models.ErrFiringTaken) {
		// The campaigns job fired it first: that run is the one.
		return models.ActiveRun(c.Request().Context(), h.DB, id)
	}
	if err != nil {
		return nil, err
	}
	if h.Kick != nil {
		h.Kick()
	}
	return run, nil
}

// Approve schedules a campaign awaiting approval (admins; not the author).
func (h *Campaigns) Approve(c echo.Context) error {
	cp, _, _, err := h.load(c)
	if err != nil {
		return err
	}
	now := h.Now().UTC()
	if err := models.ApproveCampaign(c.Request().Context(), h.DB, cp, CurrentStaff(c).ID, now); err != nil {
		return h.refuseBack(c, cp, err)
	}
	detail := map[string]any{}
	if cp.ScheduleKind == models.ScheduleNow {
		run, err := h.startNow(c, cp.ID, now)
		if err != nil {
			return h.refuseBack(c, cp, err)
		}
		detail["run"] = run.ID
	}
	if err := h.audit(c, "campaign.approve", cp, detail); err != nil {
		return err
	}
	SetFlash(c, "success", T(c, "cmp.flash_approved"))
	return Redirect(c, h.back(c, cp))
}

// Unschedule takes a scheduled or pending campaign back to draft.
func (h *Campaigns) Unschedule(c echo.Context) error {
	cp, _, _, err := h.load(c)
	if err != nil {
		return err
	}
	changed, err := models.UnscheduleCampaign(c.Request().Context(), h.DB, cp, h.Now())
	if err != nil {
		return err
	}
	switch {
	case changed:
		if err := h.audit(c, "campaign.unschedule", cp, nil); err != nil {
			return err
		}
	case cp.Status != models.CampaignDraft: // running, done or canceled: nothing to take back
		SetFlash(c, "error", T(c, "cmp.err_state"))
		return Redirect(c, campaignURL(cp.ID, ""))
	}
	SetFlash(c, "success", T(c, "cmp.flash_draft"))
	return Redirect(c, campaignURL(cp.ID, ""))
}

// lifecycle runs one of pause/resume/cancel on the campaign's active run.
func (h *Campaigns) lifecycle(c echo.Context, action string) error {
	cp, _, _, err := h.load(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	now := h.Now().UTC()
	var changed bool
	run, rerr := models.ActiveRun(ctx, h.DB, cp.ID)
	if rerr != nil && !errors.Is(rerr, models.ErrNotFound) {
		return rerr
	}
	switch action {
	case "pause":
		if run != nil {
			changed, err = models.PauseRun(ctx, h.DB, run, models.ReasonStaffPause, now)
		}
	case "resume":
		if run != nil {
			changed, err = models.ResumeRun(ctx, h.DB, run, now)
			if changed && h.Kick != nil {
				h.Kick()
			}
		}
	case "cancel":
		changed, err = models.CancelCampaign(ctx, h.DB, cp, now)
	}
	if err != nil {
		return err
	}
	if changed {
		detail := map[string]any{}
		if run != nil {
			detail["run"] = run.ID
		}
		if err := h.audit(c, "campaign."+action, cp, detail); err != nil {
			return err
		}
		SetFlash(c, "success", T(c, "cmp.flash_"+action))
	} else {
		SetFlash(c, "info", T(c, "cmp.flash_nothing_"+action))
	}
	return Redirect(c, campaignURL(cp.ID, ""))
}

// Pause pauses the running run (idempotent).
func (h *Campaigns) Pause(c echo.Context) error { return h.lifecycle(c, "pause") }

// Resume resumes the paused run where it stopped (idempotent).
func (h *Campaigns) Resume(c echo.Context) error { return h.lifecycle(c, "resume") }

// Cancel cancels the campaign and its run still going (idempotent).
func (h *Campaigns) Cancel(c echo.Context) error { return h.lifecycle(c, "cancel") }

// Clone copies a campaign into a new draft.
func (h *Campaigns) Clone(c echo.Context) error {
	cp, _, _, err := h.load(c)
	if err != nil {
		return err
	}
	staff := CurrentStaff(c).ID
	name := T(c, "cmp.clone_name", cp.Name)
	if len([]rune(name)) > 60 {
		name = string([]rune(name)[:60])
	}
	nc, err := models.CloneCampaign(c.Request().Context(), h.DB, cp, name, &staff)
	if err != nil {
		return err
	}
	if err := h.audit(c, "campaign.clone", nc, map[string]any{"from": cp.ID}); err != nil {
		return err
	}
	SetFlash(c, "success", T(c, "cmp.flash_cloned", cp.Name))
	return Redirect(c, campaignURL(nc.ID, ""))
}

const maxListUpload = 64 << 20

// Upload replaces the campaign's recipient list with an uploaded CSV
// (streamed: one openid or business id per line).
func (h *Campaigns) Upload(c echo.Context) error {
	cp, _, _, err := h.load(c)
	if err != nil {
		return err
	}
	if !cp.Editable() {
		SetFlash(c, "error", T(c, "cmp.not_editable"))
		return Redirect(c, campaignURL(cp.ID, ""))
	}
	fh, err := c.FormFile("list")
	if err != nil || fh.Size == 0 {
		SetFlash(c, "error", T(c, "cmp.list_missing"))
		return Redirect(c, campaignURL(cp.ID, ""))
	}
	if fh.Size > maxListUpload {
		SetFlash(c, "error", T(c, "cmp.list_too_big", maxListUpload>>20))
		return Redirect(c, campaignURL(cp.ID, ""))
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	by := c.FormValue("by")
	res, err := models.ImportRecipients(c.Request().Context(), h.DB, cp, f, by)
	if errors.Is(err, models.ErrListColumn) {
		SetFlash(c, "error", T(c, "cmp.list_bad"))
		return Redirect(c, campaignURL(cp.ID, ""))
	}
	if err != nil {
		return err
	}
	if err := h.audit(c, "campaign.upload_list", cp, map[string]any{"lines": res.Lines, "added": res.Added, "missing": res.Missing, "by": by}); err != nil {
		return err
	}
	if res.Added == 0 && cp.Status != models.CampaignDraft {
		// A scheduled campaign whose new list holds nobody would fire to
		// nobody: back to draft, as Schedule would have refused it.
		if _, err := models.UnscheduleCampaign(c.Request().Context(), h.DB, cp, h.Now().UTC()); err != nil {
			return err
		}
		SetFlash(c, "error", T(c, "cmp.list_empty_unscheduled", components.FormatInt(res.Missing))+listDetail(c, res))
		return Redirect(c, campaignURL(cp.ID, ""))
	}
	SetFlash(c, "success", T(c, "cmp.list_done", components.FormatInt(res.Added), components.FormatInt(res.Missing))+listDetail(c, res))
	return Redirect(c, campaignURL(cp.ID, ""))
}

// listDetail says which column of an uploaded list was read and which
// values matched nobody (the first few), after the counts.
func listDetail(c echo.Context, res models.ListImport) string {
	var s string
	if res.Column != "" {
		s += " " + T(c, "cmp.list_column", res.Column)
	}
	if len(res.NotFound) > 0 {
		s += " " + T(c, "cmp.list_not_found", models.MaxListNotFound, strings.Join(res.NotFound, ", "))
	}
	return s
}

const maxTestOpenIDs = 10

// TestSend sends the campaign's message, personalised for each listed
// openid, through the delivery engine; each result polls until WeChat answered.
func (h *Campaigns) TestSend(c echo.Context) error {
	cp, t, a, err := h.load(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var openids []string
	for _, o := range strings.FieldsFunc(c.FormValue("openids"), func(r rune) bool { return r == ',' || r == '\n' || r == ' ' || r == '\r' }) {
		if o != "" {
			openids = append(openids, o)
		}
	}
	var problem string
	switch {
	case len(openids) == 0:
		problem = T(c, "cmp.test_openids_required")
	case len(openids) > maxTestOpenIDs:
		problem = T(c, "cmp.test_openids_many", maxTestOpenIDs)
	case t.Status == models.TemplateDeleted:
		problem = T(c, "cmp.template_deleted")
	case h.Queue == nil:
		problem = T(c, "tpl.test_send_unavailable")
	}
	users := make([]*models.User, len(openids))
	for i, o := range openids {
		if problem == "" && !openIDPattern.MatchString(o) {
			problem = T(c, "cmp.test_openid_invalid", o)
		}
		if problem == "" {
			if users[i], problem, err = testRecipient(ctx, h.DB, Lang(c), a.ID, o); err != nil {
				return err
			}
		}
	}
	if problem != "" {
		return RenderBare(c, http.StatusUnprocessableEntity, views.CampaignTestResults(problem, nil))
	}
	var results []views.TestResult
	vals := cp.Values()
	for i, u := range users {
		id, err := testSend(ctx, h.Queue, a, t, u, cp.Page, models.RenderValues(vals, u.Attributes))
		if err != nil {
			return err
		}
		o := openids[i]
		results = append(results, views.TestResult{OpenID: o, Poll: "/templates/" + strconv.FormatInt(t.ID, 10) + "/test-send/" + strconv.FormatInt(id, 10)})
		if err := h.audit(c, "campaign.test_send", cp, map[string]any{"openid": o, "delivery": id}); err != nil {
			return err
		}
	}
	return RenderBare(c, http.StatusOK, views.CampaignTestResults("", results))
}

// Progress answers the live progress of the campaign's latest run (or
// ?run=ID): htmx polls it while the run goes on.
func (h *Campaigns) Progress(c echo.Context) error {
	cp, _, _, err := h.load(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var run *models.CampaignRun
	if rid, _ := strconv.ParseInt(c.QueryParam("run"), 10, 64); rid > 0 {
		run, err = models.GetRun(ctx, h.DB, rid)
		if err == nil && run.CampaignID != cp.ID {
			err = models.ErrNotFound
		}
	} else {
		var runs []models.CampaignRun
		runs, err = models.ListRuns(ctx, h.DB, cp.ID, 1)
		if err == nil && len(runs) == 0 {
			err = models.ErrNotFound
		}
		if err == nil {
			run = &runs[0]
		}
	}
	if err != nil {
		return NotFound(err)
	}
	stats, err := models.RunStats(ctx, h.DB, run.AppID, run.ID)
	if err != nil {
		return err
	}
	d := progressData(c, cp, run, stats, h.Now())
	if err := h.liveFigures(c, run, &d); err != nil {
		return err
	}
	if was := c.QueryParam("was"); was != "" && was != run.Status {
		// The run moved on (finished, paused by itself): reload the page so
		// its status, buttons and runs table follow.
		c.Response().Header().Set("HX-Refresh", "true")
	}
	if run.Status == models.RunCompleted && (cp.Status == models.CampaignCompleted || cp.Status == models.CampaignScheduled) {
		t, err := models.GetTemplate(ctx, h.DB, cp.TemplateID)
		if err != nil {
			return err
		}
		if d.Resendable, err = models.ResendCandidates(ctx, h.DB, run, t); err != nil {
			return err
		}
		d.ResendURL = campaignURL(cp.ID, "/runs/"+strconv.FormatInt(run.ID, 10)+"/resend")
	}
	return RenderBare(c, http.StatusOK, views.CampaignProgress(d))
}

// Resend starts a run that repeats a finished run's transient failures to
// the users who can still be reached.
func (h *Campaigns) Resend(c echo.Context) error {
	cp, _, _, err := h.load(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	rid, _ := strconv.ParseInt(c.Param("run"), 10, 64)
	from, err := models.GetRun(ctx, h.DB, rid)
	if err != nil || from.CampaignID != cp.ID {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	run, err := models.StartResend(ctx, h.DB, cp, from, h.Now().UTC())
	if err != nil {
		return h.refuse(c, cp, err)
	}
	if h.Kick != nil {
		h.Kick()
	}
	if err := h.audit(c, "campaign.resend", cp, map[string]any{"from_run": from.ID, "run": run.ID}); err != nil {
		return err
	}
	SetFlash(c, "success", T(c, "cmp.flash_resend"))
	return Redirect(c, campaignURL(cp.ID, ""))
}

func progressData(c echo.Context, cp *models.Campaign, r *models.CampaignRun, stats map[string]map[string]int64, now time.Time) views.ProgressData {
	lang := Lang(c)
	d := views.ProgressData{RunID: r.ID, Status: r.Status, Reason: r.Reason, Audience: r.Audience, Expanding: r.ExpandedAt == nil,
		Counts: []views.StatusCount{
			{Status: models.DeliveryQueued, N: r.Queued}, {Status: models.DeliveryPaused, N: r.Paused},
			{Status: models.DeliverySending, N: r.Sending}, {Status: models.DeliverySent, N: r.Sent},
			{Status: models.DeliveryDelivered, N: r.Delivered}, {Status: models.DeliveryFailed, N: r.Failed},
			{Status: models.DeliverySkipped, N: r.Skipped}, {Status: models.DeliveryUnknown, N: r.Unknown}}}
	d.Finished = r.Sent + r.Delivered + r.Failed + r.Skipped + r.Unknown
	if r.Audience > 0 {
		d.Percent = int(d.Finished * 100 / r.Audience)
	}
	switch r.Status {
	case models.RunExpanding, models.RunSending, models.RunPaused:
		d.Poll = campaignURL(cp.ID, "/progress?run="+strconv.FormatInt(r.ID, 10)+"&was="+r.Status)
	}
	for detail, n := range stats[models.DeliveryFailed] {
		g := views.Group{Key: detail, N: n}
		if code, err := strconv.Atoi(detail); err == nil {
			g.Text = components.Translate(lang, "wechat.error", wechat.Explain(code, lang))
		} else {
			g.Text = components.Translate(lang, "delivery.failed."+detail)
		}
		d.Failures = append(d.Failures, g)
	}
	for detail, n := range stats[models.DeliverySkipped] {
		d.Skips = append(d.Skips, views.Group{Key: detail, N: n, Text: components.Translate(lang, "delivery.skipped."+detail)})
	}
	sort.Slice(d.Failures, func(i, j int) bool { return d.Failures[i].N > d.Failures[j].N })
	sort.Slice(d.Skips, func(i, j int) bool { return d.Skips[i].N > d.Skips[j].N })
	// Rate: answered sends per second since the run started (paused time included).
	answered := r.Sent + r.Delivered + r.Failed + r.Unknown
	if r.StartedAt != nil {
		end := now
		if r.FinishedAt != nil {
			end = *r.FinishedAt
		}
		if secs := end.Sub(*r.StartedAt).Seconds(); secs >= 1 && answered > 0 {
			d.Rate = float64(answered) / secs
			left := r.Queued + r.Sending
			if r.Status == models.RunSending && left > 0 {
				d.ETA = (time.Duration(float64(left)/d.Rate) * time.Second).Round(time.Second).String()
			}
		}
	}
	return d
}
