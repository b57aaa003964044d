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
		if code, _ := send(preq.URL.String(), pbody); code != http.StatusForbidden {
			t.Fatalf("plaintext push with another token: %d", code)
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
