package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// In Chromium: the CSRF token works for boosted forms and htmx after a real
// sign-in; the plaintext warning follows the mode select; the copy button
// copies the push URL; a cross-site form post is refused with the
// "form expired" page, not the role one.
func TestBrowserAccountPushSettingsAndCSRF(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		_, base := wxSandbox(t)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		form := appForm(base)
		form.Set("push_mode", "plain")
		form.Del("push_token")
		wantRedirect(t, app.signedIn(boss).post("/settings/apps", form), "/settings/apps/")
		a, err := models.GetAppByAppID(t.Context(), db, testAppID)
		if err != nil {
			t.Fatal(err)
		}
		page := app.srv.URL + "/settings/apps/" + id(a.ID)

		ctx := browser(t)
		do(t, ctx,
			chromedp.Navigate(app.srv.URL+"/login"),
			chromedp.WaitVisible(`[data-testid=login]`),
			chromedp.SendKeys(`#f-email`, "boss@example.com"),
			chromedp.SendKeys(`#f-password`, "correct horse battery"),
			chromedp.Click(`[data-testid=login-submit]`),
			chromedp.WaitVisible(`[data-testid=dashboard]`),
			chromedp.Navigate(page),
			chromedp.WaitVisible(`[data-testid=push-url]`),
			chromedp.WaitVisible(`[data-testid=plain-warning]`),
			chromedp.WaitVisible(`[data-testid=push-no-token]`),
			chromedp.WaitVisible(`[data-testid=push-url-hint]`),
		)
		screenshot(t, ctx, "1-account-plain-en")
		// Copy: capture what the page hands to the clipboard.
		get(t, ctx, chromedp.Evaluate[bool](`(window.__copied = "", navigator.clipboard.writeText = (s) => { window.__copied = s; return Promise.resolve(); }, true)`))
		do(t, ctx, chromedp.Click(`[data-testid=push-url-copy]`))
		copied := get(t, ctx, chromedp.Evaluate[string](`window.__copied`))
		if want := strings.TrimSpace(get(t, ctx, chromedp.Text(`[data-testid=push-url]`))); copied != want || !strings.HasSuffix(copied, "/wx/push/"+testAppID) {
			t.Fatalf("copied %q, want the push URL %q", copied, want)
		}
		if label := get(t, ctx, chromedp.Text(`[data-testid=push-url-copy]`)); label != "Copied" {
			t.Fatalf("copy button says %q after copying", label)
		}

		// The edit form (boosted navigation): the warning follows the select.
		do(t, ctx,
			chromedp.Click(`[data-testid=app-edit]`),
			chromedp.WaitVisible(`[data-testid=app-form]`),
			chromedp.WaitVisible(`[data-testid=plain-warning]`),
		)
		hidden := func() bool {
			return get(t, ctx, chromedp.Evaluate[bool](`document.querySelector('[data-testid=plain-warning]').hidden`))
		}
		get(t, ctx, chromedp.Evaluate[bool](`(() => { const s = document.querySelector('select[name=push_mode]'); s.value = 'safe'; s.dispatchEvent(new Event('change', {bubbles: true})); return true })()`))
		if !hidden() {
			t.Fatal("the plaintext warning stays after choosing safe mode")
		}
		get(t, ctx, chromedp.Evaluate[bool](`(() => { const s = document.querySelector('select[name=push_mode]'); s.value = 'plain'; s.dispatchEvent(new Event('change', {bubbles: true})); return true })()`))
		if hidden() {
			t.Fatal("the plaintext warning does not show after choosing plaintext")
		}
		screenshot(t, ctx, "2-form-plain-en")
		// Save with a Token through the boosted form: the session's CSRF token passes.
		do(t, ctx,
			chromedp.SendKeys(`#f-push_token`, testToken),
			chromedp.Click(`[data-testid=app-submit]`),
			chromedp.WaitVisible(`[data-testid=push-url]`),
		)
		if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid=push-no-token]').length`)); n != 0 {
			t.Fatal("the no-Token warning stays after a Token was saved")
		}
		// htmx (header token from the page's <meta>): test connection answers.
		do(t, ctx, chromedp.Click(`[data-testid=app-test]`), chromedp.WaitVisible(`#test-result [data-testid=flash]`))
		do(t, ctx, chromedp.Click(`[data-testid=lang-zh]`), chromedp.WaitVisible(`html[lang="zh-CN"] [data-testid=push-url]`))
		screenshot(t, ctx, "3-account-plain-zh")

		// A form on another site posting here: refused with the form-expired page.
		evil := "data:text/html," + url.PathEscape(`<form method="post" action="`+app.srv.URL+`/account/lang"><input name="lang" value="en"><input name="_csrf" value="x"></form><script>document.forms[0].submit()</script>`)
		do(t, ctx, chromedp.Navigate(evil), chromedp.WaitVisible(`h1`))
		body := get(t, ctx, chromedp.Text(`body`))
		// SameSite=Lax keeps the cookies home on a cross-site POST: the page
		// speaks the browser's language.
		if !(strings.Contains(body, "Form expired") || strings.Contains(body, "表单已过期")) || strings.Contains(body, "role") || strings.Contains(body, "角色") {
			t.Fatalf("cross-site post answered:\n%s", body)
		}
		screenshot(t, ctx, "4-cross-site")
		if s, _ := models.GetStaff(t.Context(), db, boss.ID); s.Lang != "zh" {
			t.Fatalf("the cross-site post changed the language to %q", s.Lang)
		}
	})
}
