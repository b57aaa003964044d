package web_test

import (
	"net/http"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// menuEntries is every entry the sidebar may show, with the page it opens.
var menuEntries = map[string]string{
	"dashboard": "/", "campaigns": "/campaigns", "templates": "/templates", "users": "/users", "deliveries": "/deliveries",
	"apps": "/settings/apps", "staff": "/settings/staff", "apikeys": "/settings/apikeys", "audit": "/settings/audit", "jobs": "/settings/jobs",
}

// The menu as a matrix: for each role and each entry, the link is shown
// exactly when its page answers 200 for that role.
func TestMenuMatrix(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		shown := map[string]int{}
		for _, role := range []models.Role{models.RoleAdmin, models.RoleOperator, models.RoleSupport} {
			c := app.signedIn(mustStaff(t, db, string(role)+"@example.com", role))
			r := c.get("/")
			want(t, r, http.StatusOK)
			doc := r.doc(t)
			for key, href := range menuEntries {
				link := doc.Find(`[data-testid="nav"] a[data-testid="nav-` + key + `"]`)
				present := link.Length() == 1
				if present {
					shown[string(role)]++
					if h, _ := link.Attr("href"); h != href {
						t.Errorf("%s: entry %s links to %q, want %q", role, key, h, href)
					}
				}
				status := c.get(href).status
				if present != (status == http.StatusOK) {
					t.Errorf("%s: entry %s shown=%v but %s answers %d", role, key, present, href, status)
				}
			}
			// No group title stands without entries under it.
			doc.Find(`[data-testid="nav"] .nav-group`).Each(func(_ int, g *goquery.Selection) {
				if g.Find("a").Length() == 0 {
					t.Errorf("%s: empty menu group %q", role, g.Text())
				}
			})
		}
		// Error pages keep the viewer's menu.
		r := app.signedIn(mustStaff(t, db, "boss2@example.com", models.RoleAdmin)).get("/no-such-page")
		want(t, r, http.StatusNotFound)
		if n := r.doc(t).Find(`[data-testid="nav"] a`).Length(); n != 10 {
			t.Errorf("admin's 404 page shows %d menu entries, want 10", n)
		}
		// The matrix is not trivially true: each role sees a different menu.
		if shown["admin"] != 10 || shown["operator"] != 5 || shown["support"] != 4 {
			t.Errorf("entries shown per role %v, want admin 10, operator 5, support 4", shown)
		}
	})
}
