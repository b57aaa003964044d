package web_test

import (
	"bytes"
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
	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

// pushApp registers the test app in the console and in the sandbox with its
// push URL pointing at the console, in the given mode and format.
func pushApp(t *testing.T, app *testApp, db *gorm.DB, safe bool, format string) (*sandbox.Server, *models.App, string) {
	t.Helper()
	sb, base := wxSandbox(t)
	if err := sb.AddApp(sandbox.AppConfig{AppID: testAppID, Secret: testSecret, PushURL: app.srv.URL + "/wx/push/" + testAppID,
		PushToken: testToken, EncodingAESKey: testAESKey, Safe: safe, Format: format}); err != nil {
		t.Fatal(err)
	}
	boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
	c := app.signedIn(boss)
	a := createApp(t, c, db, base)
	mode := "plain"
	if safe {
		mode = "safe"
	}
	if err := models.UpdateAppFields(context.Background(), db, a.ID, map[string]any{"push_mode": mode, "push_format": format}); err != nil {
		t.Fatal(err)
	}
	tpl, err := sb.AddTemplate(testAppID, wechat.Template{PriTmplID: "TPL_A", Title: "到货", Content: "门店:{{thing1.DATA}}"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.AddUser(testAppID, "o_alice"); err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, c.post("/templates/sync", url.Values{"app": {id(a.ID)}}), "/templates")
	return sb, a, tpl
}

func credits(t *testing.T, db *gorm.DB, appID int64, openid, wxTpl string) int {
	t.Helper()
	ctx := context.Background()
	u, err := models.GetUserByOpenID(ctx, db, appID, openid)
	if err != nil {
		return -1
	}
	tp, err := models.GetTemplateByWxID(ctx, db, appID, wxTpl)
	if err != nil {
		t.Fatal(err)
	}
	s, err := models.GetSubscription(ctx, db, u.ID, tp.ID)
	if err != nil {
		return -1
	}
	return s.Credits
}

func TestWxPushCreditsFromPopupsAndRejects(t *testing.T) {
	for _, mode := range []struct {
		safe   bool
		format string
	}{{true, "json"}, {false, "xml"}} {
		name := "plain-" + mode.format
		if mode.safe {
			name = "safe-" + mode.format
		}
		t.Run(name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
				app := newTestApp(t, db)
				sb, a, tpl := pushApp(t, app, db, mode.safe, mode.format)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				for i := 0; i < 2; i++ {
					if _, err := sb.Popup(testAppID, "o_alice", map[string]string{tpl: "accept"}); err != nil {
						t.Fatal(err)
					}
					// Distinct CreateTime per popup: WeChat's dedup key includes it.
					time.Sleep(1100 * time.Millisecond)
				}
				if err := sb.WaitPushes(ctx); err != nil {
					t.Fatal(err)
				}
				if got := credits(t, db, a.ID, "o_alice", tpl); got != 2 {
					t.Fatalf("after two accepts: %d credits (log:\n%s)", got, app.log.String())
				}
				if err := sb.SettingsReject(testAppID, "o_alice", tpl); err != nil {
					t.Fatal(err)
				}
				if err := sb.WaitPushes(ctx); err != nil {
					t.Fatal(err)
				}
				if got := credits(t, db, a.ID, "o_alice", tpl); got != 0 {
					t.Fatalf("after a settings reject: %d credits", got)
				}
			})
		})
	}
}

func TestWxPushRefusesForgeriesAndAppliesRetriesOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		_, a, tpl := pushApp(t, app, db, true, "json")
		push, err := wechat.NewPush(testToken, testAESKey, testAppID)
		if err != nil {
			t.Fatal(err)
		}
		ev := &wechat.Event{ToUserName: "gh_0123456789ab", FromUserName: "o_bob", CreateTime: time.Now().Unix(), MsgType: "event",
			Event: wechat.EventPopup, List: []wechat.EventItem{{TemplateID: tpl, SubscribeStatus: "accept"}}}
		req, err := push.NewRequest(context.Background(), app.srv.URL+"/wx/push/"+testAppID, ev, wechat.PushOptions{Safe: true})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(req.Body)
		send := func(u string, b []byte) (int, string) {
			r, err := http.Post(u, "application/json", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Body.Close()
			out, _ := io.ReadAll(r.Body)
			return r.StatusCode, string(out)
		}
		// WeChat retries the same push: applied once.
		for i := 0; i < 3; i++ {
			if code, out := send(req.URL.String(), body); code != 200 || out != "success" {
				t.Fatalf("push %d: %d %q", i, code, out)
			}
		}
		if got := credits(t, db, a.ID, "o_bob", tpl); got != 1 {
			t.Fatalf("a retried push gave %d credits", got)
		}
		// Forged: wrong msg_signature, a tampered body, plaintext while safe mode is required, another token.
		q := req.URL.Query()
		q.Set("msg_signature", strings.Repeat("0", 40))
		forged := *req.URL
		forged.RawQuery = q.Encode()
		if code, _ := send(forged.String(), body); code != http.StatusForbidden {
			t.Fatalf("bad msg_signature: %d", code)
		}
		tampered := bytes.Replace(body, []byte(`"Encrypt":"`), []byte(`"Encrypt":"AAAA`), 1)
		if code, _ := send(req.URL.String(), tampered); code != http.StatusForbidden {
			t.Fatalf("tampered body: %d", code)
		}
		evil, _ := wechat.NewPush("someOtherToken", "", testAppID)
		preq, _ := evil.NewRequest(context.Background(), app.srv.URL+"/wx/push/"+testAppID, ev, wechat.PushOptions{})
		pbody, _ := io.ReadAll(preq.Body)
		if code, out := send(preq.URL.String(), pbody); code != http.StatusForbidden || !strings.Contains(out, "safe mode") || !strings.Contains(out, `"code":"forbidden"`) {
			t.Fatalf("plaintext push to a safe-mode account: %d %q, want 403 naming safe mode", code, out)
		}
		if code, out := send(forged.String(), body); !strings.Contains(out, "Token") {
			t.Fatalf("bad msg_signature: %d %q, want the Token named", code, out)
		}
		if got := credits(t, db, a.ID, "o_bob", tpl); got != 1 {
			t.Fatalf("a forged push changed credits to %d", got)
		}
		// URL check.
		ts, nonce := "1714036504", "1514711492"
		sig := wechat.Signature(testToken, ts, nonce)
		r, _ := http.Get(app.srv.URL + "/wx/push/" + testAppID + "?signature=" + sig + "&timestamp=" + ts + "&nonce=" + nonce + "&echostr=hello123")
		out, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || string(out) != "hello123" {
			t.Fatalf("URL check: %d %q", r.StatusCode, out)
		}
		r, _ = http.Get(app.srv.URL + "/wx/push/" + testAppID + "?signature=" + strings.Repeat("a", 40) + "&timestamp=" + ts + "&nonce=" + nonce + "&echostr=hello123")
		r.Body.Close()
		if r.StatusCode != http.StatusForbidden {
			t.Fatalf("forged URL check: %d", r.StatusCode)
		}
		r, _ = http.Get(app.srv.URL + "/wx/push/wx9999999999999999?echostr=x")
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown app: %d", r.StatusCode)
		}
	})
}

// A plaintext push's signature covers only timestamp and nonce: a logged
// URL replayed with new bodies must not raise a user's credits, a push far
// from our clock is refused, identifiers and lists WeChat never sends are
// refused with 400, and each 403 says its real reason.
func TestWxPushHardening(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		_, a, tpl := pushApp(t, app, db, false, "json")
		push, err := wechat.NewPush(testToken, "", testAppID)
		if err != nil {
			t.Fatal(err)
		}
		popup := func(openid string, created int64, items int) *wechat.Event {
			ev := &wechat.Event{ToUserName: "gh_0123456789ab", FromUserName: openid, CreateTime: created, MsgType: "event", Event: wechat.EventPopup}
			for range items {
				ev.List = append(ev.List, wechat.EventItem{TemplateID: tpl, SubscribeStatus: "accept"})
			}
			return ev
		}
		send := func(u string, b []byte) (int, string) {
			r, err := http.Post(u, "application/json", bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Body.Close()
			out, _ := io.ReadAll(r.Body)
			return r.StatusCode, string(out)
		}
		build := func(ev *wechat.Event, o wechat.PushOptions) (string, []byte) {
			req, err := push.NewRequest(context.Background(), app.srv.URL+"/wx/push/"+testAppID, ev, o)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(req.Body)
			return req.URL.String(), b
		}
		now := time.Now().Unix()
		u, body := build(popup("o_carol", now, 1), wechat.PushOptions{})
		if code, out := send(u, body); code != 200 || out != "success" {
			t.Fatalf("genuine push: %d %q", code, out)
		}
		// The same URL with the same body (WeChat's retry): fine, applied once.
		if code, _ := send(u, body); code != 200 {
			t.Fatalf("retry: %d", code)
		}
		// The same URL with new bodies (a later tap each): refused.
		for i := 1; i <= 3; i++ {
			_, other := build(popup("o_carol", now+int64(i), 1), wechat.PushOptions{})
			code, out := send(u, other)
			if code != http.StatusForbidden || !strings.Contains(out, "replay") {
				t.Fatalf("replayed URL with a new body %d: %d %q", i, code, out)
			}
		}
		if got := credits(t, db, a.ID, "o_carol", tpl); got != 1 {
			t.Fatalf("credits %d after one tap and three replays, want 1", got)
		}
		// A push signed an hour ago (a logged request): refused.
		old := time.Now().Add(-time.Hour)
		u2, b2 := build(popup("o_dan", old.Unix(), 1), wechat.PushOptions{Timestamp: old.Unix()})
		if code, out := send(u2, b2); code != http.StatusForbidden || !strings.Contains(out, "timestamp") {
			t.Fatalf("hour-old push: %d %q", code, out)
		}
		// Identifiers and lists WeChat never sends: 400, nothing stored.
		u3, b3 := build(popup(strings.Repeat("o", 100000), now, 1), wechat.PushOptions{})
		if code, _ := send(u3, b3); code != http.StatusBadRequest {
			t.Fatalf("100,000-character openid: %d", code)
		}
		u4, b4 := build(popup("o_erin", now, 5000), wechat.PushOptions{})
		if code, out := send(u4, b4); code != http.StatusBadRequest || !strings.Contains(out, "5000 items") {
			t.Fatalf("5,000 list items: %d %q", code, out)
		}
		if got := credits(t, db, a.ID, "o_erin", tpl); got > 0 {
			t.Fatalf("an over-long list granted %d credits", got)
		}
	})
}

// An instance whose MINIPUSH_SECRET_KEY is not the one the accounts were
// sealed with would fail every push and WeChat call: it is not ready.
func TestReadyNeedsTheSecretKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		first := newTestApp(t, db)
		ready := func(a *testApp) (int, string) {
			r, err := http.Get(a.srv.URL + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			defer r.Body.Close()
			b, _ := io.ReadAll(r.Body)
			return r.StatusCode, string(b)
		}
		if code, out := ready(first); code != 200 {
			t.Fatalf("no accounts yet: %d %s", code, out)
		}
		pushApp(t, first, db, false, "json") // an account sealed with the first instance's key
		if code, out := ready(first); code != 200 {
			t.Fatalf("the key that sealed the secrets: %d %s", code, out)
		}
		other := newTestApp(t, db) // another random key
		if code, out := ready(other); code != http.StatusServiceUnavailable || !strings.Contains(out, "MINIPUSH_SECRET_KEY") {
			t.Fatalf("another key: %d %s, want 503 naming MINIPUSH_SECRET_KEY", code, out)
		}
	})
}

// WeChat's code is printed once in an explained answer ("微信返回 43101：…",
// not "43101：43101：…").
func TestWeChatCodeNamedOnce(t *testing.T) {
	d := &models.Delivery{Status: models.DeliveryFailed, Reason: models.ReasonWeChat, ErrCode: 43101}
	for _, lang := range []string{"zh", "en"} {
		_, _, msg := handlers.DescribeDelivery(d, lang)
		if strings.Count(msg, "43101") != 1 {
			t.Errorf("%s: %q names the code %d times, want once", lang, msg, strings.Count(msg, "43101"))
		}
	}
}
