// Package handlers holds the console's HTTP handlers, one file per area.
// Handlers are methods on small structs that hold their dependencies; they
// bind input into form structs, call models, and render views.
package handlers

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
)

// Env is what every handler shares: the database, the clock, the logger,
// the secret sealer and the console's time zone.
type Env struct {
	DB       *gorm.DB
	Log      *slog.Logger
	Now      func() time.Time
	Sealer   *models.Sealer
	Location *time.Location
}

// context keys for request state; read them through the typed accessors.
type stateKey int

const (
	keyStaff stateKey = iota
	keySessionToken
)

// SetCurrent records the signed-in staff member (used by the session middleware).
func SetCurrent(c echo.Context, s *models.Staff, sessionToken string) {
	ctx := context.WithValue(c.Request().Context(), keyStaff, s)
	ctx = context.WithValue(ctx, keySessionToken, sessionToken)
	c.SetRequest(c.Request().WithContext(ctx))
}

// CurrentStaff returns the signed-in staff member, or nil.
func CurrentStaff(c echo.Context) *models.Staff {
	s, _ := c.Request().Context().Value(keyStaff).(*models.Staff)
	return s
}

// SessionToken returns the signed-in session's cookie token, or "".
func SessionToken(c echo.Context) string {
	s, _ := c.Request().Context().Value(keySessionToken).(string)
	return s
}

// Actor names who is acting, for the audit log.
func Actor(c echo.Context) models.Actor {
	a := models.Actor{IP: c.RealIP()}
	if s := CurrentStaff(c); s != nil {
		a.StaffID, a.Email = s.ID, s.Email
	}
	return a
}

// Lang is the request's UI language.
func Lang(c echo.Context) string { return components.Req(c.Request().Context()).Lang }

// T translates key into the request's language.
func T(c echo.Context, key string, args ...any) string {
	return components.Translate(Lang(c), key, args...)
}

// IsHTMX tells whether htmx made the request (boosted or not).
func IsHTMX(c echo.Context) bool { return c.Request().Header.Get("HX-Request") == "true" }

// IsPartial tells whether htmx asked for a fragment rather than a page.
func IsPartial(c echo.Context) bool {
	return IsHTMX(c) && c.Request().Header.Get("HX-Boosted") != "true"
}

// Render renders a page inside the console shell (or just its content for an
// htmx fragment request) into a buffer, then writes it with status.
func Render(c echo.Context, status int, page views.Page, content templ.Component) error {
	if page.Flash == nil {
		page.Flash = TakeFlash(c)
	}
	returnAfterPost(c)
	ctx := templ.WithChildren(c.Request().Context(), content)
	var comp templ.Component
	if IsPartial(c) {
		comp = views.Content(page)
	} else {
		comp = views.Layout(page)
	}
	return write(c, ctx, status, comp)
}

// returnAfterPost points the language switch of a page rendered by a form
// post (a 422 re-render) at the page the form was on, from the Referer,
// instead of the dashboard: only a GET can be returned to.
func returnAfterPost(c echo.Context) {
	if c.Request().Method == http.MethodGet {
		return
	}
	ref, err := url.Parse(c.Request().Referer())
	if err != nil || ref.Host != c.Request().Host {
		return
	}
	if next := safeNext(ref.RequestURI()); next != "" {
		components.Req(c.Request().Context()).Path = next
	}
}

// RenderBare renders a whole component (no shell) into a buffer, then writes it.
func RenderBare(c echo.Context, status int, comp templ.Component) error {
	return write(c, c.Request().Context(), status, comp)
}

// write renders into a buffer first, so a render error becomes a real 500
// rather than half a page.
func write(c echo.Context, ctx context.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(ctx, &buf); err != nil {
		return err
	}
	c.Response().Header().Add("Vary", "HX-Request")
	return c.HTMLBlob(status, buf.Bytes())
}

// Redirect sends the browser to target after a POST: 303, or HX-Redirect for htmx.
func Redirect(c echo.Context, target string) error {
	if IsPartial(c) {
		c.Response().Header().Set("HX-Redirect", target)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

const flashCookie = "minipush_flash"

// SetFlash leaves a one-time message for the next page.
func SetFlash(c echo.Context, kind, message string) {
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: url.QueryEscape(kind + ":" + message), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: IsHTTPS(c), MaxAge: 60})
}

// TakeFlash reads and clears the one-time message, if any.
func TakeFlash(c echo.Context) *components.Flash {
	ck, err := c.Cookie(flashCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1})
	raw, err := url.QueryUnescape(ck.Value)
	if err != nil {
		return nil
	}
	kind, msg, ok := strings.Cut(raw, ":")
	if !ok || (kind != "success" && kind != "error" && kind != "info" && kind != "warning") {
		return nil
	}
	return &components.Flash{Kind: kind, Message: msg}
}

// IsHTTPS tells whether the browser reached us over HTTPS: directly, or,
// with --trust-proxy, through a proxy that says so in X-Forwarded-Proto.
func IsHTTPS(c echo.Context) bool {
	if c.Request().TLS != nil {
		return true
	}
	trust, _ := c.Get(trustProxyKey).(bool)
	return trust && strings.EqualFold(c.Request().Header.Get("X-Forwarded-Proto"), "https")
}

// trustProxyKey marks requests whose X-Forwarded-* headers may be believed.
const trustProxyKey = "minipush.trust_proxy"

// MarkTrustProxy records, for IsHTTPS, that proxy headers are trusted.
func MarkTrustProxy(c echo.Context) { c.Set(trustProxyKey, true) }

// NotFound reports a missing object as 404 (the error page explains).
func NotFound(err error) error {
	if errors.Is(err, models.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	return err
}
