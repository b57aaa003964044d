package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
)

// APIKeys is the admin page for keys of the JSON API: create (shown once),
// list, revoke.
type APIKeys struct {
	Env
	// Usage holds the calls counted in memory and not written yet (nil:
	// every call is written at once).
	Usage *models.APIKeyUsage
}

func (h *APIKeys) page(c echo.Context) views.Page {
	return views.Page{Title: T(c, "nav.apikeys"), Nav: "apikeys",
		Crumbs: []views.Crumb{{Label: T(c, "nav.group.settings")}, {Label: T(c, "nav.apikeys")}}}
}

func (h *APIKeys) data(c echo.Context, form views.APIKeyForm) (views.APIKeysData, error) {
	ctx := c.Request().Context()
	d := views.APIKeysData{Form: form}
	apps, err := models.ListApps(ctx, h.DB)
	if err != nil {
		return d, err
	}
	for _, a := range apps {
		d.Apps = append(d.Apps, components.Option{Value: strconv.FormatInt(a.ID, 10), Label: a.Name + " (" + a.AppID + ")"})
	}
	if d.Form.App == "" && len(d.Apps) > 0 {
		d.Form.App = d.Apps[0].Value
	}
	keys, err := models.ListAPIKeys(ctx, h.DB)
	if err != nil {
		return d, err
	}
	for _, k := range keys {
		if h.Usage != nil { // this instance's calls not written yet
			p := h.Usage.Pending(k.ID)
			k.Calls += p.Calls
			if p.Calls > 0 && (k.LastUsedAt == nil || p.Last.After(*k.LastUsedAt)) {
				k.LastUsedAt = &p.Last
			}
		}
		d.Rows = append(d.Rows, views.APIKeyRow{ID: k.ID, Name: k.Name, Prefix: k.Prefix, App: k.AppName + " (" + k.AppAppID + ")",
			CreatedBy: k.CreatorEmail, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt, Calls: k.Calls})
	}
	return d, nil
}

// List shows the keys and the form to create one.
func (h *APIKeys) List(c echo.Context) error {
	d, err := h.data(c, views.APIKeyForm{})
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, h.page(c), views.APIKeys(d))
}

type apiKeyInput struct {
	App  string `form:"app"`
	Name string `form:"name"`
}

// Create makes a key and shows it, once.
func (h *APIKeys) Create(c echo.Context) error {
	var in apiKeyInput
	if err := c.Bind(&in); err != nil {
		return badForm(c, err)
	}
	in.Name = trim(in.Name)
	errs := Errors{}
	ctx := c.Request().Context()
	var app *models.App
	if id, err := strconv.ParseInt(in.App, 10, 64); err == nil {
		app, err = models.GetApp(ctx, h.DB, id)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return err
		}
	}
	if app == nil {
		errs.Add("app", T(c, "form.choose"))
	}
	switch {
	case in.Name == "":
		errs.Add("name", T(c, "form.required"))
	case utf8.RuneCountInString(in.Name) > 60:
		errs.Add("name", T(c, "form.too_long", 60))
	case app != nil:
		taken, err := models.APIKeyNameTaken(ctx, h.DB, app.ID, in.Name)
		if err != nil {
			return err
		}
		if taken {
			errs.Add("name", T(c, "apikey.name_taken", in.Name))
		}
	}
	form := views.APIKeyForm{App: in.App, Name: in.Name, Errors: errs}
	if errs.Any() {
		d, err := h.data(c, form)
		if err != nil {
			return err
		}
		return Render(c, http.StatusUnprocessableEntity, h.page(c), views.APIKeys(d))
	}
	staffID := CurrentStaff(c).ID
	key, k, err := models.CreateAPIKey(ctx, h.DB, app.ID, in.Name, &staffID)
	if err != nil {
		return err
	}
	if err := models.Audit(ctx, h.DB, Actor(c), "apikey.create", "api_key", k.Prefix,
		map[string]any{"app": app.AppID, "name": k.Name}); err != nil {
		return err
	}
	d, err := h.data(c, views.APIKeyForm{})
	if err != nil {
		return err
	}
	d.NewKey, d.NewKeyName = key, k.Name
	c.Response().Header().Set("Cache-Control", "no-store")
	return Render(c, http.StatusOK, h.page(c), views.APIKeys(d))
}

// Revoke stops a key from working.
func (h *APIKeys) Revoke(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	ctx := c.Request().Context()
	k, err := models.GetAPIKey(ctx, h.DB, id)
	if err != nil {
		return NotFound(err)
	}
	done, err := models.RevokeAPIKey(ctx, h.DB, k.ID, h.Now())
	if err != nil {
		return err
	}
	if done {
		if err := models.Audit(ctx, h.DB, Actor(c), "apikey.revoke", "api_key", k.Prefix, map[string]any{"name": k.Name}); err != nil {
			return err
		}
	}
	SetFlash(c, "success", T(c, "apikey.revoked", k.Name))
	return Redirect(c, "/settings/apikeys")
}
