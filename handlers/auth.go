package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "minipush_session"

// LangCookie remembers the UI language of a browser that is not signed in.
const LangCookie = "minipush_lang"

// Auth handles first-run setup, sign-in, sign-out and the language switch.
type Auth struct {
	Env
	Setup *SetupState
	// Per account and per IP failure limits.
	AccountPolicy, IPPolicy models.ThrottlePolicy
}

// DefaultAccountPolicy locks an account for 15 minutes after 5 failures in 15 minutes.
var DefaultAccountPolicy = models.ThrottlePolicy{MaxFailures: 5, Window: 15 * time.Minute, Lock: 15 * time.Minute}

// DefaultIPPolicy locks an address for 15 minutes after 20 failures in 15 minutes.
var DefaultIPPolicy = models.ThrottlePolicy{MaxFailures: 20, Window: 15 * time.Minute, Lock: 15 * time.Minute}

// SetupState remembers whether the first admin exists (once true, forever).
type SetupState struct {
	done atomic.Bool
}

// Done tells whether setup is complete, asking the database until it is.
func (s *SetupState) Done(c echo.Context, env Env) (bool, error) {
	if s.done.Load() {
		return true, nil
	}
	n, err := models.CountStaff(c.Request().Context(), env.DB)
	if err != nil {
		return false, err
	}
	if n > 0 {
		s.done.Store(true)
	}
	return n > 0, nil
}

type setupInput struct {
	Email     string `form:"email"`
	Name      string `form:"name"`
	Password  string `form:"password"`
	Password2 string `form:"password2"`
}

// SetupPage shows the first-admin form while no staff exist.
func (h *Auth) SetupPage(c echo.Context) error {
	if done, err := h.Setup.Done(c, h.Env); err != nil {
		return err
	} else if done {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return RenderBare(c, http.StatusOK, views.Setup(views.SetupForm{}))
}

// SetupCreate creates the first admin and signs them in.
func (h *Auth) SetupCreate(c echo.Context) error {
	if done, err := h.Setup.Done(c, h.Env); err != nil {
		return err
	} else if done {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	var in setupInput
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	in.Email, in.Name = models.NormalizeEmail(in.Email), trim(in.Name)
	errs := Errors{}
	checkEmail(c, errs, "email", in.Email)
	checkName(c, errs, "name", in.Name)
	checkNewPassword(c, errs, in.Password, &in.Password2)
	form := views.SetupForm{Email: in.Email, Name: in.Name, Errors: errs}
	if errs.Any() {
		return RenderBare(c, http.StatusUnprocessableEntity, views.Setup(form))
	}
	ctx := c.Request().Context()
	s, err := models.CreateFirstAdmin(ctx, h.DB, in.Email, in.Name, in.Password, Lang(c))
	if errors.Is(err, models.ErrSetupDone) {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	if err != nil {
		return err
	}
	h.Setup.done.Store(true)
	if err := models.Audit(ctx, h.DB, models.Actor{StaffID: s.ID, Email: s.Email, IP: c.RealIP()}, "staff.setup", "staff", s.Email, map[string]any{"role": s.Role}); err != nil {
		return err
	}
	if err := h.startSession(c, s); err != nil {
		return err
	}
	SetFlash(c, "success", T(c, "setup.done"))
	return c.Redirect(http.StatusSeeOther, "/")
}

// LoginPage shows the sign-in form.
func (h *Auth) LoginPage(c echo.Context) error {
	if CurrentStaff(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	f := views.LoginForm{Next: safeNext(c.QueryParam("next"))}
	if fl := TakeFlash(c); fl != nil && fl.Kind == "success" {
		f.Notice = fl.Message
	} else if fl != nil {
		f.Error = fl.Message
	}
	return RenderBare(c, http.StatusOK, views.Login(f))
}

type loginInput struct {
	Email    string `form:"email"`
	Password string `form:"password"`
	Next     string `form:"next"`
}

// Login checks credentials, with throttling per account and per IP.
func (h *Auth) Login(c echo.Context) error {
	var in loginInput
	if err := c.Bind(&in); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	in.Email = models.NormalizeEmail(in.Email)
	ctx := c.Request().Context()
	now := h.Now()
	form := views.LoginForm{Email: in.Email, Next: safeNext(in.Next)}
	// Counted before the password is checked, so parallel guesses cannot slip
	// past the limit. The account key is a hash: any input fits the column.
	acctKey, ipKey := "acct:"+models.HashToken(in.Email)[:40], "ip:"+c.RealIP()
	for _, k := range []struct {
		key string
		p   models.ThrottlePolicy
	}{{acctKey, h.AccountPolicy}, {ipKey, h.IPPolicy}} {
		until, err := models.ThrottleAttempt(ctx, h.DB, k.key, k.p, now)
		if err != nil {
			return err
		}
		if !until.IsZero() {
			form.Error = T(c, "auth.throttled", until.In(h.Location).Format("15:04"))
			return RenderBare(c, http.StatusTooManyRequests, views.Login(form))
		}
	}
	var s *models.Staff
	ok := false
	if len(in.Email) <= 180 {
		var err error
		s, err = models.GetStaffByEmail(ctx, h.DB, in.Email)
		switch {
		case errors.Is(err, models.ErrNotFound):
		case err != nil:
			return err
		default:
			ok = s.CheckPassword(in.Password) && !s.Disabled
		}
	}
	if s == nil {
		models.CheckDummyPassword(in.Password) // as slow as a real check
	}
	if !ok {
		form.Error = T(c, "auth.bad_credentials")
		return RenderBare(c, http.StatusUnauthorized, views.Login(form))
	}
	if err := models.ThrottleReset(ctx, h.DB, acctKey); err != nil {
		return err
	}
	if err := models.ThrottleForgive(ctx, h.DB, ipKey); err != nil {
		return err
	}
	if err := h.startSession(c, s); err != nil {
		return err
	}
	next := form.Next
	if next == "" {
		next = "/"
	}
	return c.Redirect(http.StatusSeeOther, next)
}

func (h *Auth) startSession(c echo.Context, s *models.Staff) error {
	// A new session id on every sign-in (no fixation); the old cookie is replaced.
	ctx := c.Request().Context()
	token, err := models.CreateSession(ctx, h.DB, s.ID, c.RealIP(), c.Request().UserAgent(), h.Now())
	if err != nil {
		return err
	}
	if err := models.UpdateStaffFields(ctx, h.DB, s.ID, map[string]any{"last_login_at": h.Now()}); err != nil {
		return err
	}
	SetSessionCookie(c, token)
	c.SetCookie(&http.Cookie{Name: LangCookie, Value: s.Lang, Path: "/", SameSite: http.SameSiteLaxMode, MaxAge: 365 * 86400})
	return nil
}

// SetSessionCookie (re)issues the session cookie for token, living as long
// as the server-side session's idle expiry.
func SetSessionCookie(c echo.Context, token string) {
	c.SetCookie(&http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: IsHTTPS(c), MaxAge: int(models.SessionIdle / time.Second)})
}

// Logout ends the session.
func (h *Auth) Logout(c echo.Context) error {
	if tok := SessionToken(c); tok != "" {
		if err := models.DeleteSession(c.Request().Context(), h.DB, tok); err != nil {
			return err
		}
	}
	c.SetCookie(&http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	SetFlash(c, "success", T(c, "ux.auth.signed_out"))
	return c.Redirect(http.StatusSeeOther, "/login")
}

// SetLang switches the UI language (for the staff member when signed in).
func (h *Auth) SetLang(c echo.Context) error {
	lang := c.FormValue("lang")
	if lang != "zh" && lang != "en" {
		return echo.NewHTTPError(http.StatusBadRequest, "lang must be zh or en")
	}
	c.SetCookie(&http.Cookie{Name: LangCookie, Value: lang, Path: "/", SameSite: http.SameSiteLaxMode, MaxAge: 365 * 86400})
	if s := CurrentStaff(c); s != nil && s.Lang != lang {
		ctx := c.Request().Context()
		if err := models.UpdateStaffFields(ctx, h.DB, s.ID, map[string]any{"lang": lang}); err != nil {
			return err
		}
		if err := models.Audit(ctx, h.DB, Actor(c), "staff.lang", "staff", s.Email, map[string]any{"lang": lang}); err != nil {
			return err
		}
	}
	next := safeNext(c.FormValue("next"))
	if next == "" {
		next = "/"
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// safeNext keeps only local paths, so ?next= cannot send people elsewhere:
// no scheme, no host, no control characters or backslashes (browsers drop
// tabs and read \ as /, which would turn "/\t/evil" into "//evil").
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.ContainsRune(next, '\\') {
		return ""
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f {
			return ""
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(u.Path, "//") || strings.HasPrefix(next, "//") {
		return ""
	}
	return next
}
