package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/handlers"
	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/web"
)

// cookie returns the Set-Cookie of name in r, or nil.
func setCookie(r response, name string) *http.Cookie {
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

func (c *client) jarCookie(name string) string {
	u, _ := url.Parse(c.app.srv.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func auditRows(t *testing.T, db *gorm.DB, action string) []models.AuditEntry {
	t.Helper()
	rows, err := models.ListAudit(context.Background(), db, models.AuditFilter{Action: action, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []models.AuditEntry
	for _, r := range rows {
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

// The CSRF token is read from the header or the POSTed body only: one in
// the query string (where logs and Referer headers carry it) is refused,
// and the refusal says the form expired, not that the role is wrong.
func TestCSRFNotFromQueryString(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		c := app.signedIn(boss)
		tok := c.csrf()
		r := c.do(http.MethodPost, "/account/lang?_csrf="+url.QueryEscape(tok), url.Values{"lang": {"zh"}}, nil)
		want(t, r, http.StatusForbidden)
		if s, _ := models.GetStaff(context.Background(), db, boss.ID); s.Lang != "en" {
			t.Fatalf("a token in the query string was accepted: language is %q", s.Lang)
		}
		// In this order: the zh case switches the account to Chinese, which
		// then wins over the browser's language (a map's random order made
		// the en case fail about one run in two).
		for _, lm := range [][2]string{{"en", "The form expired or came from another site — reload and try again."}, {"zh", "表单已过期，或来自其他网站。请刷新页面后重试。"}} {
			lang, msg := lm[0], lm[1]
			c.lang = lang
			if lang == "zh" {
				wantRedirect(t, c.post("/account/lang", url.Values{"lang": {"zh"}}), "/account")
			}
			r := c.do(http.MethodPost, "/account/lang", url.Values{"lang": {"en"}}, map[string]string{"Sec-Fetch-Site": "cross-site", "X-CSRF-Token": tok})
			want(t, r, http.StatusForbidden)
			if !strings.Contains(r.body, msg) || strings.Contains(r.body, "Your role cannot open this page") || strings.Contains(r.body, "你的角色不能访问此页面") {
				t.Fatalf("%s: the cross-site refusal does not say the form expired:\n%.3000s", lang, r.body)
			}
		}
	})
}

// The signed-in CSRF token belongs to the session: a new one at sign-in
// (the one from the sign-in page no longer passes), another session's
// token does not pass, and a sign-out ends it.
func TestCSRFBoundToSessionAndRotatedAtSignIn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		mustStaff(t, db, "ops@example.com", models.RoleOperator)

		c := app.client()
		before := c.csrf()
		r := c.post("/login", url.Values{"email": {"boss@example.com"}, "password": {"correct horse battery"}})
		wantRedirect(t, r, "/")
		ck := setCookie(r, "minipush_csrf")
		if ck == nil || ck.Value == "" || ck.Value == before {
			t.Fatalf("sign-in did not issue a new CSRF token: %+v (before %q)", ck, before)
		}
		after := c.jarCookie("minipush_csrf")
		// The pre-sign-in token is dead.
		want(t, c.do(http.MethodPost, "/account/lang", url.Values{"lang": {"zh"}, "_csrf": {before}}, nil), http.StatusForbidden)
		// Another person's token does not pass in this session, even with
		// the cookie set to match (double submit alone is not enough).
		other := app.client()
		wantRedirect(t, other.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}}), "/")
		otherTok := other.jarCookie("minipush_csrf")
		u, _ := url.Parse(app.srv.URL)
		c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "minipush_csrf", Value: otherTok, Path: "/"}})
		want(t, c.do(http.MethodPost, "/account/lang", url.Values{"lang": {"zh"}, "_csrf": {otherTok}}, nil), http.StatusForbidden)
		// A GET puts the session's own token back; it passes.
		want(t, c.get("/account"), http.StatusOK)
		if got := c.jarCookie("minipush_csrf"); got != after {
			t.Fatalf("the session's token was not re-issued: %q, want %q", got, after)
		}
		wantRedirect(t, c.do(http.MethodPost, "/account/lang", url.Values{"lang": {"zh"}, "_csrf": {after}}, nil), "/account")
		if s, _ := models.GetStaff(context.Background(), db, boss.ID); s.Lang != "zh" {
			t.Fatalf("language not saved: %q", s.Lang)
		}
	})
}

// Over HTTPS (directly, or through a trusted proxy's X-Forwarded-Proto)
// the CSRF cookie is Secure and HSTS is sent; an untrusted header changes
// nothing.
func TestHTTPSOnlyCookiesAndHSTS(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		trusted := newTestApp(t, db, func(d *web.Deps) { d.TrustProxy = true })
		direct := newTestApp(t, db)
		https := map[string]string{"X-Forwarded-Proto": "https"}

		r := trusted.client().do(http.MethodGet, "/setup", nil, https)
		if ck := setCookie(r, "minipush_csrf"); ck == nil || !ck.Secure {
			t.Fatalf("behind a trusted TLS proxy the CSRF cookie is not Secure: %+v", ck)
		}
		if got := r.header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Fatalf("behind a trusted TLS proxy HSTS = %q", got)
		}
		for name, r := range map[string]response{
			"untrusted header": direct.client().do(http.MethodGet, "/setup", nil, https),
			"plain HTTP":       trusted.client().get("/setup"),
		} {
			if ck := setCookie(r, "minipush_csrf"); ck == nil || ck.Secure {
				t.Fatalf("%s: CSRF cookie %+v, want one without Secure", name, ck)
			}
			if got := r.header.Get("Strict-Transport-Security"); got != "" {
				t.Fatalf("%s: HSTS sent: %q", name, got)
			}
		}
	})
}

// Signed-in pages are never cached; static files still are.
func TestSignedInPagesNoStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		c := app.signedIn(boss)
		for _, p := range []string{"/", "/account", "/settings/staff", "/settings/audit"} {
			r := c.get(p)
			want(t, r, http.StatusOK)
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("%s: Cache-Control %q, want no-store", p, got)
			}
		}
		if got := c.get("/static/app.js").header.Get("Cache-Control"); got == "no-store" {
			t.Errorf("static files must stay cacheable: Cache-Control %q", got)
		}
	})
}

// Sign-ins, failed sign-ins and the failure that starts a lockout are in
// the audit log, with the address; a lockout is written once, not for
// every attempt it refuses.
func TestSignInsAudited(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		ops := mustStaff(t, db, "ops@example.com", models.RoleOperator)
		c := app.client()
		want(t, c.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"wrong password"}}), http.StatusUnauthorized)
		wantRedirect(t, c.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}}), "/")

		failed := auditRows(t, db, "auth.sign_in_failed")
		if len(failed) != 1 || failed[0].ObjectID != "ops@example.com" || failed[0].IP == "" || failed[0].StaffID != nil ||
			!strings.Contains(failed[0].Detail, `"reason":"bad_credentials"`) {
			t.Fatalf("failed sign-in audit: %+v", failed)
		}
		ok := auditRows(t, db, "auth.sign_in")
		if len(ok) != 1 || ok[0].StaffID == nil || *ok[0].StaffID != ops.ID || ok[0].IP == "" {
			t.Fatalf("sign-in audit: %+v", ok)
		}

		bad := app.client()
		for i := 0; i < 5; i++ {
			want(t, bad.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"nope nope nope"}}), http.StatusUnauthorized)
		}
		for i := 0; i < 3; i++ {
			want(t, bad.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}}), http.StatusTooManyRequests)
		}
		locks := auditRows(t, db, "auth.lockout")
		if len(locks) != 1 || locks[0].ObjectID != "ops@example.com" || !strings.Contains(locks[0].Detail, `"by":"account"`) {
			t.Fatalf("lockout audit rows: %+v", locks)
		}
		if n := len(auditRows(t, db, "auth.sign_in_failed")); n != 6 {
			t.Fatalf("%d failed sign-ins audited, want 6", n)
		}
	})
}

// A new sign-in of the same person ends their older sessions; a session
// also ends 12 hours after sign-in however much it is used.
func TestSessionsEndAtNewSignInAndAfterMaxAge(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		mustStaff(t, db, "ops@example.com", models.RoleOperator)
		first := app.client()
		wantRedirect(t, first.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}}), "/")
		want(t, first.get("/account"), http.StatusOK)
		second := app.client()
		wantRedirect(t, second.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}}), "/")
		wantRedirect(t, first.get("/account"), "/login")
		// The sign-in page the first browser lands on says why, once.
		first.lang = "en"
		if n := first.get("/login").doc(t).Find("body").Text(); !strings.Contains(n, "Your session has ended") {
			t.Fatalf("the ended session's sign-in page says nothing of it:\n%.1500s", n)
		}
		if strings.Contains(first.get("/login").body, "Your session has ended") {
			t.Fatal("the ended-session notice shows again")
		}
		if strings.Contains(app.client().get("/login").body, "Your session has ended") {
			t.Fatal("a browser that had no session is told its session ended")
		}
		want(t, second.get("/account"), http.StatusOK)
		ok := auditRows(t, db, "auth.sign_in")
		if len(ok) != 2 || !strings.Contains(ok[0].Detail, `"ended_sessions":1`) {
			t.Fatalf("the second sign-in's audit row does not count the ended session: %+v", ok)
		}
		// Ended again, then signed in at once and out: the mark went with the
		// new sign-in, so the sign-in page after signing out says nothing of it.
		third := app.client()
		third.lang = "en"
		wantRedirect(t, third.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}}), "/")
		wantRedirect(t, first.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}}), "/")
		wantRedirect(t, third.get("/account"), "/login")
		wantRedirect(t, third.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}}), "/")
		srvURL, _ := url.Parse(app.srv.URL)
		for _, ck := range third.http.Jar.Cookies(srvURL) {
			if ck.Name == handlers.EndedCookie {
				t.Fatal("a new sign-in kept the ended-session mark")
			}
		}
		third.post("/logout", nil)
		if strings.Contains(third.get("/login").body, "Your session has ended") {
			t.Fatal("after signing in again and out, the sign-in page still says the old session ended")
		}
		wantRedirect(t, second.post("/login", url.Values{"email": {"ops@example.com"}, "password": {"correct horse battery"}}), "/")

		// Used a minute ago, idle expiry an hour away, but signed in 13 hours ago.
		now := time.Now().UTC()
		if err := db.Exec("UPDATE sessions SET created_at = ?, last_seen_at = ?, expires_at = ?", now.Add(-13*time.Hour), now.Add(-time.Minute), now.Add(time.Hour)).Error; err != nil {
			t.Fatal(err)
		}
		wantRedirect(t, second.get("/account"), "/login")
	})
}

// Long but trivial passwords are refused with a reason, in both languages,
// at setup, when an admin adds or resets someone, and at one's own change.
func TestWeakPasswordsRefused(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		c := app.client()
		for lang, msg := range map[string]string{"en": "it repeats one character", "zh": "不能由同一个字符重复组成"} {
			c.lang = lang
			r := c.post("/setup", url.Values{"email": {"boss@example.com"}, "password": {"aaaaaaaaaa"}, "password2": {"aaaaaaaaaa"}})
			want(t, r, http.StatusUnprocessableEntity)
			if got := r.doc(t).Find(`[data-testid=error-password]`).Text(); !strings.Contains(got, msg) {
				t.Fatalf("%s: setup error %q, want %q", lang, got, msg)
			}
		}
		c.lang = "en"
		if n, _ := models.CountStaff(context.Background(), db); n != 0 {
			t.Fatalf("a weak setup created %d staff", n)
		}
		wantRedirect(t, c.post("/setup", url.Values{"email": {"boss@example.com"}, "password": {"correct horse battery"}, "password2": {"correct horse battery"}}), "/")

		for _, tc := range []struct{ path, pw, msg string }{
			{"/settings/staff", "zhang.wei@example.com", "must not contain the email"},
			{"/settings/staff", "ababababab", "at least 5 different characters"},
			{"/settings/staff", "1234567890", "run of letters or digits"},
			{"/settings/staff", "Password2024!", "common password"},
			{"/account/password", "qwertyuiop", "run of letters or digits"},
			{"/account/password", "bossboss2024", "must not contain the email"},
		} {
			form := url.Values{"email": {"zhang.wei@example.com"}, "role": {"support"}, "password": {tc.pw}, "password2": {tc.pw}, "current": {"correct horse battery"}}
			r := c.post(tc.path, form)
			want(t, r, http.StatusUnprocessableEntity)
			if got := r.doc(t).Find(`[data-testid=error-password]`).Text(); !strings.Contains(got, tc.msg) {
				t.Errorf("%s %q: error %q, want %q", tc.path, tc.pw, got, tc.msg)
			}
		}
		if _, err := models.GetStaffByEmail(context.Background(), db, "zhang.wei@example.com"); err == nil {
			t.Fatal("staff created with a weak password")
		}
		wantRedirect(t, c.post("/settings/staff", url.Values{"email": {"zhang.wei@example.com"}, "role": {"support"}, "password": {"correct horse battery"}}), "/settings/staff")
		zw, _ := models.GetStaffByEmail(context.Background(), db, "zhang.wei@example.com")
		r := c.post("/settings/staff/"+id(zw.ID)+"/password", url.Values{"password": {"zhangwei2024"}})
		want(t, r, http.StatusUnprocessableEntity)
		if !strings.Contains(r.doc(t).Find(`[data-testid=error-password]`).Text(), "must not contain the email") {
			t.Fatalf("reset to a password holding the name part of the email was not refused:\n%.2000s", r.body)
		}
	})
}

// The push URL on the account page comes from --public-url when set;
// otherwise from the request's Host, with a hint to set it.
func TestPushURLFromPublicURL(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		_, base := wxSandbox(t)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		configured := newTestApp(t, db, func(d *web.Deps) { d.PublicURL = "https://push.example.com" })
		c := configured.signedIn(boss)
		a := createApp(t, c, db, base)
		// A client-chosen Host does not leak into the URL people paste into WeChat.
		req, _ := http.NewRequest(http.MethodGet, configured.srv.URL+"/settings/apps/"+id(a.ID), nil)
		req.Host = "evil.example"
		for _, ck := range c.http.Jar.Cookies(req.URL) {
			req.AddCookie(ck)
		}
		res, err := (&http.Client{CheckRedirect: c.http.CheckRedirect}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		r := response{status: res.StatusCode, header: res.Header, body: string(b)}
		want(t, r, http.StatusOK)
		d := r.doc(t)
		if got := strings.TrimSpace(d.Find(`[data-testid=push-url]`).Text()); got != "https://push.example.com/wx/push/"+testAppID {
			t.Fatalf("push URL %q, want the configured public URL", got)
		}
		if d.Find(`[data-testid=push-url-hint]`).Length() != 0 || d.Find(`[data-testid=push-url-copy]`).Length() != 1 {
			t.Fatal("with a public URL: want no hint and a copy button")
		}

		guessed := newTestApp(t, db)
		g := guessed.signedIn(boss)
		r = g.get("/settings/apps/" + id(a.ID))
		want(t, r, http.StatusOK)
		d = r.doc(t)
		host := strings.TrimPrefix(guessed.srv.URL, "http://")
		if got := strings.TrimSpace(d.Find(`[data-testid=push-url]`).Text()); got != "http://"+host+"/wx/push/"+testAppID {
			t.Fatalf("push URL %q, want one built from the request", got)
		}
		if !strings.Contains(d.Find(`[data-testid=push-url-hint]`).Text(), "MINIPUSH_PUBLIC_URL") {
			t.Fatal("no hint to set the public URL")
		}
	})
}

func TestParsePublicURL(t *testing.T) {
	for in, want := range map[string]string{"": "", "https://push.example.com/": "https://push.example.com", "http://10.0.0.5:8080/minipush": "http://10.0.0.5:8080/minipush"} {
		if got, err := web.ParsePublicURL(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"push.example.com", "ftp://x", "https://", "https://x/?a=1", "https://u:p@x"} {
		if _, err := web.ParsePublicURL(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// The account form and page say plaintext mode is the weaker one, warn
// when no push Token is set, name miniprogram_state in words and show the
// AppID as read-only once registered.
func TestAccountFormPushModeWarnings(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		_, base := wxSandbox(t)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		c := app.signedIn(boss)

		r := c.get("/settings/apps/new")
		want(t, r, http.StatusOK)
		d := r.doc(t)
		if w := d.Find(`[data-testid=plain-warning]`); w.Length() != 1 || w.AttrOr("hidden", "absent") == "absent" {
			t.Fatal("the new-account form (safe by default) should hold the plaintext warning hidden")
		}
		if got := d.Find(`select[name=push_mode] option[value=plain]`).Text(); !strings.Contains(got, "weaker") {
			t.Fatalf("plaintext option %q does not say it is weaker", got)
		}
		if got := d.Find(`label[for=f-mp_state]`).Text(); got != "Version a tap opens" {
			t.Fatalf("mp_state label %q, want words", got)
		}

		form := appForm(base)
		form.Set("push_mode", "plain")
		form.Del("push_token")
		form.Del("aes_key")
		wantRedirect(t, c.post("/settings/apps", form), "/settings/apps/")
		a, err := models.GetAppByAppID(context.Background(), db, testAppID)
		if err != nil {
			t.Fatal(err)
		}
		r = c.get("/settings/apps/" + id(a.ID))
		want(t, r, http.StatusOK)
		d = r.doc(t)
		if !strings.Contains(d.Find(`[data-testid=flash]`).Text(), "no push Token is set") {
			t.Fatalf("saving a plaintext account with no Token gave no warning:\n%.3000s", r.body)
		}
		if d.Find(`[data-testid=push-no-token]`).Length() != 1 || d.Find(`[data-testid=plain-warning]`).Length() != 1 ||
			!strings.Contains(d.Find(`[data-testid=push-mode]`).Text(), "weaker") {
			t.Fatal("the account page does not mark plaintext mode as weaker or the missing Token")
		}

		r = c.get("/settings/apps/" + id(a.ID) + "/edit")
		want(t, r, http.StatusOK)
		d = r.doc(t)
		in := d.Find(`input[name=app_id]`)
		if _, ro := in.Attr("readonly"); !ro || in.AttrOr("data-testid", "") != "appid-readonly" || !strings.Contains(in.AttrOr("style", ""), "background") {
			t.Fatal("the registered AppID does not look read-only")
		}
		if w := d.Find(`[data-testid=plain-warning]`); w.Length() != 1 || w.AttrOr("hidden", "absent") != "absent" {
			t.Fatal("the form of a plaintext account should show the warning")
		}

		// With a Token and safe mode, the warnings go.
		form = appForm(base)
		wantRedirect(t, c.post("/settings/apps/"+id(a.ID), form), "/settings/apps/")
		r = c.get("/settings/apps/" + id(a.ID))
		d = r.doc(t)
		if d.Find(`[data-testid=push-no-token]`).Length() != 0 || d.Find(`[data-testid=plain-warning]`).Length() != 0 ||
			strings.Contains(d.Find(`[data-testid=flash]`).Text(), "Token") {
			t.Fatal("warnings shown for a safe-mode account with a Token")
		}
	})
}
