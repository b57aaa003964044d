package web

import (
	"crypto/subtle"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/handlers"
	"github.com/minipush/minipush/models"
)

// errCSRF is the refusal of a request that failed the CSRF check; the
// error page words it as an expired or foreign form, not as a role.
var errCSRF = echo.NewHTTPError(http.StatusForbidden, "csrf")

// csrfGuard protects every console form and htmx request.
//
//   - Signed in, the token is handlers.SessionCSRF of the session: bound to
//     it, so a token from before sign-in or from another session fails, and
//     new at every sign-in. Signed out (sign-in and setup forms), it is a
//     random double-submit cookie.
//   - The token is read from the X-CSRF-Token header (htmx) or the _csrf
//     field of a POSTed body, never from the query string, where it would
//     leak into logs and Referer headers.
//   - A browser that says the request is cross-site (Sec-Fetch-Site) is
//     refused even with a token. (Origin is not compared with Host: a proxy
//     may rewrite Host, and the token already stops older browsers.)
//
// The cookie is Secure when the browser came over HTTPS.
func csrfGuard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		want := ""
		if tok := handlers.SessionToken(c); tok != "" {
			want = handlers.SessionCSRF(tok)
		} else if ck, err := c.Cookie(handlers.CSRFCookie); err == nil && validAnonCSRF(ck.Value) {
			want = ck.Value
		} else {
			want = models.RandomToken(32)
		}
		if ck, err := c.Cookie(handlers.CSRFCookie); err != nil || ck.Value != want {
			handlers.SetCSRFCookie(c, want)
		}
		c.Response().Header().Add(echo.HeaderVary, echo.HeaderCookie)
		r := c.Request()
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		default:
			if crossSite(r) {
				return errCSRF
			}
			// A boosted form sends both; either may carry it. The body
			// only: PostFormValue never reads the query string.
			if !tokenMatches(r.Header.Get(echo.HeaderXCSRFToken), want) && !tokenMatches(r.PostFormValue("_csrf"), want) {
				return errCSRF
			}
		}
		c.Set("csrf", want)
		return next(c)
	}
}

func tokenMatches(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// validAnonCSRF accepts what RandomToken(32) makes: 43 URL-safe characters.
func validAnonCSRF(v string) bool {
	if len(v) != 43 {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// crossSite tells whether the browser says the request came from another
// site: Sec-Fetch-Site other than same-origin or none (typed or bookmarked).
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return false
	}
	return true
}
