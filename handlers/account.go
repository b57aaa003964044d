package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
)

// Account is everyone's own settings: password and UI language.
type Account struct{ Env }

func (h *Account) render(c echo.Context, status int, errs Errors) error {
	s := CurrentStaff(c)
	page := views.Page{Title: T(c, "account.title"), Crumbs: []views.Crumb{{Label: T(c, "account.title")}}}
	return Render(c, status, page, views.Account(views.AccountForm{Email: s.Email, Name: s.Name, Role: string(s.Role), Lang: s.Lang, Errors: errs}))
}

// Show shows the account page.
func (h *Account) Show(c echo.Context) error { return h.render(c, http.StatusOK, nil) }

// ChangePassword changes the signed-in person's password after checking the current one.
func (h *Account) ChangePassword(c echo.Context) error {
	s := CurrentStaff(c)
	cur, pw, pw2 := c.FormValue("current"), c.FormValue("password"), c.FormValue("password2")
	errs := Errors{}
	if !s.CheckPassword(cur) {
		errs.Add("current", T(c, "account.current_wrong"))
	}
	checkNewPassword(c, errs, pw, &pw2)
	checkPasswordStrength(c, errs, pw, s.Email, s.Name)
	if errs.Any() {
		return h.render(c, http.StatusUnprocessableEntity, errs)
	}
	ctx := c.Request().Context()
	if err := models.SetStaffPassword(ctx, h.DB, s.ID, pw, SessionToken(c)); err != nil {
		return err
	}
	if err := models.Audit(ctx, h.DB, Actor(c), "staff.change_password", "staff", s.Email, nil); err != nil {
		return err
	}
	SetFlash(c, "success", T(c, "account.password_changed"))
	return Redirect(c, "/account")
}

// SetLang saves the signed-in person's UI language.
func (h *Account) SetLang(c echo.Context) error {
	s := CurrentStaff(c)
	lang := c.FormValue("lang")
	if lang != "zh" && lang != "en" {
		return h.render(c, http.StatusUnprocessableEntity, Errors{"lang": T(c, "account.lang_invalid")})
	}
	ctx := c.Request().Context()
	if err := models.UpdateStaffFields(ctx, h.DB, s.ID, map[string]any{"lang": lang}); err != nil {
		return err
	}
	if err := models.Audit(ctx, h.DB, Actor(c), "staff.lang", "staff", s.Email, map[string]any{"lang": lang}); err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: LangCookie, Value: lang, Path: "/", SameSite: http.SameSiteLaxMode, MaxAge: 365 * 86400})
	SetFlash(c, "success", components.Translate(lang, "account.lang_saved")) // in the language just chosen
	return Redirect(c, "/account")
}
