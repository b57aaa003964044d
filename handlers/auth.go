package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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

// EndedCookie marks, for a minute, a browser whose session cookie named a
// session that no longer exists (signed in elsewhere, expired, ended by an
// admin): the sign-in page says so instead of appearing unasked.
const EndedCookie = "minipush_ended"

// CSRFCookie holds the CSRF token (HttpOnly: pages carry it in their forms
// and a <meta> tag for htmx).
const CSRFCookie = "minipush_csrf"

// SessionCSRF is the CSRF token of a signed-in session: an HMAC keyed by
// the session's cookie token. It is bound to that session (a token taken
// from another session, or from before sign-in, does not pass) and changes
// with it at every sign-in; the database, which holds only the session
// token's hash, cannot produce it.
func SessionCSRF(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("minipush csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// SetCSRFCookie (re)issues the CSRF cookie: Secure when the browser came
// over HTTPS, living as long as a session can.
func SetCSRFCookie(c echo.Context, token string) {
	c.SetCookie(&http.Cookie{Name: CSRFCookie, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: IsHTTPS(c), MaxAge: int(models.SessionMaxAge / time.Second)})
}

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
		return badForm(c, err)
	}
	in.Email, in.Name = models.NormalizeEmail(in.Email), trim(in.Name)
	errs := Errors{}
	checkEmail(c, errs, "email", in.Email)
	checkName(c, errs, "name", in.Name)
	checkNewPassword(c, errs, in.Password, &in.Password2)
	checkPasswordStrength(c, errs, in.Password, in.Email, in.Name)
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
	if _, err := h.startSession(c, s); err != nil {
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
	if ck, err := c.Cookie(EndedCookie); err == nil && ck.Value != "" {
		if f.Notice == "" && f.Error == "" {
			f.Notice = T(c, "auth.session_ended")
		}
		clearEnded(c) // said once, or not at all when another message is due
	}
	return RenderBare(c, http.StatusOK, views.Login(f))
}

type loginInput struct {
	Email    string `form:"email"`
	Password string `form:"password"`
	Next     string `form:"next"`
}

// accountThrottleKey is the sign-in counter of an (normalized) email: a
// hash, so any input fits the column.
func accountThrottleKey(email string) string {
	return "acct:" + models.HashToken(email)[:40]
}

// Login checks credentials, with throttling per account and per IP.
func (h *Auth) Login(c echo.Context) error {
	var in loginInput
	if err := c.Bind(&in); err != nil {
		return badForm(c, err)
	}
	in.Email = models.NormalizeEmail(in.Email)
	ctx := c.Request().Context()
	now := h.Now()
	form := views.LoginForm{Email: in.Email, Next: safeNext(in.Next)}
	// Counted before the password is checked, so parallel guesses cannot slip
	// past the limit. The account key is a hash: any input fits the column.
	acctKey, ipKey := accountThrottleKey(in.Email), "ip:"+c.RealIP()
	for _, k := range []struct {
		key string
		p   models.ThrottlePolicy
	}{{acctKey, h.AccountPolicy}, {ipKey, h.IPPolicy}} {
		until, err := models.ThrottleAttempt(ctx, h.DB, k.key, k.p, now)
		if err != nil {
			return err
		}
		// The attempt that starts a lock gets exactly now+Lock; later
		// attempts during it get the stored end, which is earlier.
		if !until.IsZero() && until.Equal(now.Add(k.p.Lock)) {
			by := "account"
			if k.key == ipKey {
				by = "address"
			}
			if err := h.auditSignIn(c, nil, "auth.lockout", in.Email, map[string]any{"by": by, "until": until}); err != nil {
				return err
			}
		}
		if !until.IsZero() {
			form.Error = T(c, "auth.throttled", until.In(h.Location).Format("15:04 (UTC-07:00)"))
			return RenderBare(c, http.StatusTooManyRequests, views.Login(form))
		}
	}
	var s *models.Staff
	ok, reason := false, "bad_credentials"
	if len(in.Email) <= 180 {
		var err error
		s, err = models.GetStaffByEmail(ctx, h.DB, in.Email)
		switch {
		case errors.Is(err, models.ErrNotFound):
		case err != nil:
			return err
		default:
			ok = s.CheckPassword(in.Password)
			if ok && s.Disabled {
				ok, reason = false, "disabled"
			}
		}
	}
	if s == nil {
		models.CheckDummyPassword(in.Password) // as slow as a real check
	}
	if !ok {
		if err := h.auditSignIn(c, nil, "auth.sign_in_failed", in.Email, map[string]any{"reason": reason}); err != nil {
			return err
		}
		form.Error = T(c, "auth.bad_credentials")
		return RenderBare(c, http.StatusUnauthorized, views.Login(form))
	}
	if err := models.ThrottleReset(ctx, h.DB, acctKey); err != nil {
		return err
	}
	if err := models.ThrottleForgive(ctx, h.DB, ipKey); err != nil {
		return err
	}
	ended, err := h.startSession(c, s)
	if err != nil {
		return err
	}
	if err := h.auditSignIn(c, s, "auth.sign_in", s.Email, map[string]any{"ended_sessions": ended}); err != nil {
		return err
	}
	next := form.Next
	if next == "" {
		next = "/"
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// startSession signs s in: a new session id on every sign-in (no
// fixation), the person's other sessions ended (one browser at a time; it
// returns how many), and a CSRF token bound to the new session.
func (h *Auth) startSession(c echo.Context, s *models.Staff) (int64, error) {
	ctx := c.Request().Context()
	now := h.Now()
	token, err := models.CreateSession(ctx, h.DB, s.ID, c.RealIP(), c.Request().UserAgent(), now)
	if err != nil {
		return 0, err
	}
	ended, err := models.EndOtherSessions(ctx, h.DB, s.ID, token)
	if err != nil {
		return 0, err
	}
	if err := models.UpdateStaffFields(ctx, h.DB, s.ID, map[string]any{"last_login_at": now}); err != nil {
		return 0, err
	}
	SetSessionCookie(c, token, now.Add(models.SessionIdle))
	clearEnded(c)
	SetCSRFCookie(c, SessionCSRF(token))
	c.SetCookie(&http.Cookie{Name: LangCookie, Value: s.Lang, Path: "/", SameSite: http.SameSiteLaxMode, MaxAge: 365 * 86400})
	return ended, nil
}

// auditSignIn records a sign-in, a failed one or a lockout. who is the
// staff member when known; typed is what was typed as the email (cut to
// the column's size).
func (h *Auth) auditSignIn(c echo.Context, who *models.Staff, action, typed string, detail map[string]any) error {
	a := models.Actor{IP: c.RealIP()}
	if who != nil {
		a.StaffID, a.Email = who.ID, who.Email
	}
	if r := []rune(typed); len(r) > 180 {
		typed = string(r[:180])
	}
	return models.Audit(c.Request().Context(), h.DB, a, action, "staff", typed, detail)
}

// clearEnded drops the ended-session mark (shown, or a new session began).
func clearEnded(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: EndedCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
}

// SetSessionCookie (re)issues the session cookie for token, living until
// the server-side session expires.
func SetSessionCookie(c echo.Context, token string, expires time.Time) {
	maxAge := int(time.Until(expires) / time.Second)
	if maxAge <= 0 {
		maxAge = 1
	}
	c.SetCookie(&http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: IsHTTPS(c), MaxAge: maxAge})
}

// Logout ends the session; the CSRF token goes with it.
func (h *Auth) Logout(c echo.Context) error {
	if tok := SessionToken(c); tok != "" {
		ctx := c.Request().Context()
		if err := models.DeleteSession(ctx, h.DB, tok); err != nil {
			return err
		}
		if s := CurrentStaff(c); s != nil {
			if err := models.Audit(ctx, h.DB, Actor(c), "auth.sign_out", "staff", s.Email, nil); err != nil {
				return err
			}
		}
	}
	c.SetCookie(&http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	SetFlash(c, "success", T(c, "ux.auth.signed_out"))
	SetCSRFCookie(c, models.RandomToken(32))
	return c.Redirect(http.StatusSeeOther, "/login")
}

// SetLang switches the UI language (for the staff member when signed in).
func (h *Auth) SetLang(c echo.Context) error {
	lang := c.FormValue("lang")
	if lang != "zh" && lang != "en" {
		return echo.NewHTTPError(http.StatusBadRequest, T(c, "error.400_lang"))
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
