package handlers

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/wechat"
)

// The compose form of a campaign: binding, validation against the
// template's rules, and its view.

// campaignForm is the compose form.
type campaignForm struct {
	Name, Page, MPState, Lang          string
	TemplateID                         int64
	AudienceKind, Tags                 string
	Conds                              []models.Cond
	ScheduleKind, RunAt, CronExpr      string
	Timezone, Misfire, EndAt, AutoStop string
	AutoWindow                         string
	Values                             map[string]models.Value

	runAt, endAt          *time.Time
	autoPause, autoWindow int
}

const maxConds = 3

func bindCampaignForm(c echo.Context) campaignForm {
	f := campaignForm{Name: trim(c.FormValue("name")), Page: trim(c.FormValue("page")), MPState: c.FormValue("mp_state"),
		Lang: c.FormValue("lang"), AudienceKind: c.FormValue("audience"), Tags: trim(c.FormValue("tags")),
		ScheduleKind: c.FormValue("schedule"), RunAt: trim(c.FormValue("run_at")), CronExpr: trim(c.FormValue("cron")),
		Timezone: trim(c.FormValue("timezone")), Misfire: c.FormValue("misfire"), EndAt: trim(c.FormValue("end_at")),
		AutoStop: trim(c.FormValue("auto_pause")), AutoWindow: trim(c.FormValue("auto_pause_window")), Values: map[string]models.Value{}}
	f.TemplateID, _ = strconv.ParseInt(c.FormValue("template"), 10, 64)
	for i := 0; i < maxConds; i++ {
		n := strconv.Itoa(i)
		f.Conds = append(f.Conds, models.Cond{Attr: trim(c.FormValue("cond_attr" + n)), Op: c.FormValue("cond_op" + n), Value: trim(c.FormValue("cond_value" + n))})
	}
	form, _ := c.FormParams()
	for k, v := range form {
		if key, ok := strings.CutPrefix(k, "kw."); ok && len(v) > 0 {
			val := f.Values[key]
			val.Value = strings.TrimSpace(v[0])
			f.Values[key] = val
		}
		if key, ok := strings.CutPrefix(k, "fb."); ok && len(v) > 0 {
			val := f.Values[key]
			val.Fallback = strings.TrimSpace(v[0])
			f.Values[key] = val
		}
	}
	return f
}

func formFromCampaign(cp *models.Campaign) campaignForm {
	a := cp.AudienceSpec()
	f := campaignForm{Name: cp.Name, Page: cp.Page, MPState: cp.MPState, Lang: cp.Lang, TemplateID: cp.TemplateID,
		AudienceKind: a.Kind, Tags: strings.Join(a.Tags, ", "), Conds: a.Conds, ScheduleKind: cp.ScheduleKind,
		CronExpr: cp.CronExpr, Timezone: cp.Timezone, Misfire: cp.MisfirePolicy, Values: cp.Values()}
	loc := cp.Location()
	if cp.RunAt != nil {
		f.RunAt = cp.RunAt.In(loc).Format("2006-01-02T15:04")
	}
	if cp.EndAt != nil {
		f.EndAt = cp.EndAt.In(loc).Format("2006-01-02")
	}
	if cp.AutoPausePct > 0 {
		f.AutoStop = strconv.Itoa(cp.AutoPausePct)
	}
	if cp.AutoPauseWindow > 0 {
		f.AutoWindow = strconv.Itoa(cp.AutoPauseWindow)
	}
	for len(f.Conds) < maxConds {
		f.Conds = append(f.Conds, models.Cond{})
	}
	return f
}

// validate checks the form against the template as of now (a schedule
// must still fire); messages per field.
func (f *campaignForm) validate(c echo.Context, t *models.Template, now time.Time) Errors {
	errs := Errors{}
	lang := Lang(c)
	if t.Status == models.TemplateDeleted {
		errs.Add("template", T(c, "cmp.template_deleted"))
	}
	switch {
	case f.Name == "":
		errs.Add("name", T(c, "form.required"))
	case utf8.RuneCountInString(f.Name) > 60:
		errs.Add("name", T(c, "form.too_long", 60))
	}
	if utf8.RuneCountInString(f.Page) > models.MaxPageLen {
		errs.Add("page", T(c, "form.too_long", models.MaxPageLen))
	}
	if f.MPState != "" && !models.MPState(f.MPState).Valid() {
		errs.Add("mp_state", T(c, "cmp.invalid_choice"))
	}
	if f.Lang != "" && !wechatLangs[f.Lang] {
		errs.Add("lang", T(c, "cmp.invalid_choice"))
	}
	kws, _ := t.KeywordList()
	for _, k := range kws {
		wk := wechat.Keyword{Label: k.Label, Key: k.Key, Type: k.Type, Enum: k.Enum}
		v := f.Values[k.Key]
		check := func(field, value string) {
			var ve *wechat.ValueError
			if err := wechat.CheckValue(wk, value); errors.As(err, &ve) {
				errs.Add(field, ve.Message(lang))
			} else if err != nil {
				errs.Add(field, T(c, "cmp.invalid_value"))
			}
		}
		switch {
		case v.Value == "":
			errs.Add("kw."+k.Key, T(c, "form.required"))
		case v.Personalised():
			if utf8.RuneCountInString(v.Value) > 200 {
				errs.Add("kw."+k.Key, T(c, "form.too_long", 200))
			}
			if v.Fallback != "" {
				check("fb."+k.Key, v.Fallback)
			}
		default:
			check("kw."+k.Key, v.Value)
		}
	}
	switch f.AudienceKind {
	case models.AudienceSubscribed, models.AudienceList:
	case models.AudienceTags:
		if len(f.tags()) == 0 {
			errs.Add("tags", T(c, "cmp.tags_required"))
		}
	case models.AudienceAttrs:
		n := 0
		for i, cd := range f.Conds {
			if cd.Attr == "" {
				continue
			}
			n++
			if strings.ContainsAny(cd.Attr, "\"\\") {
				errs.Add("cond"+strconv.Itoa(i), T(c, "cmp.attr_name_invalid"))
			}
			ok := false
			for _, op := range models.CondOps {
				ok = ok || cd.Op == op
			}
			if !ok {
				errs.Add("cond"+strconv.Itoa(i), T(c, "cmp.invalid_choice"))
			}
			if n, err := strconv.ParseFloat(cd.Value, 64); (cd.Op == "gt" || cd.Op == "lt") && (err != nil || math.IsNaN(n) || math.IsInf(n, 0)) {
				errs.Add("cond"+strconv.Itoa(i), T(c, "cmp.cond_number", cd.Value))
			}
		}
		if n == 0 {
			errs.Add("cond0", T(c, "cmp.conds_required"))
		}
	default:
		errs.Add("audience", T(c, "cmp.invalid_choice"))
	}
	loc, err := models.LoadZone(f.Timezone)
	if err != nil {
		errs.Add("timezone", T(c, "cmp.timezone_invalid"))
		loc = time.UTC
	}
	switch f.ScheduleKind {
	case models.ScheduleNow:
	case models.ScheduleOnce:
		t, err := time.ParseInLocation("2006-01-02T15:04", f.RunAt, loc)
		switch {
		case f.RunAt == "":
			errs.Add("run_at", T(c, "form.required"))
		case err != nil:
			errs.Add("run_at", T(c, "cmp.run_at_invalid"))
		case t.Format("2006-01-02T15:04") != f.RunAt:
			// A wall-clock time the zone skips (clocks go forward): Go
			// moves it, an hour early or late; the operator should choose.
			errs.Add("run_at", T(c, "cmp.run_at_skipped", f.RunAt, f.Timezone))
		default:
			u := t.UTC()
			f.runAt = &u
		}
	case models.ScheduleCron:
		if _, err := models.ParseCron(f.CronExpr); err != nil {
			if i, field := models.BadCronField(f.CronExpr); i >= 0 {
				errs.Add("cron", T(c, "cmp.cron_bad_"+models.CronFields[i], field))
			} else {
				errs.Add("cron", T(c, "cmp.cron_invalid"))
			}
		}
	default:
		errs.Add("schedule", T(c, "cmp.invalid_choice"))
	}
	if f.EndAt != "" {
		if t, err := time.ParseInLocation("2006-01-02", f.EndAt, loc); err != nil {
			errs.Add("end_at", T(c, "cmp.end_at_invalid"))
		} else {
			u := t.Add(24*time.Hour - time.Second).UTC()
			f.endAt = &u
		}
	}
	f.checkFires(c, errs, now)
	if f.Misfire != models.MisfireSkip && f.Misfire != models.MisfireRun {
		errs.Add("misfire", T(c, "cmp.invalid_choice"))
	}
	if f.AutoStop != "" {
		n, err := strconv.Atoi(f.AutoStop)
		if err != nil || n < 1 || n > 100 {
			errs.Add("auto_pause", T(c, "cmp.auto_pause_invalid"))
		} else {
			f.autoPause = n
		}
	}
	if f.AutoWindow != "" {
		n, err := strconv.Atoi(f.AutoWindow)
		if err != nil || n < models.AutoPauseMinAnswers || n > models.AutoPauseMaxWindow {
			errs.Add("auto_pause_window", T(c, "cmp.auto_pause_window_invalid"))
		} else {
			f.autoWindow = n
		}
	}
	return errs
}

// checkFires refuses a schedule that is well formed but would never fire
// (a time already past, a date like 31 February, an end date before the
// first firing): saved, it could only be refused later at Schedule.
func (f *campaignForm) checkFires(c echo.Context, errs Errors, now time.Time) {
	for _, field := range []string{"timezone", "schedule", "run_at", "cron", "end_at"} {
		if _, bad := errs[field]; bad {
			return
		}
	}
	cp := models.Campaign{ScheduleKind: f.ScheduleKind, RunAt: f.runAt, CronExpr: f.CronExpr, Timezone: f.Timezone, EndAt: f.endAt}
	if _, err := cp.FirstFiring(now); !errors.Is(err, models.ErrNoFiring) {
		return
	}
	switch {
	case f.ScheduleKind == models.ScheduleOnce:
		errs.Add("run_at", T(c, "cmp.run_at_past"))
	case f.endAt != nil:
		errs.Add("end_at", T(c, "cmp.cron_ends_first"))
	default:
		errs.Add("cron", T(c, "cmp.cron_never"))
	}
}

func (f *campaignForm) tags() []string {
	var out []string
	for _, t := range strings.FieldsFunc(f.Tags, func(r rune) bool { return r == ',' || r == '，' || r == '\n' }) {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// apply copies the validated form into a campaign.
func (f *campaignForm) apply(cp *models.Campaign) {
	cp.Name, cp.Page, cp.MPState, cp.Lang = f.Name, f.Page, f.MPState, f.Lang
	cp.SetValues(f.Values)
	a := models.Audience{Kind: f.AudienceKind}
	switch f.AudienceKind {
	case models.AudienceTags:
		a.Tags = f.tags()
	case models.AudienceAttrs:
		for _, cd := range f.Conds {
			if cd.Attr != "" {
				a.Conds = append(a.Conds, cd)
			}
		}
	}
	cp.SetAudience(a)
	cp.ScheduleKind, cp.CronExpr, cp.Timezone, cp.MisfirePolicy = f.ScheduleKind, "", f.Timezone, f.Misfire
	cp.RunAt, cp.EndAt, cp.AutoPausePct, cp.AutoPauseWindow = nil, f.endAt, f.autoPause, f.autoWindow
	switch f.ScheduleKind {
	case models.ScheduleOnce:
		cp.RunAt = f.runAt
	case models.ScheduleCron:
		cp.CronExpr = f.CronExpr
	}
}

func (f *campaignForm) auditDetail(a *models.App) map[string]any {
	return map[string]any{"app": a.AppID, "name": f.Name, "template": f.TemplateID, "audience": f.AudienceKind,
		"schedule": f.ScheduleKind, "run_at": f.RunAt, "cron": f.CronExpr, "timezone": f.Timezone}
}

func (h *Campaigns) formData(c echo.Context, t *models.Template, a *models.App, f *campaignForm, errs Errors, cp *models.Campaign) views.CampaignFormData {
	for len(f.Conds) < maxConds {
		f.Conds = append(f.Conds, models.Cond{})
	}
	var id int64
	action := "/campaigns"
	if cp != nil { // editing
		id, action = cp.ID, campaignURL(cp.ID, "")
	}
	return views.CampaignFormData{ID: id, Action: action, Unschedules: cp != nil && scheduledNow(cp), AppName: a.Name, TemplateID: t.ID, TemplateTitle: t.Title,
		Name: f.Name, Page: f.Page, MPState: f.MPState, Lang: f.Lang, Audience: f.AudienceKind, Tags: f.Tags, Conds: condViews(f.Conds),
		Schedule: f.ScheduleKind, RunAt: f.RunAt, Cron: f.CronExpr, Timezone: f.Timezone, Misfire: f.Misfire, EndAt: f.EndAt,
		AutoPause: f.AutoStop, AutoWindow: f.AutoWindow, Keywords: h.keywordRows(c, t, f, errs, nil), Errors: errs}
}

func condViews(cs []models.Cond) []views.Cond {
	out := make([]views.Cond, len(cs))
	for i, c := range cs {
		out[i] = views.Cond{Attr: c.Attr, Op: c.Op, Value: c.Value}
	}
	return out
}

func audienceCountView(n models.AudienceCount) views.AudienceCount {
	return views.AudienceCount{Size: n.Size, Reachable: n.Reachable, Sampled: n.Sampled, WouldFail: n.WouldFail}
}
