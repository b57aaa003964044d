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
	"github.com/minipush/minipush/wechat"
)

// The journey of issue 8: an admin creates an API key in the console; the
// business backend sends two messages with it over the JSON API (one
// WeChat refuses with 43101, one it delivers); support finds each user by
// business id, opens the failed message and reads WeChat's code
// explained, and sees the other one delivered.
func TestBrowserAPIKeyMessagesAndSupport(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		bctx := context.Background()
		app := newTestApp(t, db, withEngine(t))
		sb, a, tpl := pushApp(t, app, db, true, "json")
		mustStaff(t, db, "help@example.com", models.RoleSupport)
		ctx := browser(t)
		login := func(email string) {
			t.Helper()
			do(t, ctx,
				chromedp.Navigate(app.srv.URL+"/login"),
				chromedp.WaitVisible(`[data-testid=login]`),
				chromedp.SendKeys(`#f-email`, email),
				chromedp.SendKeys(`#f-password`, "correct horse battery"),
				chromedp.Click(`[data-testid=login-submit]`),
				chromedp.WaitVisible(`[data-testid=dashboard]`),
			)
		}

		// The admin creates a key: shown once.
		login("boss@example.com")
		do(t, ctx,
			chromedp.Click(`[data-testid=nav-apikeys]`),
			chromedp.WaitVisible(`[data-testid=apikey-form]`),
			chromedp.SendKeys(`#f-name`, "order-service"),
			chromedp.Click(`[data-testid=apikey-submit]`),
			chromedp.WaitVisible(`[data-testid=apikey-value]`),
		)
		key := strings.TrimSpace(get(t, ctx, chromedp.Text(`[data-testid=apikey-value]`)))
		if !strings.HasPrefix(key, models.APIKeyPrefix) {
			t.Fatalf("key shown %q", key)
		}
		screenshot(t, ctx, "1-apikey")

		// The business backend: two users, each taps allow (reported by the
		// client; WeChat knows Alice's tap only), one message each.
		if err := sb.AddUser(testAppID, "o_bob"); err != nil {
			t.Fatal(err)
		}
		wantAPI(t, callAPI(t, app, "PUT", "/users/o_alice", key, `{"business_id":"cust-1","attributes":{"shop":"朝阳店"}}`), 201)
		wantAPI(t, callAPI(t, app, "PUT", "/users/o_bob", key, `{"business_id":"cust-2"}`), 201)
		if _, err := sb.Popup(testAppID, "o_alice", map[string]string{tpl: "accept"}); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(bctx, 15*time.Second)
		defer cancel()
		if err := sb.WaitPushes(wctx); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"o_alice", "o_bob"} {
			wantAPI(t, callAPI(t, app, "POST", "/subscriptions", key, `{"openid":"`+u+`","result":{"`+tpl+`":"accept"}}`), 200)
		}
		ids := map[string]int64{}
		for _, u := range []string{"o_alice", "o_bob"} {
			r := callAPI(t, app, "POST", "/messages", key, `{"template_id":"`+tpl+`","openid":"`+u+`","data":{"thing1":"{{shop}}"}}`,
				"Idempotency-Key", "order-"+u)
			if u == "o_bob" {
				r = callAPI(t, app, "POST", "/messages", key, `{"template_id":"`+tpl+`","openid":"o_bob","data":{"thing1":"国贸店"}}`, "Idempotency-Key", "order-o_bob")
			}
			wantAPI(t, r, 202)
			ids[u] = int64(r.json(t)["id"].(float64))
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			da, _ := models.GetDelivery(bctx, db, ids["o_alice"])
			dbb, _ := models.GetDelivery(bctx, db, ids["o_bob"])
			if da.Status == models.DeliveryDelivered && dbb.Status == models.DeliveryFailed {
				if dbb.ErrCode != 43101 {
					t.Fatalf("Bob's message failed with %d", dbb.ErrCode)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("messages: alice %s, bob %s", da.Status, dbb.Status)
			}
			time.Sleep(50 * time.Millisecond)
		}
		do(t, ctx, chromedp.Click(`[data-testid=logout]`), chromedp.WaitVisible(`[data-testid=login]`))
		alice, _ := models.GetUserByOpenID(bctx, db, a.ID, "o_alice")
		bob, _ := models.GetUserByOpenID(bctx, db, a.ID, "o_bob")
		row := func(u *models.User) string { return `[data-testid=user-row-` + id(u.ID) + `]` }

		// Support finds Bob by business id and reads why nothing arrived.
		login("help@example.com")
		do(t, ctx,
			chromedp.Click(`[data-testid=nav-users]`),
			chromedp.WaitVisible(`[data-testid=users-search]`),
			chromedp.SetValue(`#f-field`, "business_id"),
			chromedp.SendKeys(`#f-q`, "cust-2"),
			chromedp.Click(`[data-testid=users-submit]`),
			chromedp.WaitNotPresent(row(alice)),
			chromedp.WaitVisible(row(bob)),
		)
		screenshot(t, ctx, "2-search")
		do(t, ctx,
			chromedp.Click(row(bob)+` a`),
			chromedp.WaitVisible(`[data-testid=timeline]`),
		)
		if got := get(t, ctx, chromedp.Text(`[data-testid=user-business-id]`)); got != "cust-2" {
			t.Fatalf("user page of %q", got)
		}
		screenshot(t, ctx, "3-user")
		do(t, ctx,
			chromedp.Click(`[data-testid=timeline] [data-testid=message-link]`),
			chromedp.WaitVisible(`[data-testid=delivery-detail]`),
		)
		explained := get(t, ctx, chromedp.Text(`[data-testid=delivery-detail] [data-testid=message-errcode]`))
		if !strings.Contains(explained, "43101") || !strings.Contains(explained, wechat.Explain(43101, "en")) {
			t.Fatalf("the failed message says %q", explained)
		}
		screenshot(t, ctx, "4-delivery")

		// Alice's message shows delivered on her page.
		do(t, ctx,
			chromedp.Click(`[data-testid=nav-users]`),
			chromedp.WaitVisible(`[data-testid=users-search]`),
			chromedp.SendKeys(`#f-q`, "cust-1"),
			chromedp.Click(`[data-testid=users-submit]`),
			chromedp.WaitNotPresent(row(bob)),
			chromedp.Click(row(alice)+` a`),
			chromedp.WaitVisible(`[data-testid=timeline]`),
		)
		msg := get(t, ctx, chromedp.Text(`[data-testid="message-`+id(ids["o_alice"])+`"]`))
		if !strings.Contains(msg, "Delivered") || !strings.Contains(msg, "朝阳店") || !strings.Contains(msg, "order-service") {
			t.Fatalf("Alice's message reads %q", msg)
		}
		screenshot(t, ctx, "5-delivered")
		if n := sb.Count(testAppID, "o_alice", tpl); n != 1 {
			t.Fatalf("WeChat counted %d messages to Alice", n)
		}
	})
}
