package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/handlers"
	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views/components"
)

// loadSession reads the session cookie and records the signed-in staff member.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if ck, err := c.Cookie(handlers.SessionCookie); err == nil && ck.Value != "" {
			sess, st, err := models.LookupSession(c.Request().Context(), s.env.DB, ck.Value, s.env.Now())
			switch {
			case err == nil:
				handlers.SetCurrent(c, st, ck.Value)
				if sess.Slid {
					// The server-side expiry moved on: so does the cookie's.
					handlers.SetSessionCookie(c, ck.Value, sess.ExpiresAt)
				}
			case errors.Is(err, models.ErrNotFound):
				c.SetCookie(&http.Cookie{Name: handlers.SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
				c.SetCookie(&http.Cookie{Name: handlers.EndedCookie, Value: "1", Path: "/", MaxAge: 60, HttpOnly: true,
					SameSite: http.SameSiteLaxMode, Secure: handlers.IsHTTPS(c)})
			default:
				return err
			}
		}
		return next(c)
	}
}

// noStore keeps console pages out of every cache (browser history, shared
// proxies): they show people's data and carry the CSRF token. Static files
// are served outside this chain and stay cacheable.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

// hstsValue asks browsers to use only HTTPS for a year (not subdomains:
// the operator may run other sites under the same domain).
const hstsValue = "max-age=31536000"

// hsts sends Strict-Transport-Security when the request came over HTTPS:
// TLS to minipush itself, or, with --trust-proxy, a proxy saying so in
// X-Forwarded-Proto (an untrusted header is ignored).
func hsts(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if handlers.IsHTTPS(c) {
			c.Response().Header().Set("Strict-Transport-Security", hstsValue)
		}
		return next(c)
	}
}

// requestInfo puts the language and viewer into the request context for
// the views. It runs before the CSRF check, so even its refusal page
// speaks the visitor's language; csrfInfo adds the token afterwards.
func (s *Server) requestInfo(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := &components.Request{Lang: pickLang(c), Path: "/", TZ: s.env.Location}
		if c.Request().Method == http.MethodGet {
			// The language switch returns here; only a GET can be returned to.
			r.Path = c.Request().URL.RequestURI()
		}
		if st := handlers.CurrentStaff(c); st != nil {
			r.Viewer = &components.Viewer{ID: st.ID, Email: st.Email, Name: st.Name, Role: string(st.Role)}
			r.Allows = func(method, path string) bool { return s.roles.allows(st.Role, method, path) }
		}
		c.SetRequest(c.Request().WithContext(components.WithRequest(c.Request().Context(), r)))
		return next(c)
	}
}

// csrfInfo gives the views the CSRF token the CSRF middleware settled on.
func csrfInfo(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if tok, ok := c.Get("csrf").(string); ok {
			components.Req(c.Request().Context()).CSRF = tok
		}
		return next(c)
	}
}

// pickLang: the staff member's choice, else the language cookie, else the
// browser's Accept-Language, else Chinese.
func pickLang(c echo.Context) string {
	if st := handlers.CurrentStaff(c); st != nil && components.ValidLang(st.Lang) {
		return st.Lang
	}
	if ck, err := c.Cookie(handlers.LangCookie); err == nil && components.ValidLang(ck.Value) {
		return ck.Value
	}
	for _, part := range strings.Split(c.Request().Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "zh"):
			return "zh"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	return components.DefaultLang
}

// setupGate sends every console page to /setup while no staff exist.
func (s *Server) setupGate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := c.Path()
		if p == "/setup" || p == "/lang" {
			return next(c)
		}
		done, err := s.setup.Done(c, s.env)
		if err != nil {
			return err
		}
		if !done {
			return c.Redirect(http.StatusSeeOther, "/setup")
		}
		return next(c)
	}
}

// signedIn sends anonymous visitors to the sign-in page.
func signedIn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if handlers.CurrentStaff(c) != nil {
			return next(c)
		}
		target := "/login"
		if c.Request().Method == http.MethodGet {
			target += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
		}
		if handlers.IsHTMX(c) {
			c.Response().Header().Set("HX-Redirect", target)
			return c.NoContent(http.StatusUnauthorized)
		}
		return c.Redirect(http.StatusSeeOther, target)
	}
}

// need lets through staff holding one of roles; admins hold every role.
// With no roles, anyone signed in passes.
func need(roles ...models.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return signedIn(func(c echo.Context) error {
			st := handlers.CurrentStaff(c)
			if len(roles) == 0 || st.Role == models.RoleAdmin || slices.Contains(roles, st.Role) {
				return next(c)
			}
			return echo.NewHTTPError(http.StatusForbidden)
		})
	}
}

// anyone marks a console route open to every signed-in staff member.
var anyone = need()
