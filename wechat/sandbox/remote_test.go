package sandbox_test

import (
	"context"
	"strings"
	"testing"

	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

// TestRemote drives a sandbox through its control API as `minipush bench`
// does with a sandbox in another process.
func TestRemote(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	ctx := context.Background()
	r := sandbox.NewRemote(e.url)
	must(t, r.AddApp(ctx, sandbox.AppConfig{AppID: "wxremote", Secret: "s"}))
	tpl, err := r.AddTemplate(ctx, "wxremote", wechat.Template{PriTmplID: "TR", Title: "t", Content: "a:{{thing1.DATA}}", Type: wechat.TemplateOneTime})
	must(t, err)
	if tpl != "TR" {
		t.Fatalf("template id %q", tpl)
	}
	must(t, r.Grant(ctx, "wxremote", tpl, 2, "o1", "o2", "o3"))
	for _, o := range []string{"o1", "o2", "o3"} {
		if c, _ := e.sb.Credits("wxremote", o, tpl); c != 2 {
			t.Fatalf("%s has %d credits, want 2", o, c)
		}
	}
	if pairs, accepted, err := r.AcceptedSummary(ctx, "wxremote"); err != nil || pairs != 0 || accepted != 0 {
		t.Fatalf("before sending: %d pairs, %d accepted, %v", pairs, accepted, err)
	}
	c := wechat.NewClient(wechat.Config{AppID: "wxremote", Secret: "s", BaseURL: e.url})
	msg := wechat.SendRequest{ToUser: "o1", TemplateID: tpl, Data: map[string]string{"thing1": "hi"}}
	for range 2 {
		if _, err := c.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	if pairs, accepted, err := r.AcceptedSummary(ctx, "wxremote"); err != nil || pairs != 1 || accepted != 2 {
		t.Fatalf("after two sends to o1: %d pairs, %d accepted, %v; want 1, 2", pairs, accepted, err)
	}
	st, err := r.Stats(ctx)
	must(t, err)
	if st.Accepted != 2 {
		t.Fatalf("stats accepted %d, want 2", st.Accepted)
	}
	if err := r.Grant(ctx, "wxnone", tpl, 1, "o1"); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("grant on an unknown app: %v", err)
	}
	if _, _, err := r.AcceptedSummary(ctx, "wxnone"); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("summary of an unknown app: %v", err)
	}
}
