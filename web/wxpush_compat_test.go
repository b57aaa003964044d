package web_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

// WeChat's compatible mode (兼容模式) sends the plaintext message and the
// encrypted one in one body. An account in safe mode takes them end to end
// from the sandbox, and uses only the signed, encrypted part: a forger who
// edits the readable part changes nothing.
func TestWxPushCompatibleMode(t *testing.T) {
	for _, format := range []string{"json", "xml"} {
		t.Run(format, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
				app := newTestApp(t, db)
				sb, a, tpl := pushApp(t, app, db, true, format)
				if err := sb.AddApp(sandbox.AppConfig{AppID: testAppID, Secret: testSecret, PushURL: app.srv.URL + "/wx/push/" + testAppID,
					PushToken: testToken, EncodingAESKey: testAESKey, Compatible: true, Format: format}); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := sb.Popup(testAppID, "o_alice", map[string]string{tpl: "accept"}); err != nil {
					t.Fatal(err)
				}
				if err := sb.WaitPushes(ctx); err != nil {
					t.Fatal(err)
				}
				if got := credits(t, db, a.ID, "o_alice", tpl); got != 1 {
					t.Fatalf("compatible-mode accept from the sandbox: %d credits, want 1 (log:\n%s)", got, app.log.String())
				}

				// A compatible push whose readable part was edited: reject → the
				// signed part's accept is what counts.
				push, err := wechat.NewPush(testToken, testAESKey, testAppID)
				if err != nil {
					t.Fatal(err)
				}
				ev := &wechat.Event{ToUserName: "gh_0123456789ab", FromUserName: "o_alice", CreateTime: time.Now().Unix() + 1, MsgType: "event",
					Event: wechat.EventPopup, List: []wechat.EventItem{{TemplateID: tpl, SubscribeStatus: "accept"}}}
				req, err := push.NewRequest(ctx, app.srv.URL+"/wx/push/"+testAppID, ev, wechat.PushOptions{Compatible: true,
					EncodeOptions: wechat.EncodeOptions{Format: wechat.Format(format)}})
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(req.Body)
				forged := bytes.Replace(body, []byte("accept"), []byte("reject"), 1)
				res, err := http.Post(req.URL.String(), req.Header.Get("Content-Type"), bytes.NewReader(forged))
				if err != nil {
					t.Fatal(err)
				}
				out, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK || string(out) != "success" {
					t.Fatalf("compatible push: %d %q", res.StatusCode, out)
				}
				if got := credits(t, db, a.ID, "o_alice", tpl); got != 2 {
					t.Fatalf("after a compatible accept with its readable part changed to reject: %d credits, want 2", got)
				}
			})
		})
	}
}
