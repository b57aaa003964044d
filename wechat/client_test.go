package wechat_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

const (
	appID  = "wx1234567890abcdef"
	secret = "s3cr3t"
	tplID  = "TPL_ORDER"
	ltplID = "TPL_LONG"
	user1  = "o_user_1"
)

// clock is a settable clock shared by the sandbox and the clients.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2025, 5, 20, 10, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type env struct {
	t     *testing.T
	clock *clock
	sb    *sandbox.Server
	srv   *httptest.Server
	store *wechat.MemoryTokenStore
}

var orderContent = "商品名称:{{thing1.DATA}}\n订单号:{{character_string2.DATA}}\n发货时间:{{time4.DATA}}\n金额:{{amount7.DATA}}\n"

func orderData() map[string]string {
	return map[string]string{"thing1": "iPhone 15", "character_string2": "A2024", "time4": "2024-05-20 15:01", "amount7": "¥100.50"}
}

func newEnv(t *testing.T, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	e := &env{t: t, clock: newClock(), store: wechat.NewMemoryTokenStore()}
	e.sb = sandbox.New(sandbox.Options{Now: e.clock.Now})
	var h http.Handler = e.sb
	if wrap != nil {
		h = wrap(h)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(func() { e.srv.Close(); e.sb.Close() })
	must(t, e.sb.AddApp(sandbox.AppConfig{AppID: appID, Secret: secret, Pages: []string{"pages/index", "pages/order/detail"}}))
	must(t, e.sb.AddUser(appID, user1, "o_user_2", "o_user_3"))
	_, err := e.sb.AddTemplate(appID, wechat.Template{PriTmplID: tplID, Title: "订单发货通知", Content: orderContent, Type: wechat.TemplateOneTime})
	must(t, err)
	_, err = e.sb.AddTemplate(appID, wechat.Template{PriTmplID: ltplID, Title: "课程提醒", Content: "课程:{{thing1.DATA}}", Type: wechat.TemplateLongTerm})
	must(t, err)
	return e
}

func (e *env) client() *wechat.Client {
	return wechat.NewClient(wechat.Config{AppID: appID, Secret: secret, BaseURL: e.srv.URL, HTTPClient: e.srv.Client(), Store: e.store, Now: e.clock.Now})
}

func (e *env) stableCalls() int64 {
	s, _ := e.sb.TokenCalls(appID)
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func send(c *wechat.Client, to, tpl string) (int64, error) {
	return c.Send(context.Background(), wechat.SendRequest{ToUser: to, TemplateID: tpl, Page: "pages/order/detail?id=1", Data: orderData()})
}

func TestSendOK(t *testing.T) {
	e := newEnv(t, nil)
	must(t, e.sb.Grant(appID, user1, tplID, 2))
	c := e.client()
	id1, err := send(c, user1, tplID)
	must(t, err)
	id2, err := send(c, user1, tplID)
	must(t, err)
	if id1 <= 1<<53 || id2 <= 1<<53 || id1 == id2 {
		t.Fatalf("msgids %d %d: want distinct and above 2^53", id1, id2)
	}
	if n := e.sb.Count(appID, user1, tplID); n != 2 {
		t.Fatalf("sandbox counted %d, want 2", n)
	}
	if credits, _ := e.sb.Credits(appID, user1, tplID); credits != 0 {
		t.Fatalf("credits left %d", credits)
	}
	if e.stableCalls() != 1 {
		t.Fatalf("stable_token called %d times, want 1 (cached)", e.stableCalls())
	}
	tok, ok, _ := e.store.Get(context.Background(), appID)
	if !ok || tok.ExpiresAt != e.clock.Now().Add(7200*time.Second) {
		t.Fatalf("stored token %+v %v", tok, ok)
	}
}

func TestTokenRefreshAheadOfExpiry(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client()
	ctx := context.Background()
	t1, err := c.Token(ctx)
	must(t, err)

	// 10 minutes left: more than RefreshBefore (2 min), keep it.
	e.clock.Advance(7200*time.Second - 10*time.Minute)
	t2, err := c.Token(ctx)
	must(t, err)
	if t2 != t1 || e.stableCalls() != 1 {
		t.Fatalf("token refreshed too early (calls %d)", e.stableCalls())
	}

	// 119 s left: refresh. stable_token hands out the next token in the
	// old one's last 5 minutes, and both work until the old one expires.
	e.clock.Advance(10*time.Minute - 119*time.Second)
	t3, err := c.Token(ctx)
	must(t, err)
	if t3 == t1 || e.stableCalls() != 2 {
		t.Fatalf("token not refreshed ahead of expiry (calls %d)", e.stableCalls())
	}
	stored, _, _ := e.store.Get(ctx, appID)
	if stored.Value != t3 {
		t.Fatal("refreshed token not stored")
	}
}

func TestRefreshBeforeCapped(t *testing.T) {
	// A RefreshBefore beyond stable_token's 5-minute window would refetch
	// the same token on every call; it is capped.
	e := newEnv(t, nil)
	c := wechat.NewClient(wechat.Config{AppID: appID, Secret: secret, BaseURL: e.srv.URL, Store: e.store, Now: e.clock.Now, RefreshBefore: time.Hour})
	ctx := context.Background()
	_, err := c.Token(ctx)
	must(t, err)
	e.clock.Advance(7200*time.Second - 30*time.Minute)
	for range 3 {
		_, err := c.Token(ctx)
		must(t, err)
	}
	if e.stableCalls() != 1 {
		t.Fatalf("stable_token called %d times, want 1", e.stableCalls())
	}
}

func TestTokenSharedBetweenInstances(t *testing.T) {
	e := newEnv(t, nil)
	must(t, e.sb.Grant(appID, user1, tplID, 2))
	a, b := e.client(), e.client()
	_, err := send(a, user1, tplID)
	must(t, err)
	_, err = send(b, user1, tplID)
	must(t, err)
	if e.stableCalls() != 1 {
		t.Fatalf("second instance fetched its own token: %d calls", e.stableCalls())
	}
}

func TestTokenErrorRefreshesAndRetriesOnce(t *testing.T) {
	e := newEnv(t, nil)
	must(t, e.sb.Grant(appID, user1, tplID, 1))
	c := e.client()
	old, err := c.Token(context.Background())
	must(t, err)
	must(t, e.sb.ExpireTokens(appID)) // the next use answers 42001

	_, err = send(c, user1, tplID)
	must(t, err)
	if e.stableCalls() != 2 {
		t.Fatalf("stable_token calls %d, want 2", e.stableCalls())
	}
	if n := e.sb.Count(appID, user1, tplID); n != 1 {
		t.Fatalf("count %d, want exactly 1", n)
	}
	if tok, _, _ := e.store.Get(context.Background(), appID); tok.Value == old {
		t.Fatal("failed token still cached")
	}
}

func TestInvalidateIsCompareAndSwap(t *testing.T) {
	e := newEnv(t, nil)
	must(t, e.sb.Grant(appID, user1, tplID, 2))
	a, b := e.client(), e.client()
	ctx := context.Background()
	_, err := b.Token(ctx) // b holds T1 in memory
	must(t, err)
	must(t, e.sb.ExpireTokens(appID))

	_, err = send(a, user1, tplID) // a: 42001 → drops T1, stores T2
	must(t, err)
	t2, _, _ := e.store.Get(ctx, appID)

	_, err = send(b, user1, tplID) // b: 42001 with T1 → must not drop T2
	must(t, err)
	if got, ok, _ := e.store.Get(ctx, appID); !ok || got.Value != t2.Value {
		t.Fatalf("b knocked out the fresh token: %+v %v", got, ok)
	}
	if e.stableCalls() != 2 {
		t.Fatalf("stable_token calls %d, want 2 (b reuses a's fresh token)", e.stableCalls())
	}

	// The store itself: Invalidate with another value is a no-op.
	s := wechat.NewMemoryTokenStore()
	must(t, s.Put(ctx, "app", wechat.Token{Value: "new"}))
	must(t, s.Invalidate(ctx, "app", "old"))
	if _, ok, _ := s.Get(ctx, "app"); !ok {
		t.Fatal("Invalidate(old) dropped new")
	}
	must(t, s.Invalidate(ctx, "app", "new"))
	if _, ok, _ := s.Get(ctx, "app"); ok {
		t.Fatal("Invalidate(new) kept it")
	}
}

func TestTokenErrorRetriedOnlyOnce(t *testing.T) {
	var sends atomic.Int64
	bogus := strings.Repeat("b", 100)
	e := newEnv(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case wechat.PathStableToken: // always the same unknown token
				w.Write([]byte(`{"access_token":"` + bogus + `","expires_in":7200}`))
				return
			case wechat.PathSend:
				sends.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})
	must(t, e.sb.Grant(appID, user1, tplID, 1))
	_, err := send(e.client(), user1, tplID)
	var we *wechat.Error
	if !errors.As(err, &we) || we.Code != wechat.CodeInvalidCredential || we.Class() != wechat.ClassToken {
		t.Fatalf("err = %v, want 40001", err)
	}
	if sends.Load() != 2 {
		t.Fatalf("send attempted %d times, want 2 (one retry)", sends.Load())
	}
}

func TestConcurrentTokenFetchOnce(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			openid := "o_conc_" + string(rune('a'+i))
			if err := e.sb.Grant(appID, openid, tplID, 1); err != nil {
				t.Error(err)
				return
			}
			if _, err := send(c, openid, tplID); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if e.stableCalls() != 1 {
		t.Fatalf("stable_token called %d times by concurrent sends", e.stableCalls())
	}
	if e.sb.TotalAccepted() != 20 {
		t.Fatalf("accepted %d", e.sb.TotalAccepted())
	}
}

func TestBadCredentials(t *testing.T) {
	e := newEnv(t, nil)
	c := wechat.NewClient(wechat.Config{AppID: appID, Secret: "wrong", BaseURL: e.srv.URL, Now: e.clock.Now})
	_, err := send(c, user1, tplID)
	var we *wechat.Error
	if !errors.As(err, &we) || we.Code != wechat.CodeInvalidAppSecret {
		t.Fatalf("err = %v", err)
	}
	if cl, _ := wechat.Classify(err); cl != wechat.ClassConfig {
		t.Fatalf("class %s, want config", cl)
	}
	if !errors.Is(err, wechat.ErrNotSent) || errors.Is(err, wechat.ErrOutcomeUnknown) {
		t.Fatal("a send without a token was never sent")
	}
}

func TestSendErrcodeClasses(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client()
	must(t, e.sb.Grant(appID, user1, tplID, 100))
	banned, err := e.sb.AddTemplate(appID, wechat.Template{Content: "x:{{thing1.DATA}}"})
	must(t, err)
	must(t, e.sb.Grant(appID, user1, banned, 1))
	must(t, e.sb.BanTemplate(appID, banned, true))

	bad := orderData()
	bad["time4"] = "15:01～16:00"
	missing := orderData()
	delete(missing, "amount7")

	cases := []struct {
		name  string
		req   wechat.SendRequest
		code  int
		class wechat.Class
	}{
		{"unknown openid", wechat.SendRequest{ToUser: "o_nobody", TemplateID: tplID, Data: orderData()}, 40003, wechat.ClassPermanent},
		{"empty openid", wechat.SendRequest{TemplateID: tplID, Data: orderData()}, 40003, wechat.ClassPermanent},
		{"unknown template", wechat.SendRequest{ToUser: user1, TemplateID: "TPL_X", Data: orderData()}, 40037, wechat.ClassPermanent},
		{"page not released", wechat.SendRequest{ToUser: user1, TemplateID: tplID, Page: "pages/nope?x=1", Data: orderData()}, 41030, wechat.ClassPermanent},
		{"full-width tilde", wechat.SendRequest{ToUser: user1, TemplateID: tplID, Data: bad}, 47003, wechat.ClassPermanent},
		{"missing keyword", wechat.SendRequest{ToUser: user1, TemplateID: tplID, Data: missing}, 47003, wechat.ClassPermanent},
		{"bad lang", wechat.SendRequest{ToUser: user1, TemplateID: tplID, Data: orderData(), Lang: "fr_FR"}, 47003, wechat.ClassPermanent},
		{"no credit", wechat.SendRequest{ToUser: "o_user_2", TemplateID: tplID, Data: orderData()}, 43101, wechat.ClassPermanent},
		{"no long-term subscription", wechat.SendRequest{ToUser: "o_user_2", TemplateID: ltplID, Data: map[string]string{"thing1": "x"}}, 43101, wechat.ClassPermanent},
		{"banned template", wechat.SendRequest{ToUser: user1, TemplateID: banned, Data: map[string]string{"thing1": "x"}}, 43107, wechat.ClassPermanent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Send(context.Background(), tc.req)
			var we *wechat.Error
			if !errors.As(err, &we) {
				t.Fatalf("err = %v, want *Error %d", err, tc.code)
			}
			if we.Code != tc.code || we.Class() != tc.class {
				t.Fatalf("got %d (%s), want %d (%s): %v", we.Code, we.Class(), tc.code, tc.class, err)
			}
			if we.RID() == "" {
				t.Errorf("errmsg without rid: %q", we.Msg)
			}
			if errors.Is(err, wechat.ErrOutcomeUnknown) || errors.Is(err, wechat.ErrNotSent) {
				t.Error("an errcode is a definite answer")
			}
		})
	}
	t.Run("47003 names the field", func(t *testing.T) {
		_, err := c.Send(context.Background(), wechat.SendRequest{ToUser: user1, TemplateID: tplID, Data: bad})
		var we *wechat.Error
		if !errors.As(err, &we) || we.Field() != "time4" || !strings.HasPrefix(we.Msg, "argument invalid! data.time4.value invalid rid: ") {
			t.Fatalf("%v (field %q)", err, we.Field())
		}
	})
	if n := e.sb.Count(appID, user1, tplID); n != 0 {
		t.Fatalf("refused sends were counted: %d", n)
	}

	t.Run("system busy", func(t *testing.T) {
		must(t, e.sb.SetFaults(appID, sandbox.Faults{ErrorRate: 1}))
		defer e.sb.SetFaults(appID, sandbox.Faults{})
		_, err := send(c, user1, tplID)
		if cl, _ := wechat.Classify(err); !wechat.IsCode(err, -1) || cl != wechat.ClassTransient {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("daily quota", func(t *testing.T) {
		must(t, e.sb.SetFaults(appID, sandbox.Faults{DailyQuota: 1}))
		defer e.sb.SetFaults(appID, sandbox.Faults{})
		_, err := send(c, user1, tplID)
		must(t, err)
		_, err = send(c, user1, tplID)
		if cl, _ := wechat.Classify(err); !wechat.IsCode(err, 45009) || cl != wechat.ClassQuota {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("concurrent send to one user", func(t *testing.T) {
		// The first send is held in flight (latency) until its caller gives
		// up; a second send to the same user meanwhile gets 43108.
		must(t, e.sb.SetFaults(appID, sandbox.Faults{Latency: time.Hour}))
		defer e.sb.SetFaults(appID, sandbox.Faults{})
		before := e.sb.Count(appID, user1, tplID)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := c.Send(ctx, wechat.SendRequest{ToUser: user1, TemplateID: tplID, Data: orderData()})
			done <- err
		}()
		for e.sb.Count(appID, user1, tplID) == before { // wait until it is in flight
			time.Sleep(time.Millisecond)
		}
		_, err := send(c, user1, tplID)
		cancel()
		first := <-done
		if cl, _ := wechat.Classify(err); !wechat.IsCode(err, 43108) || cl != wechat.ClassUserConcurrency {
			t.Fatalf("second send: %v", err)
		}
		if !errors.Is(first, wechat.ErrOutcomeUnknown) {
			t.Fatalf("first send given up in flight: %v, want outcome unknown", first)
		}
		// Another user is not affected by the first one's send in flight.
		must(t, e.sb.Grant(appID, "o_user_3", tplID, 1))
		must(t, e.sb.SetFaults(appID, sandbox.Faults{}))
		_, err = send(c, "o_user_3", tplID)
		must(t, err)
	})
}

func TestLongTermTemplate(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client()
	_, err := e.sb.Popup(appID, "o_user_2", map[string]string{ltplID: "accept"})
	must(t, err)
	for range 3 {
		_, err := c.Send(context.Background(), wechat.SendRequest{ToUser: "o_user_2", TemplateID: ltplID, Data: map[string]string{"thing1": "高数"}})
		must(t, err)
	}
	must(t, e.sb.SettingsReject(appID, "o_user_2", ltplID))
	_, err = c.Send(context.Background(), wechat.SendRequest{ToUser: "o_user_2", TemplateID: ltplID, Data: map[string]string{"thing1": "高数"}})
	if !wechat.IsCode(err, 43101) {
		t.Fatalf("after settings reject: %v", err)
	}
}

func TestOutcomeUnknownVersusNotSent(t *testing.T) {
	ctx := context.Background()

	t.Run("connection cut after the send was counted", func(t *testing.T) {
		e := newEnv(t, nil)
		must(t, e.sb.Grant(appID, user1, tplID, 1))
		must(t, e.sb.SetFaults(appID, sandbox.Faults{TimeoutAfterCountRate: 1}))
		_, err := send(e.client(), user1, tplID)
		if !errors.Is(err, wechat.ErrOutcomeUnknown) || errors.Is(err, wechat.ErrNotSent) {
			t.Fatalf("err = %v, want outcome unknown", err)
		}
		if cl, _ := wechat.Classify(err); cl != wechat.ClassOutcomeUnknown || cl.Retryable() {
			t.Fatalf("class %s", cl)
		}
		if n := e.sb.Count(appID, user1, tplID); n != 1 {
			t.Fatalf("the sandbox accepted %d, want 1: outcome-unknown sends may be delivered", n)
		}
	})

	t.Run("timeout while WeChat holds the request", func(t *testing.T) {
		e := newEnv(t, nil)
		must(t, e.sb.Grant(appID, user1, tplID, 1))
		c := e.client()
		_, err := c.Token(ctx)
		must(t, err)
		must(t, e.sb.SetFaults(appID, sandbox.Faults{Latency: time.Hour}))
		tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err = c.Send(tctx, wechat.SendRequest{ToUser: user1, TemplateID: tplID, Data: orderData()})
		if !errors.Is(err, wechat.ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("proxy 502", func(t *testing.T) {
		e := newEnv(t, func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == wechat.PathSend {
					http.Error(w, "bad gateway", http.StatusBadGateway)
					return
				}
				h.ServeHTTP(w, r)
			})
		})
		_, err := send(e.client(), user1, tplID)
		var re *wechat.RequestError
		// No backend took it: transient, retried (a 500 or 504 stays unknown).
		if errors.Is(err, wechat.ErrOutcomeUnknown) || !errors.As(err, &re) || re.StatusCode != 502 || !re.Unserved() {
			t.Fatalf("err = %v", err)
		}
		if cl, _ := wechat.Classify(err); cl != wechat.ClassTransient {
			t.Fatalf("class %s", cl)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		e := newEnv(t, nil)
		c := e.client()
		_, err := c.Token(ctx) // a valid cached token, so only the send fails
		must(t, err)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		dead := "http://" + ln.Addr().String()
		ln.Close()
		c2 := wechat.NewClient(wechat.Config{AppID: appID, Secret: secret, BaseURL: dead, Store: e.store, Now: e.clock.Now})
		_, err = send(c2, user1, tplID)
		var re *wechat.RequestError
		if !errors.Is(err, wechat.ErrNotSent) || errors.Is(err, wechat.ErrOutcomeUnknown) || !errors.As(err, &re) || re.Written {
			t.Fatalf("err = %v, want not sent", err)
		}
		if cl, _ := wechat.Classify(err); cl != wechat.ClassTransient {
			t.Fatalf("class %s", cl)
		}
	})

	t.Run("context cancelled before sending", func(t *testing.T) {
		e := newEnv(t, nil)
		c := e.client()
		_, err := c.Token(ctx)
		must(t, err)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = c.Send(cctx, wechat.SendRequest{ToUser: user1, TemplateID: tplID, Data: orderData()})
		if !errors.Is(err, wechat.ErrNotSent) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestTemplateAPIs(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client()
	ctx := context.Background()

	cats, err := c.GetCategory(ctx)
	must(t, err)
	if len(cats) != len(sandbox.Categories) || cats[0].ID != 100 || cats[0].Name == "" {
		t.Fatalf("categories %+v", cats)
	}
	titles, total, err := c.GetPubTemplateTitles(ctx, []int64{100, 300}, 0, 2)
	must(t, err)
	if total != 3 || len(titles) != 2 || titles[0].TID != 1001 || titles[0].CategoryID != "100" || titles[0].Type != wechat.TemplateOneTime {
		t.Fatalf("titles %+v total %d", titles, total)
	}
	if _, _, err := c.GetPubTemplateTitles(ctx, []int64{100}, 0, 31); !wechat.IsCode(err, wechat.CodeBadLimit) {
		t.Fatalf("limit 31: %v", err)
	}
	if _, _, err := c.GetPubTemplateTitles(ctx, nil, 0, 10); !wechat.IsCode(err, wechat.CodeIDsMissing) {
		t.Fatalf("no ids: %v", err)
	}
	kws, err := c.GetPubTemplateKeywords(ctx, 3001)
	must(t, err)
	if len(kws) != 5 || kws[0].Rule != wechat.TypeEnumString {
		t.Fatalf("keywords %+v", kws)
	}
	if _, err := c.GetPubTemplateKeywords(ctx, 9); !wechat.IsCode(err, wechat.CodeBadTID) {
		t.Fatalf("bad tid: %v", err)
	}

	id, err := c.AddTemplate(ctx, wechat.AddTemplateRequest{TID: 3001, KidList: []int64{1, 2, 4}, SceneDesc: "设备提醒"})
	must(t, err)
	if _, err := c.AddTemplate(ctx, wechat.AddTemplateRequest{TID: 3001, KidList: []int64{1, 2, 4}}); !wechat.IsCode(err, wechat.CodeTemplateExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := c.AddTemplate(ctx, wechat.AddTemplateRequest{TID: 3001, KidList: []int64{1}}); !wechat.IsCode(err, wechat.CodeBadKidList) {
		t.Fatalf("one kid: %v", err)
	}
	if _, err := c.AddTemplate(ctx, wechat.AddTemplateRequest{TID: 3001, KidList: []int64{1, 2}, SceneDesc: strings.Repeat("长", 16)}); !wechat.IsCode(err, wechat.CodeBadSceneDesc) {
		t.Fatalf("long sceneDesc: %v", err)
	}

	list, err := c.GetTemplates(ctx)
	must(t, err)
	var got *wechat.Template
	for i := range list {
		if list[i].PriTmplID == id {
			got = &list[i]
		}
	}
	if got == nil || got.Title != "设备状态提醒" {
		t.Fatalf("added template not listed: %+v", list)
	}
	tkws, err := got.Keywords()
	must(t, err)
	if len(tkws) != 3 || tkws[0].Key != "enum_string1" || tkws[1].Key != "thing2" || tkws[2].Key != "time4" {
		t.Fatalf("keywords %+v", tkws)
	}
	if len(tkws[0].Enum) != 4 || tkws[0].Enum[0] != "客厅" {
		t.Fatalf("enum values not synced: %+v", tkws[0])
	}

	// The synced rules agree with the sandbox: an enum value outside the list
	// is caught locally and by "WeChat".
	must(t, e.sb.Grant(appID, user1, id, 2))
	data := map[string]string{"enum_string1": "阳台", "thing2": "空调", "time4": "15:01"}
	if err := wechat.CheckData(tkws, data); err == nil {
		t.Fatal("local check accepted a value outside the enum")
	}
	if _, err := c.Send(ctx, wechat.SendRequest{ToUser: user1, TemplateID: id, Data: data}); !wechat.IsCode(err, 47003) {
		t.Fatalf("sandbox: %v", err)
	}
	data["enum_string1"] = "卧室"
	must(t, wechat.CheckData(tkws, data))
	_, err = c.Send(ctx, wechat.SendRequest{ToUser: user1, TemplateID: id, Data: data})
	must(t, err)

	must(t, c.DelTemplate(ctx, id))
	if err := c.DelTemplate(ctx, id); err == nil {
		t.Fatal("deleting twice succeeded")
	}
	if _, err := c.Send(ctx, wechat.SendRequest{ToUser: user1, TemplateID: id, Data: data}); !wechat.IsCode(err, 40037) {
		t.Fatalf("send with deleted template: %v", err)
	}
}

func TestGetQuota(t *testing.T) {
	e := newEnv(t, nil)
	c := e.client()
	must(t, e.sb.Grant(appID, user1, tplID, 3))
	must(t, e.sb.SetFaults(appID, sandbox.Faults{DailyQuota: 1000}))
	for range 3 {
		_, err := send(c, user1, tplID)
		must(t, err)
	}
	q, err := c.GetQuota(context.Background(), "")
	must(t, err)
	if q != (wechat.Quota{DailyLimit: 1000, Used: 3, Remain: 997}) {
		t.Fatalf("quota %+v", q)
	}
	// The quota resets at midnight China time (16:00 UTC).
	e.clock.Advance(6*time.Hour + time.Second) // 10:00 UTC → 16:00:01 UTC
	q, err = c.GetQuota(context.Background(), wechat.PathSend)
	must(t, err)
	if q.Used != 0 {
		t.Fatalf("quota after midnight China time %+v", q)
	}
}
