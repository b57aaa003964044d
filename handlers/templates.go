package handlers

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
	"github.com/minipush/minipush/wechat"
)

// Templates is the templates area: list, sync, public library, manual
// entry, the template page with live value checks, delete.
type Templates struct {
	Env
	HTTP *http.Client // for WeChat calls; nil: the client's default
	// Queue takes test sends (the delivery engine); nil: test sends are
	// answered as unavailable.
	Queue Enqueuer
}

func (h *Templates) page(c echo.Context, title string) views.Page {
	crumbs := []views.Crumb{{Label: T(c, "nav.group.messaging")}, {Label: T(c, "nav.templates"), Href: "/templates"}}
	if title != "" {
		crumbs = append(crumbs, views.Crumb{Label: title})
	}
	return views.Page{Title: T(c, "nav.templates"), Nav: "templates", Crumbs: crumbs}
}

func (h *Templates) appOptions(ctx context.Context) ([]components.Option, map[int64]models.App, error) {
	apps, err := models.ListApps(ctx, h.DB)
	if err != nil {
		return nil, nil, err
	}
	opts := make([]components.Option, 0, len(apps))
	byID := make(map[int64]models.App, len(apps))
	for _, a := range apps {
		opts = append(opts, components.Option{Value: strconv.FormatInt(a.ID, 10), Label: a.Name + " (" + a.AppID + ")"})
		byID[a.ID] = a
	}
	return opts, byID, nil
}

// List shows templates filtered by account, kind and status.
func (h *Templates) List(c echo.Context) error {
	ctx := c.Request().Context()
	opts, apps, err := h.appOptions(ctx)
	if err != nil {
		return err
	}
	d := views.TemplateListData{Apps: opts, App: c.QueryParam("app"), Kind: c.QueryParam("kind"), Status: c.QueryParam("status")}
	f := models.TemplateFilter{Kind: d.Kind, Status: d.Status}
	f.AppID, _ = strconv.ParseInt(d.App, 10, 64)
	// The actions act on the account the list is filtered to (or the only one).
	if a, ok := apps[f.AppID]; ok {
		d.SyncApp, d.SyncName = d.App, a.Name
	} else if len(opts) == 1 {
		d.SyncApp = opts[0].Value
		for _, a := range apps {
			d.SyncName = a.Name
		}
	}
	rows, err := models.ListTemplates(ctx, h.DB, f)
	if err != nil {
		return err
	}
	for _, t := range rows {
		kws, _ := t.KeywordList()
		r := views.TemplateRow{ID: t.ID, AppName: apps[t.AppID].Name, TemplateID: t.TemplateID, Title: t.Title, Kind: t.Kind,
			Status: t.Status, Source: t.Source, Keywords: len(kws)}
		if t.SyncedAt != nil {
			r.SyncedAt = components.FormatTime(ctx, *t.SyncedAt)
		}
		d.Rows = append(d.Rows, r)
	}
	return Render(c, http.StatusOK, h.page(c, ""), views.TemplateList(d))
}

// formApp loads the app named by the "app" form or query value.
func (h *Templates) formApp(c echo.Context) (*models.App, error) {
	id, err := strconv.ParseInt(c.FormValue("app"), 10, 64)
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusBadRequest, T(c, "tpl.pick_account"))
	}
	a, err := models.GetApp(c.Request().Context(), h.DB, id)
	return a, NotFound(err)
}

// Sync pulls an account's templates from WeChat now.
func (h *Templates) Sync(c echo.Context) error {
	a, err := h.formApp(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	client, err := models.WeChatClient(h.DB, h.Sealer, a, h.HTTP)
	if err != nil {
		SetFlash(c, "error", T(c, "tpl.sync_failed", a.Name, ExplainWeChat(err, Lang(c))))
		return Redirect(c, "/templates?app="+strconv.FormatInt(a.ID, 10))
	}
	staffID := CurrentStaff(c).ID
	run, err := models.SyncTemplates(ctx, h.DB, a, client, models.SyncTriggerManual, &staffID, h.Now())
	o := run.Outcome()
	if aerr := models.Audit(ctx, h.DB, Actor(c), "template.sync", "app", a.AppID, map[string]any{
		"inserted": run.Inserted, "updated": run.Updated, "deleted": run.Deleted, "flagged": run.Flagged,
		"skipped": len(o.Skipped), "outcome": o.Code}); aerr != nil {
		return aerr
	}
	h.syncFlash(c, a, run, err)
	return Redirect(c, "/templates?app="+strconv.FormatInt(a.ID, 10))
}

const libraryPageSize = 30

// byPick orders picked keywords (position 1, 2, …) before the others (0).
func byPick(pos int) int {
	if pos == 0 {
		return 1 << 20
	}
	return pos
}

// Library browses WeChat's public templates: categories, then titles, then
// the keywords of one title to pick from.
func (h *Templates) Library(c echo.Context) error {
	a, err := h.formApp(c)
	if err != nil {
		return err
	}
	d := views.LibraryData{App: strconv.FormatInt(a.ID, 10), AppName: a.Name, Category: c.QueryParam("category")}
	if err := h.fillLibrary(c, a, &d, c.QueryParam("tid"), nil); err != nil {
		return err
	}
	return Render(c, http.StatusOK, h.page(c, T(c, "tpl.library")), views.Library(d))
}

// fillLibrary fills the library page: categories, the category's titles
// (marking those the account has already), and the keywords of title tid,
// the picked ones first in the order they were picked.
func (h *Templates) fillLibrary(c echo.Context, a *models.App, d *views.LibraryData, tid string, picked []int64) error {
	ctx := c.Request().Context()
	client, err := models.WeChatClient(h.DB, h.Sealer, a, h.HTTP)
	if err != nil {
		d.Error = ExplainWeChat(err, Lang(c))
		return nil
	}
	cats, err := client.GetCategory(ctx)
	if err != nil {
		d.Error = ExplainWeChat(err, Lang(c))
		return nil
	}
	for _, cat := range cats {
		d.Categories = append(d.Categories, components.Option{Value: strconv.FormatInt(cat.ID, 10), Label: cat.Name})
	}
	if d.Category == "" {
		return nil
	}
	catID, err := strconv.ParseInt(d.Category, 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, T(c, "ux.lib.bad_link"))
	}
	start, _ := strconv.Atoi(c.QueryParam("start"))
	titles, total, err := client.GetPubTemplateTitles(ctx, []int64{catID}, start, libraryPageSize)
	if err != nil {
		d.Error = ExplainWeChat(err, Lang(c))
		return nil
	}
	have, err := models.ListTemplates(ctx, h.DB, models.TemplateFilter{AppID: a.ID, Status: models.TemplateActive})
	if err != nil {
		return err
	}
	added := make(map[string]bool, len(have))
	for _, t := range have {
		added[t.Title] = true
	}
	for _, t := range titles {
		d.Titles = append(d.Titles, views.LibraryTitle{TID: t.TID, Title: t.Title, Kind: models.TemplateKindOf(t.Type), Added: added[t.Title]})
	}
	base := "/templates/library?app=" + d.App + "&category=" + d.Category
	if start > 0 {
		d.PrevHref = base + "&start=" + strconv.Itoa(max(0, start-libraryPageSize))
	}
	if start+libraryPageSize < total {
		d.NextHref = base + "&start=" + strconv.Itoa(start+libraryPageSize)
	}
	if tid == "" {
		return nil
	}
	d.TID, err = strconv.ParseInt(tid, 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, T(c, "ux.lib.bad_link"))
	}
	for _, t := range titles {
		if t.TID == d.TID {
			d.TitleName = t.Title
		}
	}
	kws, err := client.GetPubTemplateKeywords(ctx, d.TID)
	if err != nil {
		d.Error = ExplainWeChat(err, Lang(c))
		return nil
	}
	pos := make(map[int64]int, len(picked))
	for i, k := range picked {
		pos[k] = i + 1
	}
	for _, k := range kws {
		d.Keywords = append(d.Keywords, views.LibraryKeyword{KID: k.KID, Name: k.Name, Example: k.Example,
			Rule: keywordRule(k.Rule, Lang(c)), Checked: pos[k.KID] > 0})
	}
	slices.SortStableFunc(d.Keywords, func(x, y views.LibraryKeyword) int { return byPick(pos[x.KID]) - byPick(pos[y.KID]) })
	if d.TitleName == "" {
		d.TitleName = "#" + tid
	}
	return nil
}

// LibraryAdd adds a template from the public library (addtemplate), then
// syncs so it appears with its content.
func (h *Templates) LibraryAdd(c echo.Context) error {
	a, err := h.formApp(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	form, _ := c.FormParams()
	var kids []int64
	for _, s := range form["kid"] {
		if k, err := strconv.ParseInt(s, 10, 64); err == nil && !slices.Contains(kids, k) {
			kids = append(kids, k)
		}
	}
	scene := strings.TrimSpace(c.FormValue("scene_desc"))
	errs := Errors{}
	if len(kids) < 2 || len(kids) > 5 {
		errs.Add("kid", T(c, "tpl.lib_kids", len(kids)))
	}
	if utf8.RuneCountInString(scene) > 15 {
		errs.Add("scene_desc", T(c, "form.too_long", 15))
	}
	tid := c.FormValue("tid")
	tidN, _ := strconv.ParseInt(tid, 10, 64)
	d := views.LibraryData{App: strconv.FormatInt(a.ID, 10), AppName: a.Name, Category: c.FormValue("category"), SceneDesc: scene, Errors: errs}
	if !errs.Any() {
		client, err := models.WeChatClient(h.DB, h.Sealer, a, h.HTTP)
		if err != nil {
			return err
		}
		id, err := client.AddTemplate(ctx, wechat.AddTemplateRequest{TID: tidN, KidList: kids, SceneDesc: scene})
		if err == nil {
			staffID := CurrentStaff(c).ID
			run, serr := models.SyncTemplates(ctx, h.DB, a, client, models.SyncTriggerManual, &staffID, h.Now())
			if aerr := models.Audit(ctx, h.DB, Actor(c), "template.add", "template", id, map[string]any{"app": a.AppID, "tid": tidN, "kids": kids, "scene": scene}); aerr != nil {
				return aerr
			}
			t, gerr := models.GetTemplateByWxID(ctx, h.DB, a.ID, id)
			if serr != nil || gerr != nil {
				h.syncFlash(c, a, run, serr)
				return Redirect(c, "/templates?app="+d.App)
			}
			SetFlash(c, "success", T(c, "tpl.added", t.Title))
			return Redirect(c, "/templates/"+strconv.FormatInt(t.ID, 10))
		}
		d.Error = ExplainWeChat(err, Lang(c))
	}
	c.QueryParams().Set("start", c.FormValue("start"))
	if err := h.fillLibrary(c, a, &d, tid, kids); err != nil {
		return err
	}
	return Render(c, http.StatusUnprocessableEntity, h.page(c, T(c, "tpl.library")), views.Library(d))
}

// New shows the manual entry form.
func (h *Templates) New(c echo.Context) error {
	opts, _, err := h.appOptions(c.Request().Context())
	if err != nil {
		return err
	}
	f := views.ManualForm{Apps: opts, App: c.QueryParam("app"), Kind: models.TemplateOneTime}
	return Render(c, http.StatusOK, h.page(c, T(c, "tpl.manual")), views.TemplateManual(f))
}

// Create stores a manually entered template, its keywords parsed from the content.
func (h *Templates) Create(c echo.Context) error {
	ctx := c.Request().Context()
	opts, _, err := h.appOptions(ctx)
	if err != nil {
		return err
	}
	f := views.ManualForm{Apps: opts, App: c.FormValue("app"), TemplateID: strings.TrimSpace(c.FormValue("template_id")),
		Title: strings.TrimSpace(c.FormValue("title")), Kind: c.FormValue("kind"), Content: strings.TrimSpace(c.FormValue("content"))}
	errs := Errors{}
	appID, _ := strconv.ParseInt(f.App, 10, 64)
	a, aerr := models.GetApp(ctx, h.DB, appID)
	if aerr != nil {
		errs.Add("app", T(c, "tpl.pick_account"))
	}
	switch {
	case f.TemplateID == "":
		errs.Add("template_id", T(c, "form.required"))
	case len(f.TemplateID) > 128 || strings.ContainsAny(f.TemplateID, " \t\r\n"):
		errs.Add("template_id", T(c, "tpl.template_id_invalid"))
	}
	switch n := utf8.RuneCountInString(f.Title); {
	case n == 0:
		errs.Add("title", T(c, "form.required"))
	case n > 60:
		errs.Add("title", T(c, "form.too_long", 60))
	}
	if f.Kind != models.TemplateOneTime && f.Kind != models.TemplateLongTerm {
		errs.Add("kind", T(c, "form.choose"))
	}
	var kws []wechat.Keyword
	if f.Content == "" {
		errs.Add("content", T(c, "form.required"))
	} else if kws, err = wechat.ParseContent(f.Content); err != nil {
		errs.Add("content", contentError(err, Lang(c)))
	} else if len(kws) == 0 {
		errs.Add("content", T(c, "tpl.content_no_keywords"))
	}
	if !errs.Any() {
		t := &models.Template{AppID: a.ID, TemplateID: f.TemplateID, Title: f.Title, Content: f.Content, Kind: f.Kind, Source: models.SourceManual}
		t.SetKeywords(models.KeywordsFromWeChat(kws))
		err := models.CreateTemplate(ctx, h.DB, t)
		if errors.Is(err, models.ErrDuplicate) {
			// Deleted before (a typo fixed, a template removed by
			// mistake): entered again, it comes back.
			var back bool
			if back, err = models.ReenterTemplate(ctx, h.DB, t); err == nil && !back {
				err = models.ErrDuplicate
			}
		}
		switch {
		case errors.Is(err, models.ErrDuplicate):
			errs.Add("template_id", T(c, "tpl.template_id_taken"))
		case err != nil:
			return err
		default:
			if err := models.Audit(ctx, h.DB, Actor(c), "template.create", "template", t.TemplateID, map[string]any{"app": a.AppID, "title": t.Title, "source": "manual"}); err != nil {
				return err
			}
			SetFlash(c, "success", T(c, "tpl.added", t.Title))
			return Redirect(c, "/templates/"+strconv.FormatInt(t.ID, 10))
		}
	}
	f.Errors = errs
	return Render(c, http.StatusUnprocessableEntity, h.page(c, T(c, "tpl.manual")), views.TemplateManual(f))
}

func (h *Templates) load(c echo.Context) (*models.Template, *models.App, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound)
	}
	ctx := c.Request().Context()
	t, err := models.GetTemplate(ctx, h.DB, id)
	if err != nil {
		return nil, nil, NotFound(err)
	}
	a, err := models.GetApp(ctx, h.DB, t.AppID)
	return t, a, err
}

func (h *Templates) detail(c echo.Context, t *models.Template, a *models.App, values map[string]string, mode checkMode) (views.TemplateDetail, error) {
	ctx := c.Request().Context()
	rows, _ := keywordRows(t, values, mode, Lang(c))
	d := views.TemplateDetail{ID: t.ID, AppName: a.Name, TemplateID: t.TemplateID, Title: t.Title, Kind: t.Kind,
		Status: t.Status, Source: t.Source, Example: t.Example, Keywords: rows}
	syncs, err := models.ListTemplateSyncs(ctx, h.DB, a.ID, 10)
	if err != nil {
		return d, err
	}
	for _, s := range syncs {
		d.Syncs = append(d.Syncs, views.SyncRow{At: components.FormatTime(ctx, s.StartedAt), Trigger: s.TriggerKind, Inserted: s.Inserted,
			Updated: s.Updated, Deleted: s.Deleted, Flagged: s.Flagged, Error: syncOutcomeText(s.Outcome(), Lang(c))})
	}
	refs, err := models.CampaignsUsingTemplate(ctx, h.DB, t.ID)
	if err != nil {
		return d, err
	}
	for _, r := range refs {
		d.Campaigns = append(d.Campaigns, views.CampaignRefRow{ID: r.ID, Name: r.Name, Status: r.Status})
	}
	return d, nil
}

// Show is the template page.
func (h *Templates) Show(c echo.Context) error {
	t, a, err := h.load(c)
	if err != nil {
		return err
	}
	d, err := h.detail(c, t, a, nil, checkNone)
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, h.page(c, t.Title), views.TemplateShow(d))
}

// formValues reads the keyword values posted as kw.<key>.
func formValues(c echo.Context) map[string]string {
	form, _ := c.FormParams()
	out := map[string]string{}
	for k, v := range form {
		if key, ok := strings.CutPrefix(k, "kw."); ok && len(v) > 0 {
			out[key] = v[0]
		}
	}
	return out
}

// Check validates the filled values and answers the live preview (htmx),
// or the whole page with the errors under the fields.
func (h *Templates) Check(c echo.Context) error {
	t, a, err := h.load(c)
	if err != nil {
		return err
	}
	values := formValues(c)
	if IsPartial(c) {
		// While typing only what was typed is judged; the check button judges all.
		mode := checkFilled
		if c.FormValue("check") == "all" {
			mode = checkAll
		}
		rows, _ := keywordRows(t, values, mode, Lang(c))
		return RenderBare(c, http.StatusOK, views.TemplateCheck(t.Title, rows))
	}
	d, err := h.detail(c, t, a, values, checkAll)
	if err != nil {
		return err
	}
	d.Page, d.OpenID = c.FormValue("page"), c.FormValue("openid")
	return Render(c, http.StatusOK, h.page(c, t.Title), views.TemplateShow(d))
}

// Delete removes a template at WeChat (deltemplate) and marks it deleted here.
func (h *Templates) Delete(c echo.Context) error {
	t, a, err := h.load(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if t.Source != models.SourceManual {
		client, err := models.WeChatClient(h.DB, h.Sealer, a, h.HTTP)
		if err == nil {
			err = client.DelTemplate(ctx, t.TemplateID)
		}
		if err != nil && !wechat.IsCode(err, 40037) {
			SetFlash(c, "error", T(c, "tpl.delete_failed", ExplainWeChat(err, Lang(c))))
			return Redirect(c, "/templates/"+strconv.FormatInt(t.ID, 10))
		}
	}
	if err := models.UpdateTemplateFields(ctx, h.DB, t.ID, map[string]any{"status": models.TemplateDeleted}); err != nil {
		return err
	}
	flagged, err := models.FlagCampaignsForTemplate(ctx, h.DB, t.ID, models.HeldTemplateDeleted)
	if err != nil {
		return err
	}
	if err := models.Audit(ctx, h.DB, Actor(c), "template.delete", "template", t.TemplateID, map[string]any{"app": a.AppID, "title": t.Title, "flagged_campaigns": flagged}); err != nil {
		return err
	}
	SetFlash(c, "success", T(c, "tpl.deleted", t.Title))
	return Redirect(c, "/templates?app="+strconv.FormatInt(a.ID, 10))
}

// TestSend checks the values and sends one message to an openid through the
// delivery engine; the answer polls until WeChat has answered.
func (h *Templates) TestSend(c echo.Context) error {
	t, a, err := h.load(c)
	if err != nil {
		return err
	}
	values := formValues(c)
	openid := strings.TrimSpace(c.FormValue("openid"))
	page := strings.TrimSpace(c.FormValue("page"))
	rows, data := keywordRows(t, values, checkAll, Lang(c))
	var problem string
	for _, r := range rows {
		if r.Error != "" {
			problem = T(c, "tpl.test_send_invalid")
			break
		}
	}
	switch {
	case problem != "":
	case openid == "":
		problem = T(c, "tpl.test_send_openid")
	case !openIDPattern.MatchString(openid):
		problem = T(c, "api.err.invalid_openid")
	case utf8.RuneCountInString(page) > models.MaxPageLen:
		problem = T(c, "tpl.test_send_too_long", models.MaxPageLen)
	case t.Status == models.TemplateDeleted:
		problem = T(c, "tpl.test_send_deleted")
	case h.Queue == nil:
		problem = T(c, "tpl.test_send_unavailable")
	}
	ctx := c.Request().Context()
	var u *models.User
	if problem == "" {
		if u, problem, err = testRecipient(ctx, h.DB, Lang(c), a.ID, openid); err != nil {
			return err
		}
	}
	respond := func(f *components.Flash, poll string) error {
		status := http.StatusOK
		if poll == "" && f != nil && f.Kind == "error" {
			status = http.StatusUnprocessableEntity
		}
		if IsPartial(c) && poll == "" {
			return RenderBare(c, status, views.TestSendAnswer(f, rows))
		}
		if IsPartial(c) {
			return RenderBare(c, status, views.TestSendResult(f, poll))
		}
		d, err := h.detail(c, t, a, values, checkAll)
		if err != nil {
			return err
		}
		d.Page, d.OpenID, d.SendResult, d.SendPoll = page, openid, f, poll
		return Render(c, status, h.page(c, t.Title), views.TemplateShow(d))
	}
	if problem != "" {
		return respond(&components.Flash{Kind: "error", Message: problem}, "")
	}
	id, err := testSend(ctx, h.Queue, a, t, u, page, data)
	if err != nil {
		return err
	}
	if err := models.Audit(ctx, h.DB, Actor(c), "template.test_send", "template", t.TemplateID, map[string]any{"app": a.AppID, "openid": openid, "delivery": id}); err != nil {
		return err
	}
	return respond(nil, "/templates/"+strconv.FormatInt(t.ID, 10)+"/test-send/"+strconv.FormatInt(id, 10))
}

// testSendWatch is how long a test send page keeps asking about an unknown
// outcome (WeChat's sent event usually settles it within seconds) before it
// links to the delivery instead.
const testSendWatch = 2 * time.Minute

// TestSendStatus answers the outcome of a test send (htmx polls it).
func (h *Templates) TestSendStatus(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("delivery"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	tplID, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	d, err := models.GetDelivery(c.Request().Context(), h.DB, id)
	if err != nil {
		return NotFound(err)
	}
	if d.TemplateID != tplID || d.RunID != nil || d.APIKeyID != nil {
		// Only this template's test sends: another message is not a test
		// send's result (its page is /deliveries/{id}, for its roles).
		return echo.NewHTTPError(http.StatusNotFound)
	}
	done, ok, msg := DescribeDelivery(d, Lang(c))
	if !done {
		return RenderBare(c, http.StatusOK, views.TestSendResult(nil, c.Request().URL.Path))
	}
	// An unknown outcome settles itself when WeChat's sent event arrives:
	// keep asking for a while, then point at the delivery's page.
	if d.Status == models.DeliveryUnknown {
		href := "/deliveries/" + strconv.FormatInt(d.ID, 10)
		poll := c.Request().URL.Path
		if h.Now().Sub(d.CreatedAt) > testSendWatch {
			poll = ""
		}
		return RenderBare(c, http.StatusOK, views.TestSendUnknownWatch(components.Flash{Kind: "info", Message: msg}, poll, href))
	}
	kind := "error"
	if ok {
		kind = "success"
	}
	return RenderBare(c, http.StatusOK, views.TestSendResult(&components.Flash{Kind: kind, Message: msg}, ""))
}
