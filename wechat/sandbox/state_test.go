package sandbox

import (
	"testing"

	"github.com/minipush/minipush/wechat"
)

func TestAcceptedSummaryMatchesCounts(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	if err := s.AddApp(AppConfig{AppID: "wxsum", Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	a, err := s.AddTemplate("wxsum", wechat.Template{PriTmplID: "TA", Content: "x:{{thing1.DATA}}"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.AddTemplate("wxsum", wechat.Template{PriTmplID: "TB", Content: "x:{{thing1.DATA}}"})
	if err != nil {
		t.Fatal(err)
	}
	app := s.app("wxsum")
	// Accepted counts set directly: u1 two of TA, u2 one of TA and one of TB
	// (its second subscription), u3 none.
	for _, g := range []struct {
		openid, tpl string
		n           uint32
	}{{"u1", a, 2}, {"u2", a, 1}, {"u2", b, 1}, {"u3", a, 0}} {
		if err := s.Grant("wxsum", g.openid, g.tpl, 1); err != nil {
			t.Fatal(err)
		}
		u, _ := app.user(g.openid)
		u.sh.mu.Lock()
		u.sh.subLocked(u.i, app.template(g.tpl).sid, false).accepted = g.n
		u.sh.mu.Unlock()
	}
	pairs, accepted := s.AcceptedSummary("wxsum")
	var wantPairs, wantAccepted int64
	for _, c := range s.Counts("wxsum") {
		wantPairs++
		wantAccepted += c.Accepted
	}
	if pairs != 3 || accepted != 4 || pairs != wantPairs || accepted != wantAccepted {
		t.Fatalf("summary %d pairs, %d accepted; Counts says %d, %d; want 3, 4", pairs, accepted, wantPairs, wantAccepted)
	}
}
