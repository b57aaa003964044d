package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// The admin's journey of issue 5: add an account pointing at the sandbox,
// test the connection, sync, add a template from the library, fill it in.
func TestBrowserAccountAndTemplates(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		_, base := wxSandbox(t)
		mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		ctx := browser(t)
		do(t, ctx,
			chromedp.Navigate(app.srv.URL+"/login"),
			chromedp.WaitVisible(`[data-testid=login]`),
			chromedp.SendKeys(`#f-email`, "boss@example.com"),
			chromedp.SendKeys(`#f-password`, "correct horse battery"),
			chromedp.Click(`[data-testid=login-submit]`),
			chromedp.WaitVisible(`[data-testid=dashboard]`),
			chromedp.Click(`[data-testid=nav-apps]`),
			chromedp.WaitVisible(`[data-testid=empty]`),
			chromedp.Click(`[data-testid=app-new]`),
			chromedp.WaitVisible(`[data-testid=app-form]`),
			chromedp.SendKeys(`#f-name`, "Sandbox shop"),
			chromedp.SendKeys(`#f-app_id`, testAppID),
			chromedp.SendKeys(`#f-secret`, testSecret),
			chromedp.SendKeys(`#f-push_token`, testToken),
			chromedp.SendKeys(`#f-aes_key`, "too-short"),
			chromedp.SendKeys(`#f-api_base_url`, base),
			chromedp.Click(`[data-testid=app-submit]`),
			chromedp.WaitVisible(`[data-testid=error-aes_key]`),
		)
		screenshot(t, ctx, "1-app-invalid")
		// The secret typed before is not sent back: type it again with a good key.
		do(t, ctx,
			chromedp.SetValue(`#f-aes_key`, testAESKey),
			chromedp.SendKeys(`#f-secret`, testSecret),
			chromedp.Click(`[data-testid=app-submit]`),
			chromedp.WaitVisible(`[data-testid=push-url]`),
			chromedp.Click(`[data-testid=app-test]`),
			chromedp.WaitVisible(`#test-result [data-testid=flash]`),
		)
		if msg := get(t, ctx, chromedp.Text(`#test-result`)); !strings.Contains(msg, "access token") && !strings.Contains(msg, "access_token") {
			t.Fatalf("test connection says %q", msg)
		}
		if u := get(t, ctx, chromedp.Text(`[data-testid=push-url]`)); !strings.HasSuffix(u, "/wx/push/"+testAppID) {
			t.Fatalf("push URL %q", u)
		}
		screenshot(t, ctx, "2-app")

		do(t, ctx,
			chromedp.Click(`[data-testid=nav-templates]`),
			chromedp.WaitVisible(`[data-testid=tpl-library]`),
			chromedp.Click(`[data-testid=tpl-library]`),
			chromedp.WaitVisible(`[data-testid=lib-categories]`),
			chromedp.Click(`[data-testid=lib-categories] a`),
			chromedp.WaitVisible(`[data-testid=lib-title-1001]`),
			chromedp.Click(`[data-testid=lib-title-1001]`),
			chromedp.WaitVisible(`[data-testid=lib-add-form]`),
			chromedp.Click(`[data-testid=lib-kid-1]`),
			chromedp.Click(`[data-testid=lib-kid-6]`),
			chromedp.SendKeys(`#f-scene_desc`, "发货通知"),
		)
		screenshot(t, ctx, "3-library")
		do(t, ctx,
			chromedp.Click(`[data-testid=lib-add]`),
			chromedp.WaitVisible(`[data-testid=kw-table]`),
			chromedp.SendKeys(`#kw-thing1`, "这是一个远远超过二十个字符限制的商品名称描述文字"),
			chromedp.WaitVisible(`[data-testid=preview-error-thing1]`),
		)
		screenshot(t, ctx, "4-template-invalid")
		get(t, ctx, chromedp.Evaluate[bool](`(document.querySelector('#kw-thing1').value = '') === ''`))
		do(t, ctx,
			chromedp.SendKeys(`#kw-thing1`, "iPhone 15"),
			chromedp.SendKeys(`#kw-amount6`, "¥100.50"),
			chromedp.WaitNotPresent(`[data-testid=preview-error-thing1]`),
		)
		if card := get(t, ctx, chromedp.Text(`.wx-card`)); !strings.Contains(card, "iPhone 15") || !strings.Contains(card, "¥100.50") {
			t.Fatalf("preview card: %q", card)
		}
		screenshot(t, ctx, "5-template")
	})
}
