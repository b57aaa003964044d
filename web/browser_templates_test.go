package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/wechat/sandbox"
)

// The admin's journey of issue 5: add an account pointing at the sandbox,
// test the connection, sync, add a template from the library, fill it in,
// and test-send it through the delivery engine to a user whose "allow"
// reached the console as a pushed event.
func TestBrowserAccountAndTemplates(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db, withEngine(t))
		sb, base := wxSandbox(t)
		if err := sb.AddApp(sandbox.AppConfig{AppID: testAppID, Secret: testSecret, PushURL: app.srv.URL + "/wx/push/" + testAppID,
			PushToken: testToken, EncodingAESKey: testAESKey, Safe: true, Format: "json"}); err != nil {
			t.Fatal(err)
		}
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
			chromedp.WaitVisible(`[data-testid=flash]`),
		)
		screenshot(t, ctx, "1-app-invalid")
		// Secrets typed before are not sent back (a banner says so): type them again.
		do(t, ctx,
			chromedp.SetValue(`#f-aes_key`, testAESKey),
			chromedp.SendKeys(`#f-secret`, testSecret),
			chromedp.SendKeys(`#f-push_token`, testToken),
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

		// Alice taps "allow" in the mini program: WeChat pushes the event to
		// the console, which grants her one credit.
		tpls, err := models.ListTemplates(context.Background(), db, models.TemplateFilter{Status: models.TemplateActive})
		if err != nil || len(tpls) != 1 {
			t.Fatalf("templates: %v %v", tpls, err)
		}
		wxTpl := tpls[0].TemplateID
		if err := sb.AddUser(testAppID, "o_alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := sb.Popup(testAppID, "o_alice", map[string]string{wxTpl: "accept"}); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sb.WaitPushes(wctx); err != nil {
			t.Fatal(err)
		}
		do(t, ctx,
			chromedp.SendKeys(`#f-openid`, "o_alice"),
			chromedp.Click(`[data-testid=tpl-test-send]`),
			chromedp.WaitVisible(`#tpl-send-result .flash-success`),
		)
		if msg := get(t, ctx, chromedp.Text(`#tpl-send-result`)); !strings.Contains(msg, "msgid") {
			t.Fatalf("test send answered %q", msg)
		}
		screenshot(t, ctx, "6-test-send")
		if n := sb.Count(testAppID, "o_alice", wxTpl); n != 1 {
			t.Fatalf("the sandbox counted %d messages to Alice, want 1", n)
		}
		var n int64
		db.Model(&models.Delivery{}).Count(&n)
		if n != 1 {
			t.Fatalf("one click made %d deliveries", n)
		}
		// Her one credit is spent: a second test send is not even attempted.
		do(t, ctx,
			chromedp.Click(`[data-testid=tpl-test-send]`),
			chromedp.WaitVisible(`#tpl-send-result .flash-error`),
		)
		if msg := get(t, ctx, chromedp.Text(`#tpl-send-result`)); !strings.Contains(msg, "no subscription left") {
			t.Fatalf("second test send answered %q", msg)
		}
		if n := sb.Count(testAppID, "o_alice", wxTpl); n != 1 {
			t.Fatalf("after the second test send the sandbox counted %d messages", n)
		}
	})
}
