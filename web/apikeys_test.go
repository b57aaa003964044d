package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

func TestAPIKeysCreateShowOnceListRevoke(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		c := app.signedIn(boss)
		_, base := wxSandbox(t)
		a := createApp(t, c, db, base)

		// A name is required: 422 with the message under the field.
		r := c.post("/settings/apikeys", url.Values{"app": {id(a.ID)}, "name": {" "}})
		want(t, r, http.StatusUnprocessableEntity)
		if r.doc(t).Find(`[data-testid="error-name"]`).Length() != 1 {
			t.Fatalf("no error under the name field:\n%.2000s", r.body)
		}

		r = c.post("/settings/apikeys", url.Values{"app": {id(a.ID)}, "name": {"order-service"}})
		want(t, r, http.StatusOK)
		key := strings.TrimSpace(r.doc(t).Find(`[data-testid="apikey-value"]`).Text())
		if !strings.HasPrefix(key, models.APIKeyPrefix) || len(key) < 40 {
			t.Fatalf("key shown %q", key)
		}
		// Stored hashed: the clear key is nowhere in the table.
		var n int64
		db.Raw("SELECT COUNT(*) FROM api_keys WHERE key_hash = ? OR prefix = ? OR name = ?", key, key, key).Scan(&n)
		if n != 0 {
			t.Fatal("the clear key is stored")
		}
		k, err := models.AuthenticateAPIKey(ctx, db, key)
		if err != nil || k.AppID != a.ID || k.CreatedBy == nil || *k.CreatedBy != boss.ID {
			t.Fatalf("authenticate: %+v %v", k, err)
		}

		// The list shows the prefix, never the key again.
		r = c.get("/settings/apikeys")
		want(t, r, http.StatusOK)
		if strings.Contains(r.body, key) {
			t.Fatal("the list shows the key again")
		}
		row := r.doc(t).Find(`[data-testid="apikey-row-` + id(k.ID) + `"]`)
		if !strings.Contains(row.Text(), k.Prefix) || !strings.Contains(row.Text(), "boss@example.com") {
			t.Fatalf("row %q", row.Text())
		}

		// A second key of the same name for the account is refused, the name kept.
		r = c.post("/settings/apikeys", url.Values{"app": {id(a.ID)}, "name": {"order-service"}})
		want(t, r, http.StatusUnprocessableEntity)
		if r.doc(t).Find(`[data-testid="error-name"]`).Length() != 1 || r.doc(t).Find(`input[name=name]`).AttrOr("value", "") != "order-service" {
			t.Fatalf("a second key named alike:\n%.2000s", r.body)
		}

		wantRedirect(t, c.post("/settings/apikeys/"+id(k.ID)+"/revoke", nil), "/settings/apikeys")
		if _, err := models.AuthenticateAPIKey(ctx, db, key); err != models.ErrNotFound {
			t.Fatalf("revoked key still authenticates: %v", err)
		}
		var actions []string
		db.Raw("SELECT action FROM audit_log WHERE object_type = 'api_key' ORDER BY id").Scan(&actions)
		if strings.Join(actions, ",") != "apikey.create,apikey.revoke" {
			t.Fatalf("audit %v", actions)
		}
		var detail string
		db.Raw("SELECT detail FROM audit_log WHERE action = 'apikey.create'").Scan(&detail)
		if strings.Contains(detail, key) || strings.Contains(app.log.String(), key) {
			t.Fatal("the key is in the audit log or the server log")
		}
	})
}
