package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

func TestSetupOnlyWhileNoStaff(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		c := app.client()
		wantRedirect(t, c.get("/"), "/setup")
		wantRedirect(t, c.get("/login"), "/setup")
		wantRedirect(t, c.get("/settings/staff"), "/setup")
		r := c.get("/setup")
		want(t, r, http.StatusOK)
		if r.doc(t).Find(`[data-testid=setup] input[name=email]`).Length() != 1 {
			t.Fatal("setup form has no email field")
		}

		// Invalid input re-renders with 422 and a message per field, in both languages.
		for lang, wantMsg := range map[string]string{"en": "Enter a valid email address", "zh": "请输入有效的邮箱地址"} {
			c.lang = lang
			r = c.post("/setup", url.Values{"email": {"not-an-email"}, "password": {"short"}, "password2": {"other"}})
			want(t, r, http.StatusUnprocessableEntity)
			d := r.doc(t)
			if got := d.Find(`[data-testid=error-email]`).Text(); !strings.Contains(got, wantMsg) {
				t.Errorf("%s: email error %q, want %q", lang, got, wantMsg)
			}
			if d.Find(`[data-testid=error-password]`).Length() != 1 || d.Find(`[data-testid=error-password2]`).Length() != 1 {
				t.Errorf("%s: password errors missing", lang)
			}
			if v, _ := d.Find(`input[name=email]`).Attr("value"); v != "not-an-email" {
				t.Errorf("%s: typed email lost: %q", lang, v)
			}
		}
		c.lang = ""
		if n, _ := models.CountStaff(context.Background(), db); n != 0 {
			t.Fatalf("invalid setup created %d staff", n)
		}

		r = c.post("/setup", url.Values{"email": {"Boss@Example.com"}, "name": {"Boss"}, "password": {"correct horse battery"}, "password2": {"correct horse battery"}})
		wantRedirect(t, r, "/")
		r = c.get("/")
		want(t, r, http.StatusOK)
		if r.doc(t).Find(`[data-testid=dashboard]`).Length() != 1 {
			t.Fatal("not on the dashboard after setup")
		}
		s, err := models.GetStaffByEmail(context.Background(), db, "boss@example.com")
		if err != nil || s.Role != models.RoleAdmin {
			t.Fatalf("first admin: %+v %v", s, err)
		}
		if s.PasswordHash == "correct horse battery" || !s.CheckPassword("correct horse battery") {
			t.Fatal("password not stored as a bcrypt hash")
		}

		// Setup is gone once someone exists, for everyone.
		other := app.client()
		wantRedirect(t, other.get("/setup"), "/login")
		wantRedirect(t, other.post("/setup", url.Values{"email": {"evil@example.com"}, "password": {"correct horse battery"}, "password2": {"correct horse battery"}}), "/login")
		if n, _ := models.CountStaff(context.Background(), db); n != 1 {
			t.Fatalf("staff after a second setup attempt: %d", n)
		}
		want(t, other.get("/login"), http.StatusOK)
	})
}

func TestLoginAndThrottle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		mustStaff(t, db, "ops@example.com", models.RoleOperator)

		c := app.client()
		r := c.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"wrong password"}})
		want(t, r, http.StatusUnauthorized)
		if !strings.Contains(r.doc(t).Find(`[data-testid=flash]`).Text(), "Wrong email or password") && !strings.Contains(r.body, "邮箱或密码不正确") {
			t.Fatalf("no wrong-password message:\n%s", r.body)
		}
		wantRedirect(t, c.get("/"), "/login?next=")

		r = c.post("/login", url.Values{"email": {"OPS@example.com "}, "password": {"correct horse battery"}, "next": {"/account"}})
		wantRedirect(t, r, "/account")
		want(t, c.get("/account"), http.StatusOK)
		// An offsite next is ignored.
		for _, next := range []string{"//evil.example", "/\t/evil.example", "/\\evil.example", "https://evil.example/x"} {
			c2 := app.client()
			r := c2.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}, "next": {next}})
			if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
				t.Fatalf("next=%q: got %d Location %q, want 303 to /", next, r.status, r.header.Get("Location"))
			}
		}

		// Logout ends the session.
		wantRedirect(t, c.post("/logout", nil), "/login")
		wantRedirect(t, c.get("/"), "/login")

		// Five failures lock the account, even for the right password.
		bad := app.client()
		for i := 0; i < 5; i++ {
			want(t, bad.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"nope nope nope"}}), http.StatusUnauthorized)
		}
		r = bad.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}})
		want(t, r, http.StatusTooManyRequests)
		fresh := app.client()
		r = fresh.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}})
		want(t, r, http.StatusTooManyRequests)
		if !strings.Contains(r.body, ":00)") || !strings.Contains(r.body, "(UTC") {
			t.Fatalf("the lock's end names no zone:\n%.2000s", r.body)
		}
		// Admins see the lock; a new password from them ends it.
		boss := app.signedIn(mustStaff(t, db, "boss@example.com", models.RoleAdmin))
		boss.lang = "en"
		ops, _ := models.GetStaffByEmail(context.Background(), db, "ops@example.com")
		row := boss.get("/settings/staff").doc(t).Find("[data-testid=staff-row-" + id(ops.ID) + "]")
		if !strings.Contains(row.Find("[data-testid=staff-locked]").Text(), "Sign-in locked until") {
			t.Fatalf("locked staff shown as %q", row.Text())
		}
		wantRedirect(t, boss.post("/settings/staff/"+id(ops.ID)+"/password", url.Values{"password": {"brand new horse battery"}}), "/settings/staff")
		wantRedirect(t, app.client().post("/login", url.Values{"email": {"ops@example.com"}, "password": {"brand new horse battery"}}), "/")
		if boss.get("/settings/staff").doc(t).Find("[data-testid=staff-locked]").Length() != 0 {
			t.Fatal("still shown locked after the reset")
		}

		// Per IP: guesses at many accounts from one address are throttled too,
		// within the 20 attempts the policy allows, and then lock out everyone there.
		mustStaff(t, db, "other@example.com", models.RoleSupport)
		ipc := app.client()
		locked := false
		for i := 0; i < 21 && !locked; i++ {
			r := ipc.post("/login", url.Values{"email": {"nobody" + string(rune('a'+i)) + "@example.com"}, "password": {"x"}})
			switch r.status {
			case http.StatusUnauthorized:
			case http.StatusTooManyRequests:
				locked = true
			default:
				want(t, r, http.StatusUnauthorized)
			}
		}
		if !locked {
			t.Fatal("21 guesses from one address were never throttled")
		}
		want(t, ipc.post("/login", url.Values{"email": {"other@example.com"}, "password": {"correct horse battery"}}), http.StatusTooManyRequests)
	})
}

// Guesses sent in parallel are counted before the password is checked: no
// more than the policy's 5 reach the password check, and none fail with 500.
func TestLoginThrottleHoldsUnderConcurrency(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		mustStaff(t, db, "ops@example.com", models.RoleOperator)
		c := app.client()
		tok := c.csrf()
		var wg sync.WaitGroup
		var mu sync.Mutex
		counts := map[int]int{}
		for i := 0; i < 30; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := c.do(http.MethodPost, "/login", url.Values{"email": {"ops@example.com"}, "password": {"wrong guess"}, "_csrf": {tok}}, nil)
				mu.Lock()
				counts[r.status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if counts[http.StatusUnauthorized] > 5 || counts[http.StatusTooManyRequests] < 25 || len(counts) != 2 {
			t.Fatalf("30 parallel guesses: %v (want at most 5 checked, the rest refused)", counts)
		}
	})
}

func TestDisabledStaffCannotSignIn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		ops := mustStaff(t, db, "ops@example.com", models.RoleOperator)
		opsClient := app.signedIn(ops)
		want(t, opsClient.get("/"), http.StatusOK)

		admin := app.signedIn(boss)
		wantRedirect(t, admin.post("/settings/staff/"+id(ops.ID), url.Values{"name": {"Ops"}, "role": {"operator"}, "disabled": {"1"}}), "/settings/staff")
		wantRedirect(t, opsClient.get("/"), "/login")
		want(t, app.client().post("/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}}), http.StatusUnauthorized)

		// The last admin cannot demote or disable themselves.
		r := admin.post("/settings/staff/"+id(boss.ID), url.Values{"role": {"support"}})
		want(t, r, http.StatusUnprocessableEntity)
		if r.doc(t).Find(`[data-testid=error-role]`).Length() != 1 {
			t.Fatal("no error explaining the last admin")
		}
	})
}

func TestCSRFRequired(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		c := app.signedIn(boss)
		c.get("/")
		// No token at all.
		r := c.do(http.MethodPost, "/account/lang", url.Values{"lang": {"zh"}}, nil)
		want(t, r, http.StatusForbidden)
		// A wrong token.
		want(t, c.do(http.MethodPost, "/account/lang", url.Values{"lang": {"zh"}, "_csrf": {"forged"}}, nil), http.StatusForbidden)
		// A cross-site browser request is refused even with a token.
		want(t, c.do(http.MethodPost, "/account/lang", url.Values{"lang": {"zh"}, "_csrf": {c.csrf()}}, map[string]string{"Sec-Fetch-Site": "cross-site"}), http.StatusForbidden)
		s, _ := models.GetStaff(context.Background(), db, boss.ID)
		if s.Lang != "en" {
			t.Fatalf("a refused request changed the language to %q", s.Lang)
		}
		// The header form, as htmx sends it, works.
		r = c.do(http.MethodPost, "/account/lang", url.Values{"lang": {"zh"}}, map[string]string{"X-CSRF-Token": c.csrf()})
		wantRedirect(t, r, "/account")
		s, _ = models.GetStaff(context.Background(), db, boss.ID)
		if s.Lang != "zh" {
			t.Fatalf("language not saved: %q", s.Lang)
		}
		// Its confirmation is in the language just chosen.
		if f := c.get("/account").doc(t).Find("[data-testid=flash]").Text(); !strings.Contains(f, "界面语言已保存") {
			t.Fatalf("confirmation %q, want it in Chinese", f)
		}
		// Sign-in is protected too (login CSRF).
		want(t, app.client().do(http.MethodPost, "/login", url.Values{"email": {"boss@example.com"}, "password": {"correct horse battery"}}, nil), http.StatusForbidden)
	})
}

func TestAuditRecordsRoleChange(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		ops := mustStaff(t, db, "ops@example.com", models.RoleOperator)
		c := app.signedIn(boss)
		wantRedirect(t, c.post("/settings/staff/"+id(ops.ID), url.Values{"name": {""}, "role": {"support"}}), "/settings/staff")

		rows, err := models.ListAudit(context.Background(), db, models.AuditFilter{Action: "staff.role"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 {
			t.Fatalf("%d staff.role audit rows, want 1", len(rows))
		}
		a := rows[0]
		if a.StaffID == nil || *a.StaffID != boss.ID || a.StaffEmail != "boss@example.com" || a.ObjectID != "ops@example.com" ||
			!strings.Contains(a.Detail, `"from":"operator"`) || !strings.Contains(a.Detail, `"to":"support"`) || a.IP == "" {
			t.Fatalf("audit row: %+v", a)
		}
		s, _ := models.GetStaff(context.Background(), db, ops.ID)
		if s.Role != models.RoleSupport {
			t.Fatalf("role is %s", s.Role)
		}
		// The audit page shows it, and filters.
		r := c.get("/settings/audit?action=staff.role")
		want(t, r, http.StatusOK)
		if n := r.doc(t).Find(`[data-testid=audit-table] tbody tr`).Length(); n != 1 {
			t.Fatalf("audit page shows %d rows for staff.role", n)
		}
		r = c.get("/settings/audit?action=nothing.like.this")
		if r.doc(t).Find(`[data-testid=empty]`).Length() != 1 {
			t.Fatal("no empty state for a filter that matches nothing")
		}
	})
}

func TestStaffAdminJourney(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		c := app.signedIn(boss)
		r := c.post("/settings/staff", url.Values{"email": {"boss@example.com"}, "role": {"operator"}, "password": {"correct horse battery"}})
		want(t, r, http.StatusUnprocessableEntity)
		if r.doc(t).Find(`[data-testid=error-email]`).Length() != 1 {
			t.Fatal("duplicate email not reported on the field")
		}
		wantRedirect(t, c.post("/settings/staff", url.Values{"email": {"new@example.com"}, "role": {"support"}, "password": {"another long password"}}), "/settings/staff")
		r = c.get("/settings/staff")
		want(t, r, http.StatusOK)
		if !strings.Contains(r.body, "new@example.com") {
			t.Fatal("new staff not listed")
		}
		n, _ := models.GetStaffByEmail(context.Background(), db, "new@example.com")
		wantRedirect(t, c.post("/settings/staff/"+id(n.ID)+"/password", url.Values{"password": {"a brand new password"}}), "/settings/staff")
		wantRedirect(t, app.client().post("/login", url.Values{"email": {"new@example.com"}, "password": {"a brand new password"}}), "/")

		// Own password change needs the current one.
		me := app.signedIn(n)
		r = me.post("/account/password", url.Values{"current": {"wrong"}, "password": {"yet another password"}, "password2": {"yet another password"}})
		want(t, r, http.StatusUnprocessableEntity)
		wantRedirect(t, me.post("/account/password", url.Values{"current": {"a brand new password"}, "password": {"yet another password"}, "password2": {"yet another password"}}), "/account")
		want(t, me.get("/account"), http.StatusOK)

		acts := map[string]bool{}
		rows, _ := models.ListAudit(context.Background(), db, models.AuditFilter{Limit: 100})
		for _, a := range rows {
			acts[a.Action] = true
		}
		for _, a := range []string{"staff.create", "staff.reset_password", "staff.change_password"} {
			if !acts[a] {
				t.Errorf("no %s audit row (have %v)", a, acts)
			}
		}
	})
}
