package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/handlers"
	"github.com/minipush/minipush/models"
)

// Who may open what, as the menu and the dashboard's links need it. It is
// read off the route table itself: every console route is registered
// through guardedGroup, which runs the route's own guards (need(...))
// once per role at start-up against a stand-in staff member and records
// which roles they let through. A link is then shown only when its route
// would answer the viewer, with no second list of roles to keep in step.

// roleSet is the roles a route lets through.
type roleSet map[models.Role]bool

// routeRoles maps "METHOD /path/:param" to the roles its guards let through.
type routeRoles map[string]roleSet

var allRoles = []models.Role{models.RoleAdmin, models.RoleOperator, models.RoleSupport}

// guardedGroup is the console's route group, recording each route's roles.
type guardedGroup struct {
	*echo.Group
	s *Server
}

// guarded wraps the console group so its routes' roles are recorded.
func (s *Server) guarded(g *echo.Group) guardedGroup { return guardedGroup{Group: g, s: s} }

func (g guardedGroup) GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	g.s.record(http.MethodGet, path, m)
	return g.Group.GET(path, h, m...)
}

func (g guardedGroup) POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	g.s.record(http.MethodPost, path, m)
	return g.Group.POST(path, h, m...)
}

// record runs a route's own middleware for each role with a handler that
// only notes it was reached. Route middleware are guards (need) and limits
// that touch nothing but the request: they do no I/O here.
func (s *Server) record(method, path string, m []echo.MiddlewareFunc) {
	if s.roles == nil {
		s.roles = routeRoles{}
	}
	set := roleSet{}
	for _, role := range allRoles {
		reached := false
		h := echo.HandlerFunc(func(echo.Context) error { reached = true; return nil })
		for i := len(m) - 1; i >= 0; i-- {
			h = m[i](h)
		}
		req, _ := http.NewRequest(method, path, nil)
		c := s.Echo.NewContext(req, discard{})
		handlers.SetCurrent(c, &models.Staff{Role: role}, "")
		_ = h(c)
		if reached {
			set[role] = true
		}
	}
	s.roles[method+" "+path] = set
}

// allows tells whether role may call method on a concrete path (query
// strings are ignored; ":param" segments match any segment, and a route
// without parameters wins over one with, as in Echo's router).
func (r routeRoles) allows(role models.Role, method, target string) bool {
	target, _, _ = strings.Cut(target, "?")
	if set, ok := r[method+" "+target]; ok {
		return set[role]
	}
	best, bestParams := roleSet(nil), -1
	parts := strings.Split(target, "/")
	for key, set := range r {
		m, pattern, _ := strings.Cut(key, " ")
		if m != method {
			continue
		}
		if n, ok := matchPattern(strings.Split(pattern, "/"), parts); ok && (bestParams < 0 || n < bestParams) {
			best, bestParams = set, n
		}
	}
	return best[role]
}

// matchPattern matches path segments against a route's, counting the
// parameters it took.
func matchPattern(pattern, parts []string) (int, bool) {
	if len(pattern) != len(parts) {
		return 0, false
	}
	n := 0
	for i, p := range pattern {
		switch {
		case strings.HasPrefix(p, ":") && parts[i] != "":
			n++
		case p != parts[i]:
			return 0, false
		}
	}
	return n, true
}

// discard is a response writer for the guard probes (they write nothing
// that is kept).
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
