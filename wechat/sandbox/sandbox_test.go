package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

const (
	appID  = "wxsandbox00000001"
	secret = "sb-secret"
	aesKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	tok    = "pushtoken"
)

type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2025, 5, 20, 2, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// receiver is a push URL that verifies and records events.
type receiver struct {
	t      *testing.T
	push   *wechat.Push
	mu     sync.Mutex
	events []*wechat.Event
	raw    []string // request bodies as received
	fail   atomic.Int64
	srv    *httptest.Server
}

func newReceiver(t *testing.T, appid string) *receiver {
	p, err := wechat.NewPush(tok, aesKey, appid)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, push: p}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.fail.Load() > 0 {
			r.fail.Add(-1)
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(req.Body)
		ev, err := p.Parse(req.URL.Query(), body)
		if err != nil {
			t.Errorf("push refused: %v\n%s?%s\n%s", err, req.URL.Path, req.URL.RawQuery, body)
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.raw = append(r.raw, req.Header.Get("Content-Type")+" "+req.URL.RawQuery+" "+string(body))
		r.mu.Unlock()
		io.WriteString(w, "success")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) got() ([]*wechat.Event, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*wechat.Event(nil), r.events...), append([]string(nil), r.raw...)
}

type env struct {
	t   *testing.T
	clk *clock
	sb  *sandbox.Server
	url string
}

func newEnv(t *testing.T, opts sandbox.Options) *env {
	clk := newClock()
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	if opts.PushRetryDelay == 0 {
		opts.PushRetryDelay = time.Millisecond
	}
	sb := sandbox.New(opts)
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { srv.Close(); sb.Close() })
	must(t, sb.AddApp(sandbox.AppConfig{AppID: appID, Secret: secret}))
	return &env{t: t, clk: clk, sb: sb, url: srv.URL}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type answer struct {
	ErrCode     int             `json:"errcode"`
	ErrMsg      string          `json:"errmsg"`
	AccessToken string          `json:"access_token"`
	ExpiresIn   int64           `json:"expires_in"`
	MsgID       json.Number     `json:"msgid"`
	Raw         json.RawMessage `json:"-"`
}

func (e *env) do(method, path string, body any) answer {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		e.t.Fatalf("%s %s: HTTP %d %s", method, path, res.StatusCode, raw)
	}
	var a answer
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&a); err != nil {
		e.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
	}
	a.Raw = raw
	return a
}

func (e *env) stable(force bool) answer {
	return e.do("POST", "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": appID, "secret": secret, "force_refresh": force})
}

func (e *env) send(token string, body any) answer {
	return e.do("POST", "/cgi-bin/message/subscribe/send?access_token="+url.QueryEscape(token), body)
}

var ridRE = regexp.MustCompile(` rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

func wantErr(t *testing.T, a answer, code int, msgPrefix string) {
	t.Helper()
	if a.ErrCode != code || !strings.HasPrefix(a.ErrMsg, msgPrefix) || !ridRE.MatchString(a.ErrMsg) {
		t.Fatalf("got %d %q, want %d %q + rid", a.ErrCode, a.ErrMsg, code, msgPrefix)
	}
}

func TestStableTokenRules(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	a1 := e.stable(false)
	if a1.ErrCode != 0 || a1.AccessToken == "" || a1.ExpiresIn != 7200 || strings.Contains(string(a1.Raw), "errcode") {
		t.Fatalf("first: %s", a1.Raw)
	}
	e.clk.Advance(time.Hour)
	a2 := e.stable(false)
	if a2.AccessToken != a1.AccessToken || a2.ExpiresIn != 3600 {
		t.Fatalf("same token with time left expected: %s", a2.Raw)
	}
	// Last 5 minutes: a new token; the old one works until it expires.
	e.clk.Advance(time.Hour - 4*time.Minute)
	a3 := e.stable(false)
	if a3.AccessToken == a1.AccessToken || a3.ExpiresIn != 7200 {
		t.Fatalf("new token expected in the last 5 minutes: %s", a3.Raw)
	}
	a4 := e.stable(false)
	if a4.AccessToken != a3.AccessToken {
		t.Fatal("repeated calls must return the same new token")
	}
	must(t, e.sb.Grant(appID, "o1", mustTemplate(t, e, "x:{{thing1.DATA}}"), 0))
	wantErr(t, e.send(a1.AccessToken, map[string]any{"touser": "nobody"}), 40003, "invalid openid") // old still valid
	e.clk.Advance(4 * time.Minute)
	wantErr(t, e.send(a1.AccessToken, map[string]any{"touser": "nobody"}), 42001, "access_token expired")
	wantErr(t, e.send(a3.AccessToken, map[string]any{"touser": "nobody"}), 40003, "invalid openid")

	// force_refresh revokes the current token at once; 30 s apart.
	f1 := e.stable(true)
	if f1.AccessToken == a3.AccessToken {
		t.Fatal("force_refresh returned the same token")
	}
	wantErr(t, e.send(a3.AccessToken, map[string]any{"touser": "nobody"}), 40001, "invalid credential, access_token is invalid or not latest")
	wantErr(t, e.stable(true), 45011, "api minute-quota reach limit")
	e.clk.Advance(31 * time.Second)
	if f2 := e.stable(true); f2.ErrCode != 0 {
		t.Fatalf("force 31 s later: %s", f2.Raw)
	}
	for i := 2; i < 20; i++ {
		e.clk.Advance(31 * time.Second)
		must(t, nil)
		if a := e.stable(true); a.ErrCode != 0 {
			t.Fatalf("force #%d: %s", i+1, a.Raw)
		}
	}
	e.clk.Advance(31 * time.Second)
	wantErr(t, e.stable(true), 45009, "reach max api daily quota limit")

	// Errors.
	wantErr(t, e.do("POST", "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": "wxnope", "secret": secret}), 40013, "invalid appid")
	wantErr(t, e.do("POST", "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": appID, "secret": "bad"}), 40125, "invalid appsecret")
	wantErr(t, e.do("POST", "/cgi-bin/stable_token", map[string]any{"grant_type": "password", "appid": appID, "secret": secret}), 40002, "invalid grant_type")
	wantErr(t, e.do("POST", "/cgi-bin/stable_token", "{"), 47001, "data format error")
	wantErr(t, e.do("POST", "/cgi-bin/stable_token", ""), 44002, "empty post data")
	wantErr(t, e.do("GET", "/cgi-bin/stable_token", nil), 404, "method not allowed")
}

func mustTemplate(t *testing.T, e *env, content string) string {
	t.Helper()
	id, err := e.sb.AddTemplate(appID, wechat.Template{Content: content})
	must(t, err)
	return id
}

func TestLegacyTokenPoolIsSeparate(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	must(t, e.sb.AddUser(appID, "o1"))
	st := e.stable(false).AccessToken
	legacy := func() answer {
		return e.do("GET", "/cgi-bin/token?grant_type=client_credential&appid="+appID+"&secret="+secret, nil)
	}
	l1 := legacy()
	l2 := legacy()
	if l1.AccessToken == "" || l1.AccessToken == l2.AccessToken {
		t.Fatal("every token call mints a new token")
	}
	probe := map[string]any{"touser": "o1", "template_id": "none"}
	wantErr(t, e.send(l1.AccessToken, probe), 40037, "invalid template_id") // previous one: 5 more minutes
	e.clk.Advance(5*time.Minute + time.Second)
	wantErr(t, e.send(l1.AccessToken, probe), 40001, "invalid credential")
	wantErr(t, e.send(l2.AccessToken, probe), 40037, "invalid template_id")
	// The legacy calls never touched the stable token.
	wantErr(t, e.send(st, probe), 40037, "invalid template_id")
	if again := e.stable(false).AccessToken; again != st {
		t.Fatal("token calls knocked out the stable token")
	}
	wantErr(t, e.do("GET", "/cgi-bin/token?grant_type=client_credential&appid="+appID+"&secret=x", nil), 40001, "invalid credential")

	// ExpireTokens expires both pools now.
	must(t, e.sb.ExpireTokens(appID))
	wantErr(t, e.send(st, probe), 42001, "access_token expired")
	wantErr(t, e.send(l2.AccessToken, probe), 42001, "access_token expired")
	if fresh := e.stable(false); fresh.AccessToken == st || fresh.ExpiresIn != 7200 {
		t.Fatalf("after expiry: %s", fresh.Raw)
	}
	wantErr(t, e.send("", probe), 41001, "access_token missing")
	wantErr(t, e.send("short", probe), 40014, "invalid access_token")
	wantErr(t, e.send(strings.Repeat("x", 100), probe), 40001, "invalid credential")
}

func TestSendChecksInOrder(t *testing.T) {
	e := newEnv(t, sandbox.Options{SensitiveWords: []string{"赌博"}})
	must(t, e.sb.AddUser(appID, "o1", "o2"))
	tpl := mustTemplate(t, e, "商品:{{thing1.DATA}}\n时间:{{time3.DATA}}")
	must(t, e.sb.Grant(appID, "o1", tpl, 1))
	token := e.stable(false).AccessToken
	good := map[string]any{"thing1": map[string]string{"value": "书"}, "time3": map[string]string{"value": "15:01"}}

	// Each request fails every later check too: the first check decides.
	wantErr(t, e.send(token, map[string]any{"touser": "nobody", "template_id": "nope", "data": map[string]any{}}), 40003, "invalid openid")
	wantErr(t, e.send(token, map[string]any{"touser": "o2", "template_id": "nope", "data": map[string]any{}}), 40037, "invalid template_id")
	wantErr(t, e.send(token, map[string]any{"touser": "o2", "template_id": tpl, "data": map[string]any{"thing1": map[string]string{"value": "书"}}}), 47003, "argument invalid! data.time3.value is empty")
	wantErr(t, e.send(token, map[string]any{"touser": "o2", "template_id": tpl, "data": map[string]any{"thing1": map[string]string{"value": "书"}, "time3": map[string]string{"value": "3pm"}}}), 47003, "argument invalid! data.time3.value invalid")
	wantErr(t, e.send(token, map[string]any{"touser": "o2", "template_id": tpl, "data": map[string]any{"thing1": map[string]string{"value": "赌博"}, "time3": map[string]string{"value": "15:01"}}}), 45168, "content has sensitive words")
	wantErr(t, e.send(token, map[string]any{"touser": "o2", "template_id": tpl, "data": good}), 43101, "user refuse to accept the msg")
	wantErr(t, e.send(token, "{bad json"), 47001, "data format error")
	wantErr(t, e.send(token, ""), 44002, "empty post data")

	ok := e.send(token, map[string]any{"touser": "o1", "template_id": tpl, "data": good, "miniprogram_state": "trial", "lang": "en_US"})
	if ok.ErrCode != 0 || ok.ErrMsg != "ok" {
		t.Fatalf("send: %s", ok.Raw)
	}
	// msgid is a JSON number above 2^53, not a string, not rounded.
	if !regexp.MustCompile(`"msgid":\d{19}}$`).Match(ok.Raw) {
		t.Fatalf("msgid shape: %s", ok.Raw)
	}
	if id, err := ok.MsgID.Int64(); err != nil || id <= 1<<53 {
		t.Fatalf("msgid %s", ok.MsgID)
	}
	wantErr(t, e.send(token, map[string]any{"touser": "o1", "template_id": tpl, "data": good}), 43101, "user refuse") // credit spent
	if e.sb.Count(appID, "o1", tpl) != 1 || e.sb.Count(appID, "o2", tpl) != 0 {
		t.Fatal("counts")
	}
}

func TestPushesAllModes(t *testing.T) {
	for _, mode := range []struct {
		safe, compat bool
		format       string
	}{{false, false, "json"}, {false, false, "xml"}, {true, false, "json"}, {true, false, "xml"}, {false, true, "json"}, {false, true, "xml"}} {
		t.Run(fmt.Sprintf("safe=%v/compatible=%v/%s", mode.safe, mode.compat, mode.format), func(t *testing.T) {
			e := newEnv(t, sandbox.Options{})
			rcv := newReceiver(t, appID)
			must(t, e.sb.AddApp(sandbox.AppConfig{AppID: appID, Secret: secret, OriginalID: "gh_abcdef123456", PushURL: rcv.srv.URL + "/wx/push/" + appID,
				PushToken: tok, EncodingAESKey: aesKey, Safe: mode.safe, Compatible: mode.compat, Format: mode.format}))
			tplA := mustTemplate(t, e, "a:{{thing1.DATA}}")
			tplB := mustTemplate(t, e, "b:{{phrase2.DATA}}")

			res, err := e.sb.Popup(appID, "o1", map[string]string{tplA: "accept", tplB: "reject"})
			must(t, err)
			if res["errMsg"] != "requestSubscribeMessage:ok" || res[tplA] != "accept" {
				t.Fatalf("popup result %v", res)
			}
			token := e.stable(false).AccessToken
			ans := e.send(token, map[string]any{"touser": "o1", "template_id": tplA, "data": map[string]any{"thing1": map[string]string{"value": "x"}}})
			if ans.ErrCode != 0 {
				t.Fatalf("send %s", ans.Raw)
			}
			must(t, e.sb.SettingsReject(appID, "o1", tplA))
			must(t, e.sb.WaitPushes(context.Background()))

			evs, raws := rcv.got()
			if len(evs) != 3 {
				t.Fatalf("got %d events, want 3: %v", len(evs), raws)
			}
			byType := map[string]*wechat.Event{}
			for _, ev := range evs {
				byType[ev.Event] = ev
				if ev.ToUserName != "gh_abcdef123456" || ev.FromUserName != "o1" || ev.MsgType != "event" || ev.CreateTime != e.clk.Now().Unix() {
					t.Errorf("common fields: %+v", ev)
				}
			}
			popup := byType[wechat.EventPopup]
			if popup == nil || len(popup.List) != 2 {
				t.Fatalf("popup event %+v", popup)
			}
			statuses := map[string]string{popup.List[0].TemplateID: popup.List[0].SubscribeStatus, popup.List[1].TemplateID: popup.List[1].SubscribeStatus}
			if statuses[tplA] != "accept" || statuses[tplB] != "reject" {
				t.Errorf("popup statuses %v", statuses)
			}
			sent := byType[wechat.EventSent]
			if want, _ := ans.MsgID.Int64(); sent == nil || sent.List[0].MsgID != want || sent.List[0].ErrorStatus != "success" || sent.List[0].TemplateID != tplA {
				t.Errorf("sent event %+v, want MsgID %s", sent, ans.MsgID)
			}
			if ch := byType[wechat.EventChange]; ch == nil || ch.List[0].SubscribeStatus != "reject" || ch.List[0].TemplateID != tplA {
				t.Errorf("change event %+v", ch)
			}
			for _, raw := range raws {
				isXML := strings.HasPrefix(raw, "text/xml")
				if isXML != (mode.format == "xml") {
					t.Errorf("format: %s", raw)
				}
				enc := mode.safe || mode.compat
				if enc != strings.Contains(raw, "encrypt_type=aes") || enc != strings.Contains(raw, "Encrypt") {
					t.Errorf("mode: %s", raw)
				}
				// Compatible mode: the message readable beside the ciphertext.
				if readable := strings.Contains(raw, "FromUserName"); readable != !mode.safe {
					t.Errorf("readable part (want %v): %s", !mode.safe, raw)
				}
			}
		})
	}
}

func TestPushRetriesAndGivesUp(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	rcv := newReceiver(t, appID)
	must(t, e.sb.AddApp(sandbox.AppConfig{AppID: appID, Secret: secret, PushURL: rcv.srv.URL, PushToken: tok}))
	tpl := mustTemplate(t, e, "a:{{thing1.DATA}}")

	rcv.fail.Store(2) // two failures, the third try gets through
	_, err := e.sb.Popup(appID, "o1", map[string]string{tpl: "accept"})
	must(t, err)
	must(t, e.sb.WaitPushes(context.Background()))
	if evs, _ := rcv.got(); len(evs) != 1 {
		t.Fatalf("delivered %d", len(evs))
	}

	rcv.fail.Store(3) // three failures: given up
	_, err = e.sb.Popup(appID, "o1", map[string]string{tpl: "accept"})
	must(t, err)
	must(t, e.sb.WaitPushes(context.Background()))
	st := e.sb.Stats()
	if evs, _ := rcv.got(); len(evs) != 1 || st.PushesFailed != 1 || st.PushesSent != 1 || st.PushesAttempts != 6 {
		t.Fatalf("events %d stats %+v", len(evs), st)
	}
	if c, _ := e.sb.Credits(appID, "o1", tpl); c != 2 {
		t.Fatalf("credits %d: a failed push does not undo the accept", c)
	}
	if lost := e.sb.LostPushes(appID); len(lost) != 1 || lost[0].Event != wechat.EventPopup || lost[0].FromUserName != "o1" {
		t.Fatalf("lost pushes %+v, want the one popup event given up", lost)
	}
}

func TestPopupRules(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	one := []string{mustTemplate(t, e, "a:{{thing1.DATA}}"), mustTemplate(t, e, "b:{{thing1.DATA}}"), mustTemplate(t, e, "c:{{thing1.DATA}}"), mustTemplate(t, e, "d:{{thing1.DATA}}")}
	long, err := e.sb.AddTemplate(appID, wechat.Template{Content: "e:{{thing1.DATA}}", Type: wechat.TemplateLongTerm})
	must(t, err)
	if _, err := e.sb.Popup(appID, "o1", map[string]string{one[0]: "accept", one[1]: "accept", one[2]: "accept", one[3]: "accept"}); err == nil {
		t.Error("4 templates in one popup")
	}
	if _, err := e.sb.Popup(appID, "o1", map[string]string{one[0]: "accept", long: "accept"}); err == nil {
		t.Error("mixed one-time and long-term")
	}
	if _, err := e.sb.Popup(appID, "o1", map[string]string{one[0]: "maybe"}); err == nil {
		t.Error("bad status")
	}
	// Accepts accumulate; reject, ban and filter add nothing.
	for _, st := range []string{"accept", "acceptWithAudio", "acceptWithAlert", "reject", "ban", "filter"} {
		_, err := e.sb.Popup(appID, "o1", map[string]string{one[0]: st})
		must(t, err)
	}
	if c, _ := e.sb.Credits(appID, "o1", one[0]); c != 3 {
		t.Fatalf("credits %d, want 3", c)
	}
	_, err = e.sb.Popup(appID, "o1", map[string]string{long: "accept"})
	must(t, err)
	if _, lt := e.sb.Credits(appID, "o1", long); !lt {
		t.Fatal("long-term accept")
	}
	_, err = e.sb.Popup(appID, "o1", map[string]string{long: "reject"})
	must(t, err)
	if _, lt := e.sb.Credits(appID, "o1", long); lt {
		t.Fatal("long-term reject")
	}
}

func TestConcurrentSendsToOneUser(t *testing.T) {
	// Many concurrent sends to one user with plenty of credit: every one is
	// either accepted or refused with 43108, and the count matches the
	// accepted answers exactly.
	e := newEnv(t, sandbox.Options{})
	tpl := mustTemplate(t, e, "a:{{thing1.DATA}}")
	must(t, e.sb.Grant(appID, "o1", tpl, 1000))
	must(t, e.sb.SetFaults(appID, sandbox.Faults{Latency: 2 * time.Millisecond}))
	token := e.stable(false).AccessToken
	var ok, busy atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				a := e.send(token, map[string]any{"touser": "o1", "template_id": tpl, "data": map[string]any{"thing1": map[string]string{"value": "x"}}})
				switch a.ErrCode {
				case 0:
					ok.Add(1)
				case 43108:
					busy.Add(1)
				default:
					t.Errorf("unexpected %s", a.Raw)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load()+busy.Load() != 80 || e.sb.Count(appID, "o1", tpl) != ok.Load() {
		t.Fatalf("ok %d busy %d count %d", ok.Load(), busy.Load(), e.sb.Count(appID, "o1", tpl))
	}
	if c, _ := e.sb.Credits(appID, "o1", tpl); int64(c) != 1000-ok.Load() {
		t.Fatalf("credits %d", c)
	}
}

func TestNewTmplWrongMethod(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	token := e.stable(false).AccessToken
	wantErr(t, e.do("GET", "/wxaapi/newtmpl/addtemplate?access_token="+token, nil), 404, "Not Found")
	wantErr(t, e.do("POST", "/wxaapi/newtmpl/gettemplate?access_token="+token, "{}"), 404, "Not Found")
	// categoryId arrives as a string, tid as a number.
	a := e.do("GET", "/wxaapi/newtmpl/getpubtemplatetitles?access_token="+token+"&ids=200&start=0&limit=5", nil)
	if !strings.Contains(string(a.Raw), `"categoryId":"200"`) || !strings.Contains(string(a.Raw), `"tid":2001`) {
		t.Fatalf("titles: %s", a.Raw)
	}
}

func TestLibraryCoversEveryTypeWithValidExamples(t *testing.T) {
	seen := map[string]bool{}
	for _, title := range sandbox.Library {
		for _, k := range title.Keywords {
			seen[k.Rule] = true
			kw := wechat.Keyword{Key: fmt.Sprintf("%s%d", k.Rule, k.KID), Type: k.Rule, Label: k.Name, Enum: k.Enum}
			if err := wechat.CheckValue(kw, k.Example); err != nil {
				t.Errorf("title %d: example %q: %v", title.TID, k.Example, err)
			}
		}
	}
	for _, typ := range wechat.KnownTypes {
		if !seen[typ] {
			t.Errorf("library lacks type %s", typ)
		}
	}
}

func TestControlAPI(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	rcv := newReceiver(t, "wxctl")
	post := func(method, path string, body any, want int) []byte {
		t.Helper()
		j, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, e.url+path, bytes.NewReader(j))
		res, err := http.DefaultClient.Do(req)
		must(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != want {
			t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, res.StatusCode, want, b)
		}
		return b
	}
	post("POST", "/sandbox/apps", map[string]any{"appid": "wxctl", "secret": "s", "push_url": rcv.srv.URL, "push_token": tok, "encoding_aes_key": aesKey, "safe": true, "format": "xml"}, 200)
	post("POST", "/sandbox/apps", map[string]any{"appid": "wxbad", "secret": "s", "safe": true}, 400)
	post("POST", "/sandbox/apps/wxctl/users", map[string]any{"openids": []string{"o1", "o2"}}, 200)
	post("POST", "/sandbox/apps/wxnone/users", map[string]any{"openid": "o1"}, 404)
	var tp struct {
		PriTmplID string `json:"priTmplId"`
		Content   string `json:"content"`
	}
	must(t, json.Unmarshal(post("POST", "/sandbox/apps/wxctl/templates", map[string]any{"tid": 1001, "kidList": []int{1, 6}}, 200), &tp))
	if tp.PriTmplID == "" || tp.Content != "商品名称:{{thing1.DATA}}\n订单金额:{{amount6.DATA}}\n" {
		t.Fatalf("library template %+v", tp)
	}
	post("POST", "/sandbox/apps/wxctl/templates", map[string]any{"priTmplId": "T1", "title": "t", "content": "a:{{thing1.DATA}}"}, 200)
	post("POST", "/sandbox/apps/wxctl/templates", map[string]any{"content": "no placeholder"}, 400)
	post("POST", "/sandbox/apps/wxctl/popup", map[string]any{"openid": "o1", "results": map[string]string{"T1": "accept"}}, 200)
	post("POST", "/sandbox/apps/wxctl/grant", map[string]any{"openid": "o2", "template_id": "T1", "credits": 2}, 200)
	post("PUT", "/sandbox/apps/wxctl/faults", map[string]any{"latency_ms": 1, "daily_quota": 5}, 200)
	if got := string(post("GET", "/sandbox/apps/wxctl/faults", nil, 200)); !strings.Contains(got, `"latency_ms":1`) || !strings.Contains(got, `"daily_quota":5`) {
		t.Fatalf("faults %s", got)
	}
	post("PUT", "/sandbox/apps/wxctl/faults", map[string]any{"error_rate": 2}, 400)

	var tk answer
	must(t, json.Unmarshal(post("POST", "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": "wxctl", "secret": "s"}, 200), &tk))
	for _, o := range []string{"o1", "o2", "o2"} {
		var a answer
		must(t, json.Unmarshal(post("POST", "/cgi-bin/message/subscribe/send?access_token="+tk.AccessToken, map[string]any{"touser": o, "template_id": "T1", "data": map[string]any{"thing1": map[string]string{"value": "hi"}}}, 200), &a))
		if a.ErrCode != 0 {
			t.Fatalf("send to %s: %+v", o, a)
		}
	}
	var counts struct {
		Total  int64                `json:"total"`
		Counts []sandbox.CountEntry `json:"counts"`
	}
	must(t, json.Unmarshal(post("GET", "/sandbox/apps/wxctl/counts", nil, 200), &counts))
	if counts.Total != 3 || len(counts.Counts) != 2 || counts.Counts[1] != (sandbox.CountEntry{OpenID: "o2", TemplateID: "T1", Accepted: 2}) {
		t.Fatalf("counts %+v", counts)
	}
	must(t, json.Unmarshal(post("GET", "/sandbox/apps/wxctl/counts?openid=o1&template_id=T1", nil, 200), &counts))
	if counts.Total != 1 {
		t.Fatalf("filtered counts %+v", counts)
	}
	if got := string(post("GET", "/sandbox/apps/wxctl/users/o2", nil, 200)); !strings.Contains(got, `"credits":0`) || !strings.Contains(got, `"accepted":2`) {
		t.Fatalf("user %s", got)
	}
	post("POST", "/sandbox/apps/wxctl/settings-reject", map[string]any{"openid": "o1", "template_id": "T1"}, 200)
	post("POST", "/sandbox/apps/wxctl/templates/T1/ban", map[string]any{}, 200)
	var banned answer
	must(t, json.Unmarshal(post("POST", "/cgi-bin/message/subscribe/send?access_token="+tk.AccessToken, map[string]any{"touser": "o1", "template_id": "T1", "data": map[string]any{"thing1": map[string]string{"value": "hi"}}}, 200), &banned))
	if banned.ErrCode != 43107 {
		t.Fatalf("banned: %+v", banned)
	}
	post("POST", "/sandbox/apps/wxctl/expire-tokens", nil, 200)
	var expired answer
	must(t, json.Unmarshal(post("POST", "/cgi-bin/message/subscribe/send?access_token="+tk.AccessToken, map[string]any{}, 200), &expired))
	if expired.ErrCode != 42001 {
		t.Fatalf("expired: %+v", expired)
	}
	must(t, e.sb.WaitPushes(context.Background()))
	if evs, _ := rcv.got(); len(evs) != 5 { // popup, 3 sent, change
		t.Fatalf("pushed %d events", len(evs))
	}
	if got := string(post("GET", "/sandbox/stats", nil, 200)); !strings.Contains(got, `"accepted":3`) {
		t.Fatalf("stats %s", got)
	}
}

func TestQuotaResetsAtChinaMidnight(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	tpl := mustTemplate(t, e, "a:{{thing1.DATA}}")
	must(t, e.sb.Grant(appID, "o1", tpl, 10))
	must(t, e.sb.SetFaults(appID, sandbox.Faults{DailyQuota: 1}))
	body := map[string]any{"touser": "o1", "template_id": tpl, "data": map[string]any{"thing1": map[string]string{"value": "x"}}}
	e.clk.ns.Store(time.Date(2025, 5, 20, 15, 59, 0, 0, time.UTC).UnixNano()) // 23:59 in China
	token := e.stable(false).AccessToken
	if a := e.send(token, body); a.ErrCode != 0 {
		t.Fatalf("%s", a.Raw)
	}
	wantErr(t, e.send(token, body), 45009, "reach max api daily quota limit")
	e.clk.Advance(time.Minute) // 00:00 in China
	if a := e.send(token, body); a.ErrCode != 0 {
		t.Fatalf("after midnight: %s", a.Raw)
	}
}

func TestStartAndClose(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	u, err := sb.Start("127.0.0.1:0")
	must(t, err)
	must(t, sb.AddApp(sandbox.AppConfig{AppID: appID, Secret: secret}))
	c := wechat.NewClient(wechat.Config{AppID: appID, Secret: secret, BaseURL: u})
	if _, err := c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	must(t, sb.Close())
	if _, err := http.Get(u + "/sandbox/stats"); err == nil {
		t.Fatal("still serving after Close")
	}
}

func TestPopupFiltersSameTitle(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	a, err := e.sb.AddTemplate(appID, wechat.Template{PriTmplID: "A", Title: "发货提醒", Content: "a:{{thing1.DATA}}"})
	must(t, err)
	b, err := e.sb.AddTemplate(appID, wechat.Template{PriTmplID: "B", Title: "发货提醒", Content: "b:{{thing1.DATA}}"})
	must(t, err)
	res, err := e.sb.Popup(appID, "o1", map[string]string{a: "accept", b: "accept"})
	must(t, err)
	if res[a] != "accept" || res[b] != "filter" {
		t.Fatalf("popup answered %v", res)
	}
	if ca, _ := e.sb.Credits(appID, "o1", a); ca != 1 {
		t.Fatalf("credits A %d", ca)
	}
	if cb, _ := e.sb.Credits(appID, "o1", b); cb != 0 {
		t.Fatalf("filtered template got credit %d", cb)
	}
}
