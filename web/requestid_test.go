package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/logctx"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/web"
	"github.com/minipush/minipush/wechat"
)

// TestRequestID: a sane X-Request-ID is echoed and names the request's log
// lines; a missing or insane one is replaced by a fresh random id; a
// handler's warning logged with the request's context names it too.
func TestRequestID(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		logs := &syncBuffer{}
		app := newTestApp(t, db, func(d *web.Deps) { d.Logger = slog.New(logctx.Handler(slog.NewTextHandler(logs, nil))) })
		get := func(path, id string) string {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, app.srv.URL+path, nil)
			if id != "" {
				req.Header.Set("X-Request-ID", id)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.Header.Get("X-Request-ID")
		}
		if got := get("/healthz", "nginx-3f2a.9:b_c"); got != "nginx-3f2a.9:b_c" {
			t.Fatalf("a sane id came back as %q", got)
		}
		line := lineWith(t, logs.String(), "request_id=nginx-3f2a.9:b_c")
		if !strings.Contains(line, "msg=http") || !strings.Contains(line, "path=/healthz") || strings.Count(line, "request_id=") != 1 {
			t.Fatalf("request log line: %q", line)
		}
		fresh := regexp.MustCompile(`^[0-9a-f]{32}$`)
		seen := map[string]bool{}
		for _, bad := range []string{"", "has space", "<script>", strings.Repeat("a", 65), "ümlaut"} {
			got := get("/healthz", bad)
			if !fresh.MatchString(got) || seen[got] {
				t.Fatalf("X-Request-ID %q answered %q: want a fresh random id", bad, got)
			}
			seen[got] = true
			lineWith(t, logs.String(), "request_id="+got)
		}
		if strings.Contains(logs.String(), "<script>") {
			t.Fatal("an insane id reached the log")
		}

		// A handler's own warning (a forged push refused) names the request.
		pushApp(t, app, db, false, "json")
		req, _ := http.NewRequest(http.MethodPost, app.srv.URL+"/wx/push/"+testAppID+"?signature=bad&timestamp=1&nonce=1", strings.NewReader("{}"))
		req.Header.Set("X-Request-ID", "forged-push-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("forged push: %d", resp.StatusCode)
		}
		if l := lineWith(t, logs.String(), "wx push: refused"); !strings.Contains(l, "request_id=forged-push-1") {
			t.Fatalf("the handler's warning does not name the request: %q", l)
		}
		if l := lineWith(t, logs.String(), "path=/wx/push/"+testAppID); !strings.Contains(l, "status=403") || !strings.Contains(l, "level=INFO") {
			t.Fatalf("a refused push's access line: %q", l)
		}

		// A push taken in logs no access line at info: WeChat sends one per
		// message accepted, thousands a second while a campaign runs.
		push, err := wechat.NewPush(testToken, "", testAppID)
		if err != nil {
			t.Fatal(err)
		}
		ev := &wechat.Event{ToUserName: "gh_0123456789ab", FromUserName: "o_bob", CreateTime: time.Now().Unix(), MsgType: "event",
			Event: wechat.EventSent, List: []wechat.EventItem{{TemplateID: "T", MsgID: 4242, ErrorCode: 0, ErrorStatus: "success"}}}
		preq, err := push.NewRequest(context.Background(), app.srv.URL+"/wx/push/"+testAppID, ev, wechat.PushOptions{})
		if err != nil {
			t.Fatal(err)
		}
		preq.Header.Set("X-Request-ID", "good-push-1")
		resp, err = http.DefaultClient.Do(preq)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("signed push: %d", resp.StatusCode)
		}
		if strings.Contains(logs.String(), "good-push-1") {
			t.Fatalf("a push taken in was logged at info:\n%s", logs.String())
		}
	})
}

// lineWith returns the first log line containing s.
func lineWith(t *testing.T, logs, s string) string {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	t.Fatalf("no log line with %q in:\n%s", s, logs)
	return ""
}
