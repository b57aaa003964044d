package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
)

const usersPageSize = 50

// Users is support's user lookup: search, one user's page, manual credit
// adjustment (admins).
type Users struct{ Env }

func (h *Users) page(c echo.Context, title string) views.Page {
	crumbs := []views.Crumb{{Label: T(c, "nav.group.people")}, {Label: T(c, "nav.users"), Href: "/users"}}
	if title != "" {
		crumbs = append(crumbs, views.Crumb{Label: title})
	}
	return views.Page{Title: T(c, "nav.users"), Nav: "users", Crumbs: crumbs}
}

var userFields = map[string]bool{models.UserByAny: true, models.UserByOpenID: true, models.UserByUnionID: true,
	models.UserByBusinessID: true, models.UserByTag: true}

// List searches one account's users by openid, unionid, business id or tag.
func (h *Users) List(c echo.Context) error {
	ctx := c.Request().Context()
	opts, err := appOptions(ctx, h.DB)
	if err != nil {
		return err
	}
	d := views.UsersData{Apps: opts, App: c.QueryParam("app"), Field: c.QueryParam("field"), Q: models.SearchText(c.QueryParam("q"))}
	if !userFields[d.Field] {
		d.Field = models.UserByAny
	}
	if d.App != "" && !slices.ContainsFunc(opts, func(o components.Option) bool { return o.Value == d.App }) {
		d.UnknownApp, d.App = d.App, ""
	}
	if d.App == "" && len(opts) > 0 {
		d.App = opts[0].Value
	}
	appID, _ := strconv.ParseInt(d.App, 10, 64)
	if appID == 0 {
		return Render(c, http.StatusOK, h.page(c, ""), views.UsersList(d))
	}
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	search := func(q string) ([]models.User, error) {
		return models.SearchUsers(ctx, h.DB, models.UserSearch{AppID: appID, Field: d.Field, Q: q, Before: before, Limit: usersPageSize + 1})
	}
	users, err := search(d.Q)
	if err != nil {
		return err
	}
	if folded := strings.TrimSpace(models.FoldWidth(d.Q)); len(users) == 0 && folded != d.Q {
		// Nothing as typed: full-width letters and digits as ASCII (an
		// input method left on). A tag or business id stored full-width
		// is found as typed first.
		if users, err = search(folded); err != nil {
			return err
		}
		if len(users) > 0 {
			d.Q = folded
		}
	}
	if len(users) > usersPageSize {
		users = users[:usersPageSize]
		q := url.Values{"app": {d.App}, "field": {d.Field}, "q": {d.Q}, "before": {strconv.FormatInt(users[len(users)-1].ID, 10)}}
		d.Next = "/users?" + q.Encode()
	}
	for i := range users {
		u := &users[i]
		d.Rows = append(d.Rows, views.UserRow{ID: u.ID, OpenID: u.OpenID, UnionID: u.UnionID, BusinessID: u.BusinessID,
			Tags: u.TagList(), CreatedAt: u.CreatedAt})
	}
	if len(users) == 0 && d.Q == "" && before == 0 {
		d.NoUsers = true
	}
	return Render(c, http.StatusOK, h.page(c, ""), views.UsersList(d))
}

func (h *Users) load(c echo.Context) (*models.User, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusNotFound)
	}
	u, err := models.GetUser(c.Request().Context(), h.DB, id)
	return u, NotFound(err)
}

// Show is one user's story: profile, standing per template, timeline.
func (h *Users) Show(c echo.Context) error {
	u, err := h.load(c)
	if err != nil {
		return err
	}
	d, err := h.detail(c, u, views.AdjustForm{})
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, h.page(c, u.OpenID), views.UserShow(d))
}

func (h *Users) detail(c echo.Context, u *models.User, form views.AdjustForm) (views.UserDetail, error) {
	ctx := c.Request().Context()
	l := newLookups(ctx, h.DB)
	l.users[u.ID] = u
	a := l.app(u.AppID)
	d := views.UserDetail{ID: u.ID, AppName: a.Name, AppID: a.AppID, OpenID: u.OpenID, UnionID: u.UnionID, BusinessID: u.BusinessID,
		Attributes: attrRows(u), Tags: u.TagList(), CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, Adjust: form}
	cur := models.TimelineCursor{}
	cur.EventBefore, _ = strconv.ParseInt(c.QueryParam("ev"), 10, 64)
	cur.DeliveryBefore, _ = strconv.ParseInt(c.QueryParam("dl"), 10, 64)
	story, err := models.LoadUserStory(ctx, h.DB, u.ID, cur, 50)
	if err != nil {
		return d, err
	}
	accepts, rejects := story.Accepts, story.Rejects
	for _, s := range story.Subs {
		t := l.template(s.TemplateID)
		row := views.SubRow{TemplateID: t.ID, WxID: t.TemplateID, Title: t.Title, Kind: t.Kind, Credits: s.Credits,
			LongTerm: s.LongTerm, Status: s.Status, CanReceive: s.CanReceive(t.LongTerm())}
		if e, ok := accepts[s.TemplateID]; ok {
			row.LastAccept, row.LastAcceptSource = &e.CreatedAt, e.Source
		}
		if e, ok := rejects[s.TemplateID]; ok {
			row.LastReject, row.LastRejectSource = &e.CreatedAt, e.Source
		}
		d.Subs = append(d.Subs, row)
	}
	if s := CurrentStaff(c); s != nil && s.Role == models.RoleAdmin { // the credit form is for admins only
		tpls, err := models.ListTemplates(ctx, h.DB, models.TemplateFilter{AppID: u.AppID, Kind: models.TemplateOneTime, Status: models.TemplateActive})
		if err != nil {
			return d, err
		}
		for _, t := range tpls {
			d.OneTimeTemplates = append(d.OneTimeTemplates, components.Option{Value: strconv.FormatInt(t.ID, 10), Label: t.Title + " (" + t.TemplateID + ")"})
		}
	}
	var msgs []*models.Delivery
	for _, it := range story.Timeline {
		if it.Delivery != nil {
			msgs = append(msgs, it.Delivery)
		}
	}
	l.prefetchTestSenders(msgs)
	for _, it := range story.Timeline {
		if it.Event != nil {
			ev := l.event(it.Event)
			d.Timeline = append(d.Timeline, views.TimelineRow{At: ev.At, Event: &ev})
		} else {
			m := l.message(c, it.Delivery)
			d.Timeline = append(d.Timeline, views.TimelineRow{At: m.QueuedAt, Message: &m})
		}
	}
	if next := story.Next; next != nil {
		d.Next = "/users/" + strconv.FormatInt(u.ID, 10) + "?ev=" + strconv.FormatInt(next.EventBefore, 10) +
			"&dl=" + strconv.FormatInt(next.DeliveryBefore, 10) + "#timeline"
	}
	return d, nil
}

type adjustInput struct {
	Template string `form:"template"`
	Delta    string `form:"delta"`
	Reason   string `form:"reason"`
}

// AdjustCredits changes a user's credits for a one-time template by hand
// (admins): reason required, audited, recorded with source "staff".
func (h *Users) AdjustCredits(c echo.Context) error {
	u, err := h.load(c)
	if err != nil {
		return err
	}
	var in adjustInput
	if err := c.Bind(&in); err != nil {
		return badForm(c, err)
	}
	in.Reason = trim(in.Reason)
	errs := Errors{}
	ctx := c.Request().Context()
	var tpl *models.Template
	if id, perr := strconv.ParseInt(in.Template, 10, 64); perr == nil {
		if t, gerr := models.GetTemplate(ctx, h.DB, id); gerr == nil && t.AppID == u.AppID && !t.LongTerm() && t.Status == models.TemplateActive {
			tpl = t
		} else if gerr != nil && !errors.Is(gerr, models.ErrNotFound) {
			return gerr
		}
	}
	if tpl == nil {
		errs.Add("template", T(c, "form.choose"))
	}
	delta, perr := strconv.Atoi(strings.TrimPrefix(trim(in.Delta), "+"))
	if perr != nil || delta == 0 || delta < -100 || delta > 100 {
		errs.Add("delta", T(c, "users.adjust_delta_invalid"))
	}
	switch {
	case in.Reason == "":
		errs.Add("reason", T(c, "users.adjust_reason_required"))
	case utf8.RuneCountInString(in.Reason) > 180:
		errs.Add("reason", T(c, "form.too_long", 180))
	}
	var left int
	if !errs.Any() {
		staffID := CurrentStaff(c).ID
		left, err = models.AdjustCredits(ctx, h.DB, models.CreditChange{AppID: u.AppID, UserID: u.ID, TemplateID: tpl.ID,
			WxTemplateID: tpl.TemplateID, Source: models.SourceStaff, StaffID: &staffID, Now: h.Now()}, delta, in.Reason)
		switch {
		case errors.Is(err, models.ErrNegativeCredits):
			errs.Add("delta", T(c, "users.adjust_below_zero"))
		case err != nil:
			return err
		}
	}
	if errs.Any() {
		d, err := h.detail(c, u, views.AdjustForm{Template: in.Template, Delta: in.Delta, Reason: in.Reason, Errors: errs})
		if err != nil {
			return err
		}
		return Render(c, http.StatusUnprocessableEntity, h.page(c, u.OpenID), views.UserShow(d))
	}
	if err := models.Audit(ctx, h.DB, Actor(c), "user.adjust_credits", "user", strconv.FormatInt(u.ID, 10), map[string]any{
		"app_id": u.AppID, "openid": u.OpenID, "template": tpl.TemplateID, "delta": delta, "credits": left, "reason": in.Reason}); err != nil {
		return err
	}
	SetFlash(c, "success", T(c, "users.adjusted", tpl.Title, left))
	return Redirect(c, "/users/"+strconv.FormatInt(u.ID, 10))
}
