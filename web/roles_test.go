package web_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/web"
)

// access is who may call a route.
type access int

const (
	public    access = iota // no sign-in needed
	signedIn                // any staff member
	adminOnly               // admins
	operators               // operators and admins
	readers                 // operators, support and admins
	apiKey                  // the JSON API: an API key, never a staff session
)

// routeAccess is the permission matrix, written independently of
// routes.go: every registered route must appear here, and every role is
// checked against it.
var routeAccess = map[string]access{
	"GET /healthz":         public,
	"GET /readyz":          public,
	"GET /static/*":        public,
	"GET /wx/push/:appid":  public,
	"POST /wx/push/:appid": public,
	"GET /setup":           public,
	"POST /setup":          public,
	"GET /login":           public,
	"POST /login":          public,
	"POST /lang":           public,
	"POST /logout":         signedIn,

	"GET /api/v1/openapi.json":                public,
	"PUT /api/v1/users/:openid":               apiKey,
	"GET /api/v1/users/:openid":               apiKey,
	"POST /api/v1/users\\:batch":              apiKey,
	"GET /api/v1/users/:openid/subscriptions": apiKey,
	"GET /api/v1/users/:openid/messages":      apiKey,
	"POST /api/v1/subscriptions":              apiKey,
	"POST /api/v1/messages":                   apiKey,
	"GET /api/v1/messages/:id":                apiKey,
	"GET /":                                   signedIn,
	"GET /account":                            signedIn,
	"POST /account/password":                  signedIn,
	"POST /account/lang":                      signedIn,

	"GET /campaigns":                         operators,
	"GET /campaigns/new":                     operators,
	"POST /campaigns":                        operators,
	"POST /campaigns/check":                  operators,
	"GET /campaigns/:id":                     operators,
	"GET /campaigns/:id/edit":                operators,
	"POST /campaigns/:id":                    operators,
	"GET /campaigns/:id/audience":            operators,
	"GET /campaigns/:id/progress":            operators,
	"POST /campaigns/:id/recipients":         operators,
	"POST /campaigns/:id/test-send":          operators,
	"POST /campaigns/:id/schedule":           operators,
	"POST /campaigns/:id/unschedule":         operators,
	"POST /campaigns/:id/approve":            adminOnly,
	"GET /campaigns/approvals":               adminOnly,
	"POST /campaigns/:id/reject":             adminOnly,
	"POST /campaigns/:id/pause":              operators,
	"POST /campaigns/:id/resume":             operators,
	"POST /campaigns/:id/cancel":             operators,
	"POST /campaigns/:id/clone":              operators,
	"POST /campaigns/:id/runs/:run/resend":   operators,
	"GET /templates":                         readers,
	"POST /templates/sync":                   adminOnly,
	"GET /templates/library":                 adminOnly,
	"POST /templates/library":                adminOnly,
	"GET /templates/new":                     adminOnly,
	"POST /templates":                        adminOnly,
	"GET /templates/:id":                     readers,
	"POST /templates/:id/check":              readers,
	"POST /templates/:id/test-send":          operators,
	"GET /templates/:id/test-send/:delivery": operators,
	"POST /templates/:id/delete":             adminOnly,
	"GET /users":                             readers,
	"GET /users/:id":                         readers,
	"POST /users/:id/credits":                adminOnly,
	"GET /users/import":                      operators,
	"POST /users/import":                     operators,
	"GET /users/imports/:id":                 operators,
	"GET /users/imports/:id/rejected.csv":    operators,
	"GET /deliveries":                        readers,
	"GET /deliveries/export.csv":             readers,
	"GET /deliveries/:id":                    readers,
	"POST /deliveries/:id/settle":            operators,

	"GET /settings/apps":                adminOnly,
	"GET /settings/apps/new":            adminOnly,
	"POST /settings/apps":               adminOnly,
	"GET /settings/apps/:id":            adminOnly,
	"GET /settings/apps/:id/edit":       adminOnly,
	"POST /settings/apps/:id":           adminOnly,
	"POST /settings/apps/:id/test":      adminOnly,
	"GET /settings/apikeys":             adminOnly,
	"POST /settings/apikeys":            adminOnly,
	"POST /settings/apikeys/:id/revoke": adminOnly,
	"GET /settings/jobs":                adminOnly,
	"POST /settings/jobs/:name/run":     adminOnly,
	"GET /settings/staff":               adminOnly,
	"GET /settings/staff/new":           adminOnly,
	"POST /settings/staff":              adminOnly,
	"GET /settings/staff/:id/edit":      adminOnly,
	"POST /settings/staff/:id":          adminOnly,
	"POST /settings/staff/:id/password": adminOnly,
	"GET /settings/audit":               adminOnly,
}

func allowed(a access, role string) bool {
	switch a {
	case public:
		return true
	case signedIn:
		return role != ""
	case adminOnly:
		return role == "admin"
	case operators:
		return role == "admin" || role == "operator"
	case readers:
		return role != ""
	}
	return false
}

func TestRoleMatrix(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		staff := map[string]*models.Staff{
			"admin":    mustStaff(t, db, "admin@example.com", models.RoleAdmin),
			"operator": mustStaff(t, db, "operator@example.com", models.RoleOperator),
			"support":  mustStaff(t, db, "support@example.com", models.RoleSupport),
		}
		// A target for :id routes that no test role is (so nobody edits themselves).
		target := mustStaff(t, db, "target@example.com", models.RoleSupport)

		s := web.New(web.Deps{DB: db})
		var routes []string
		for _, r := range s.Echo.Routes() {
			if strings.HasPrefix(r.Method, "echo_route_") { // Echo's own not-found entries
				continue
			}
			routes = append(routes, r.Method+" "+r.Path)
		}
		sort.Strings(routes)
		seen := map[string]bool{}
		for _, rt := range routes {
			seen[rt] = true
			if _, ok := routeAccess[rt]; !ok {
				t.Errorf("route %s is not in the permission matrix: add it to routeAccess", rt)
			}
		}
		for rt := range routeAccess {
			if !seen[rt] {
				t.Errorf("matrix names %s but no such route is registered", rt)
			}
		}

		for _, rt := range routes {
			acc := routeAccess[rt]
			method, path, _ := strings.Cut(rt, " ")
			path = strings.ReplaceAll(path, ":id", id(target.ID))
			path = strings.ReplaceAll(path, ":delivery", "1")
			path = strings.ReplaceAll(path, ":name", "no-such-job")
			path = strings.ReplaceAll(path, ":appid", "wx0000000000000000")
			path = strings.ReplaceAll(path, "*", "app.css")
			path = strings.ReplaceAll(path, ":openid", "o_nobody")
			path = strings.ReplaceAll(path, `\:`, ":")
			for _, role := range []string{"", "support", "operator", "admin"} {
				var c *client
				if role == "" {
					c = app.client()
				} else {
					c = app.signedIn(staff[role])
				}
				var r response
				if method == http.MethodGet {
					r = c.get(path)
				} else {
					r = c.post(path, nil)
				}
				name := role
				if name == "" {
					name = "anonymous"
				}
				loc := r.header.Get("Location")
				toLogin := r.status == http.StatusSeeOther && strings.HasPrefix(loc, "/login")
				switch path {
				case "/logout": // signing out leads to /login when allowed too
					toLogin = toLogin && role == ""
				case "/setup": // once set up, /setup sends everyone to /login (TestSetupOnlyWhileNoStaff)
					toLogin = false
				}
				switch {
				case acc == apiKey:
					if r.status != http.StatusUnauthorized {
						t.Errorf("%s %s as %s: got %d, want 401 (the API takes API keys, not sessions)", method, path, name, r.status)
					}
				case allowed(acc, role):
					if r.status == http.StatusForbidden || toLogin || r.status >= 500 {
						t.Errorf("%s %s as %s: got %d (Location %q), want it allowed", method, path, name, r.status, loc)
					}
				case role == "":
					if !toLogin {
						t.Errorf("%s %s as anonymous: got %d (Location %q), want a redirect to /login", method, path, r.status, loc)
					}
				default:
					if r.status != http.StatusForbidden {
						t.Errorf("%s %s as %s: got %d (Location %q), want 403", method, path, name, r.status, loc)
					}
				}
			}
		}
	})
}
