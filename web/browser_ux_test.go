package web_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

// shot saves a full-page PNG as name under $MINIPUSH_SHOTS (default
// ../screenshots), from the SQLite run only: the pages are the same on MySQL.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !strings.HasSuffix(t.Name(), "/sqlite") {
		return
	}
	get(t, ctx, chromedp.Evaluate[bool](`(window.scrollTo(0, 0), true)`))
	saveShot(t, ctx, name, chromedp.FullScreenshot(100))
}

// viewShot saves what the window shows now (not the whole page), as a
// person sees it while typing.
func viewShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !strings.HasSuffix(t.Name(), "/sqlite") {
		return
	}
	saveShot(t, ctx, name, chromedp.CaptureScreenshot())
}

func saveShot(t *testing.T, ctx context.Context, name string, a chromedp.Action[[]byte]) {
	t.Helper()
	buf, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := os.Getenv("MINIPUSH_SHOTS")
	if dir == "" {
		dir = filepath.Join("..", "screenshots")
	}
	_ = os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signIn signs boss in through the sign-in page at 1400×900.
func signIn(t *testing.T, ctx context.Context, base, email string) {
	t.Helper()
	do(t, ctx,
		chromedp.EmulateViewport(1400, 900),
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`[data-testid=login]`),
		chromedp.SendKeys(`#f-email`, email),
		chromedp.SendKeys(`#f-password`, "correct horse battery"),
		chromedp.Click(`[data-testid=login-submit]`),
		chromedp.WaitVisible(`[data-testid=dashboard]`),
	)
}

// switchLang clicks the language switch and waits for the page in lang.
func switchLang(t *testing.T, ctx context.Context, lang, ready string) {
	t.Helper()
	htmlLang := map[string]string{"zh": "zh-CN", "en": "en"}[lang]
	do(t, ctx, chromedp.Click(`[data-testid=lang-`+lang+`]`), chromedp.WaitVisible(`html[lang="`+htmlLang+`"] `+ready))
}

// A keyword value that breaks its rule turns its own field red, with a
// short message under it, in view while typing (issue 11, point 1).
func TestBrowserUxFieldErrorUnderField(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		e := newUxEnv(t, db)
		app, boss, a := e.app, e.boss, e.a
		tpl := e.syncTemplate(t, db, wechat.Template{PriTmplID: "TPL_PAY", Title: "支付成功通知",
			Content: "商品名称:{{thing1.DATA}}\n支付金额:{{amount2.DATA}}\n支付时间:{{time3.DATA}}\n订单号:{{character_string4.DATA}}\n备注:{{thing5.DATA}}"})
		ctx := browser(t)
		signIn(t, ctx, app.srv.URL, boss.Email)
		do(t, ctx, chromedp.Navigate(app.srv.URL+"/templates?app="+id(a.ID)), chromedp.WaitVisible(`[data-testid=tpl-table]`))
		if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('main select[name=app]').length`)); n != 1 {
			t.Errorf("the templates page has %d account dropdowns", n)
		}
		if href := get(t, ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid=tpl-library]').getAttribute('href')`)); href != "/templates/library?app="+id(a.ID) {
			t.Errorf("library link %q does not follow the filter", href)
		}
		shot(t, ctx, "templates-list-zh")
		switchLang(t, ctx, "en", `[data-testid=tpl-table]`)
		shot(t, ctx, "templates-list-en")
		switchLang(t, ctx, "zh", `[data-testid=tpl-table]`)
		for _, lang := range []string{"zh", "en"} {
			do(t, ctx, chromedp.Navigate(app.srv.URL+"/templates/"+id(tpl.ID)), chromedp.WaitVisible(`[data-testid=kw-table]`))
			if lang == "en" {
				switchLang(t, ctx, "en", `[data-testid=kw-table]`)
			}
			// The last keyword's field sits low on the page: scroll to it and type.
			do(t, ctx,
				chromedp.ScrollIntoView(`#kw-thing5`),
				chromedp.SendKeys(`#kw-thing5`, "这是一个远远超过二十个字符限制的备注说明文字内容"),
				chromedp.WaitVisible(`#kwerr-thing5`),
			)
			type fieldState struct {
				Invalid, Color, Text string
				Top, Bottom, View    float64
				Marked               bool
			}
			st := get(t, ctx, chromedp.Evaluate[fieldState](`(() => {
				const e = document.querySelector('#kwerr-thing5'), r = e.getBoundingClientRect();
				return {Invalid: document.querySelector('#kw-thing5').getAttribute('aria-invalid'), Color: getComputedStyle(e).color,
					Text: e.textContent.trim(), Top: r.top, Bottom: r.bottom, View: window.innerHeight,
					Marked: !!document.querySelector('[data-testid=preview-error-thing5]')};
			})()`))
			if st.Invalid != "true" || st.Color != "rgb(229, 72, 77)" || st.Top < 0 || st.Bottom > st.View || !st.Marked {
				t.Errorf("%s: the field's error is not red and in view: %+v", lang, st)
			}
			wantMsg := map[string]string{"zh": "24 个字符，最多 20 个", "en": "24 characters; at most 20"}[lang]
			if st.Text != wantMsg {
				t.Errorf("%s: message %q, want %q", lang, st.Text, wantMsg)
			}
			// Fields not typed in yet are not marked while typing.
			if inv := get(t, ctx, chromedp.Evaluate[string](`document.querySelector('#kw-thing1').getAttribute('aria-invalid')`)); inv == "true" {
				t.Errorf("%s: an untouched field turned red while typing in another", lang)
			}
			viewShot(t, ctx, "template-field-error-"+lang)
			// Fixed, the field is no longer red.
			get(t, ctx, chromedp.Evaluate[bool](`(document.querySelector('#kw-thing5').value = '', true)`))
			do(t, ctx, chromedp.SendKeys(`#kw-thing5`, "周末送达"), chromedp.WaitNotVisible(`#kwerr-thing5`))
			if inv := get(t, ctx, chromedp.Evaluate[string](`document.querySelector('#kw-thing5').getAttribute('aria-invalid')`)); inv != "false" {
				t.Errorf("%s: fixed field still aria-invalid=%s", lang, inv)
			}
		}
		switchLang(t, ctx, "zh", `[data-testid=kw-table]`)
	})
}

// heldPushes stands between the sandbox and the console: while holding it
// answers WeChat's pushes with "success" and keeps them; release forwards
// them, as a late sent event would arrive.
type heldPushes struct {
	target string
	mu     sync.Mutex
	hold   bool
	held   []heldPush
}

type heldPush struct {
	uri, ctype string
	body       []byte
}

func (p *heldPushes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	hp := heldPush{uri: r.URL.RequestURI(), ctype: r.Header.Get("Content-Type"), body: body}
	p.mu.Lock()
	if p.hold {
		p.held = append(p.held, hp)
		p.mu.Unlock()
		_, _ = w.Write([]byte("success"))
		return
	}
	p.mu.Unlock()
	status, answer := p.forward(hp)
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

func (p *heldPushes) forward(hp heldPush) (int, []byte) {
	res, err := http.Post(p.target+hp.uri, hp.ctype, bytes.NewReader(hp.body))
	if err != nil {
		return http.StatusBadGateway, []byte(err.Error())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func (p *heldPushes) setHold(h bool) { p.mu.Lock(); p.hold = h; p.mu.Unlock() }

// release forwards what was held and stops holding; it returns how many.
func (p *heldPushes) release(t *testing.T) int {
	p.mu.Lock()
	held := p.held
	p.held, p.hold = nil, false
	p.mu.Unlock()
	for _, hp := range held {
		if status, b := p.forward(hp); status != http.StatusOK {
			t.Fatalf("held push answered %d: %s", status, b)
		}
	}
	return len(held)
}

// A test send whose answer is lost (the sandbox cuts the connection after
// accepting it) shows "unknown", keeps asking, and turns delivered without a
// reload when WeChat's sent event arrives later (issue 11, point 2).
func TestBrowserUxUnknownTestSendSettles(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		start := time.Now()
		app := newTestApp(t, db, withEngine(t))
		sb, base := wxSandbox(t)
		proxy := &heldPushes{target: app.srv.URL}
		psrv := httptest.NewServer(proxy)
		t.Cleanup(psrv.Close)
		if err := sb.AddApp(sandbox.AppConfig{AppID: testAppID, Secret: testSecret, OriginalID: "gh_0123456789ab",
			PushURL: psrv.URL + "/wx/push/" + testAppID, PushToken: testToken, EncodingAESKey: testAESKey, Safe: true, Format: "json"}); err != nil {
			t.Fatal(err)
		}
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		speaks(t, db, boss, "zh")
		c := app.signedIn(boss)
		a := createApp(t, c, db, base)
		wxTpl, err := sb.AddTemplate(testAppID, wechat.Template{PriTmplID: "TPL_SHIP", Title: "订单发货通知", Content: "商品名称:{{thing1.DATA}}\n订单金额:{{amount2.DATA}}"})
		if err != nil {
			t.Fatal(err)
		}
		wantRedirect(t, c.post("/templates/sync", url.Values{"app": {id(a.ID)}}), "/templates?app=")
		tpl, err := models.GetTemplateByWxID(context.Background(), db, a.ID, wxTpl)
		if err != nil {
			t.Fatal(err)
		}
		// Alice allows the template: the popup event reaches the console.
		if _, err := sb.Popup(testAppID, "o_alice", map[string]string{wxTpl: "accept"}); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sb.WaitPushes(wctx); err != nil {
			t.Fatal(err)
		}
		// From now on WeChat accepts the send but its answer is lost, and the
		// sent event is held back.
		proxy.setHold(true)
		if err := sb.SetFaults(testAppID, sandbox.Faults{TimeoutAfterCountRate: 1}); err != nil {
			t.Fatal(err)
		}
		t.Logf("set up in %v", time.Since(start).Round(time.Millisecond))
		ctx := browser(t)
		signIn(t, ctx, app.srv.URL, boss.Email)
		do(t, ctx,
			chromedp.Navigate(app.srv.URL+"/templates/"+id(tpl.ID)),
			chromedp.WaitVisible(`[data-testid=kw-table]`),
			chromedp.SendKeys(`#kw-thing1`, "iPhone 15"),
			chromedp.SendKeys(`#kw-amount2`, "¥100.50"),
			chromedp.SendKeys(`#f-openid`, "o_alice"),
		)
		get(t, ctx, chromedp.Evaluate[bool](`(window.__samePage = true)`))
		do(t, ctx,
			chromedp.Click(`[data-testid=tpl-test-send]`),
			chromedp.WaitVisible(`[data-testid=tpl-send-unknown] [data-testid=tpl-send-watching]`),
			chromedp.ScrollIntoView(`#tpl-send-result`),
		)
		var d models.Delivery
		if err := db.Order("id DESC").First(&d).Error; err != nil || d.Status != models.DeliveryUnknown {
			t.Fatalf("the delivery is %q (%v), want unknown", d.Status, err)
		}
		t.Logf("unknown shown after %v", time.Since(start).Round(time.Millisecond))
		shot(t, ctx, "test-send-unknown-zh")
		// The sent event arrives late; the page turns delivered by itself.
		if n := proxy.release(t); n != 1 {
			t.Fatalf("%d pushes were held, want the one sent event", n)
		}
		released := time.Now()
		do(t, ctx, chromedp.WaitVisible(`#tpl-send-result .flash-success`))
		t.Logf("delivered shown %v after the sent event was released (%v in all)", time.Since(released).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		msg := get(t, ctx, chromedp.Text(`#tpl-send-result`))
		if !strings.Contains(msg, "送达") || !get(t, ctx, chromedp.Evaluate[bool](`window.__samePage === true`)) {
			t.Errorf("after the sent event: %q (same page: reloaded?)", msg)
		}
		if err := db.First(&d, d.ID).Error; err != nil || d.Status != models.DeliveryDelivered {
			t.Errorf("the delivery is %q (%v), want delivered", d.Status, err)
		}
		shot(t, ctx, "test-send-settled-zh")
		if n := sb.Count(testAppID, "o_alice", wxTpl); n != 1 {
			t.Errorf("the sandbox counted %d messages to Alice, want 1", n)
		}
	})
}

// The audit log fits 1400 px without horizontal scrolling and shows no raw
// codes, in both languages (issue 11, point 3); the Jobs page is in words.
func TestBrowserUxAuditFits1400(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx0 := context.Background()
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "lead.operations.manager@example-shop.com.cn", models.RoleAdmin)
		speaks(t, db, boss, "zh")
		who := models.Actor{StaffID: boss.ID, Email: boss.Email, IP: "2001:db8:85a3::8a2e:370:7334"}
		entries := []struct {
			action, typ, obj string
			detail           map[string]any
		}{
			{"template.test_send", "template", "a8Cq2Vd9w1mZ4rT7yU0pLkJhGfDsA3xS5eR6tY8uI0o", map[string]any{"app": testAppID, "openid": "oXyZ123456789abcdefghijklmnop", "delivery": 1234567}},
			{"job.run_now", "job", "template-sync", nil},
			{"app.update", "app", testAppID, map[string]any{"changed": map[string]any{"name": map[string]any{"from": "<旧名称>", "to": "上海旗舰店 & 北京分店"}}}},
			{"template.add", "template", "Xk3v9_Qm2LrT8wYz1NpB4cD6eF0gH5jK7mP9sU2vW4x", map[string]any{"app": testAppID, "tid": 1001, "kids": []int{1, 2, 3, 4, 5}, "scene": "订单发货通知提醒用户"}},
			{"campaign.create", "campaign", "42", map[string]any{"name": "双十一大促全量用户推送（第二轮，仅限已授权用户）", "template": "Xk3v9_Qm2LrT8wYz1NpB4cD6eF0gH5jK7mP9sU2vW4x", "audience": map[string]any{"tags": []string{"vip", "北京"}}}},
			{"staff.role", "staff", "ops@example.com", map[string]any{"from": "support", "to": "operator"}},
			{"user.adjust_credits", "user", "998877", map[string]any{"template": "TPL_SHIP", "delta": -1, "reason": "客户投诉重复发送，人工扣减一次"}},
		}
		for _, e := range entries {
			if err := models.Audit(ctx0, db, who, e.action, e.typ, e.obj, e.detail); err != nil {
				t.Fatal(err)
			}
		}
		if err := models.EnsureJob(ctx0, db, "sessions-prune", "@every 1h"); err != nil {
			t.Fatal(err)
		}
		ctx := browser(t)
		signIn(t, ctx, app.srv.URL, boss.Email)
		for _, lang := range []string{"zh", "en"} {
			do(t, ctx, chromedp.Navigate(app.srv.URL+"/settings/audit"), chromedp.WaitVisible(`[data-testid=audit-table]`))
			if lang == "en" {
				switchLang(t, ctx, "en", `[data-testid=audit-table]`)
			}
			type width struct{ Scroll, Client, Table float64 }
			w := get(t, ctx, chromedp.Evaluate[width](`({Scroll: document.documentElement.scrollWidth, Client: document.documentElement.clientWidth,
				Table: document.querySelector('[data-testid=audit-table]').getBoundingClientRect().right})`))
			t.Logf("%s: scrollWidth %.0f, clientWidth %.0f, table right edge %.0f", lang, w.Scroll, w.Client, w.Table)
			if w.Scroll > w.Client || w.Table > w.Client {
				t.Errorf("%s: the audit log is wider than the window: %+v", lang, w)
			}
			text := get(t, ctx, chromedp.Text(`[data-testid=audit-table]`))
			for _, e := range entries {
				if strings.Contains(text, e.action) {
					t.Errorf("%s: raw action %s shown", lang, e.action)
				}
			}
			for _, raw := range []string{"{", `\u003c`, "&lt;"} {
				if strings.Contains(text, raw) {
					t.Errorf("%s: raw detail %q shown:\n%s", lang, raw, text)
				}
			}
			if !strings.Contains(text, "<旧名称>") {
				t.Errorf("%s: the detail lost its text:\n%s", lang, text)
			}
			shot(t, ctx, "audit-"+lang)
			do(t, ctx, chromedp.Navigate(app.srv.URL+"/settings/jobs"), chromedp.WaitVisible(`[data-testid=jobs-table]`))
			shot(t, ctx, "jobs-"+lang)
			do(t, ctx, chromedp.Navigate(app.srv.URL+"/templates/new"), chromedp.WaitVisible(`[data-testid=tpl-manual-form]`),
				chromedp.SendKeys(`#f-template_id`, "M1"), chromedp.SendKeys(`#f-title`, "到货提醒"),
				chromedp.SendKeys(`#f-content`, "门店:{{foo.DATA}}"), chromedp.Click(`[data-testid=tpl-manual-submit]`),
				chromedp.WaitVisible(`[data-testid=error-content]`))
			shot(t, ctx, "manual-content-error-"+lang)
		}
		// Sign out: a notice on the sign-in page, in the language in use.
		do(t, ctx, chromedp.Click(`[data-testid=logout]`), chromedp.WaitVisible(`[data-testid=login] .flash-success`))
		shot(t, ctx, "signed-out-en")
	})
}

// The library picker marks titles the account has, searches keywords,
// reorders the chosen ones (the message follows that order), and its
// keyword-count error is red like every field error (issue 11, point 7).
func TestBrowserUxLibraryPicker(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		e := newUxEnv(t, db)
		app, sb, boss, c, a := e.app, e.sb, e.boss, e.c, e.a
		if _, err := sb.AddLibraryTemplate(testAppID, 1001, 1, 6); err != nil {
			t.Fatal(err)
		}
		wantRedirect(t, c.post("/templates/sync", url.Values{"app": {id(a.ID)}}), "/templates?app=")
		// An upstream template whose title is too long to store: the sync names it and syncs the rest.
		if _, err := sb.AddTemplate(testAppID, wechat.Template{PriTmplID: "TPL_LONG", Title: "超长标题" + strings.Repeat("很长", 100), Content: "商品:{{thing1.DATA}}"}); err != nil {
			t.Fatal(err)
		}
		ctx := browser(t)
		signIn(t, ctx, app.srv.URL, boss.Email)
		for _, lang := range []string{"zh", "en"} {
			do(t, ctx, chromedp.Navigate(app.srv.URL+"/templates?app="+id(a.ID)), chromedp.WaitVisible(`[data-testid=tpl-sync]`))
			if lang == "en" {
				switchLang(t, ctx, "en", `[data-testid=tpl-sync]`)
			}
			do(t, ctx, chromedp.Click(`[data-testid=tpl-sync]`), chromedp.WaitVisible(`.flash-warning`))
			if msg := get(t, ctx, chromedp.Text(`.flash-warning`)); !strings.Contains(msg, "TPL_LONG") || strings.Contains(msg, "1406") {
				t.Errorf("%s: sync flash %q", lang, msg)
			}
			shot(t, ctx, "sync-skipped-"+lang)
		}
		switchLang(t, ctx, "zh", `[data-testid=tpl-table]`)
		do(t, ctx,
			chromedp.Navigate(app.srv.URL+"/templates/library?app="+id(a.ID)+"&category=100&tid=1002"),
			chromedp.WaitVisible(`[data-testid=lib-add-form]`),
		)
		titles := get(t, ctx, chromedp.Text(`[data-testid=lib-titles]`))
		if !strings.Contains(titles, "订单发货通知 已添加") || strings.Contains(titles, "支付成功通知 已添加") {
			t.Errorf("titles already added are not marked (only them): %q", titles)
		}
		// One keyword is refused with a red message under the list.
		do(t, ctx, chromedp.Click(`[data-testid=lib-kid-1]`), chromedp.SendKeys(`#f-scene_desc`, "支付提醒"),
			chromedp.Click(`[data-testid=lib-add]`), chromedp.WaitVisible(`[data-testid=error-kid]`))
		if col := get(t, ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('[data-testid=error-kid]')).color`)); col != "rgb(229, 72, 77)" {
			t.Errorf("keyword-count error colour %s", col)
		}
		shot(t, ctx, "library-count-error-zh")
		// Search, then pick 商品名称 and move it first.
		do(t, ctx, chromedp.SendKeys(`[data-testid=lib-search]`, "会员"))
		if n := get(t, ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('#lib-kw-rows tr')].filter(r => !r.hidden).length`)); n != 1 {
			t.Errorf("searching 会员 leaves %d rows", n)
		}
		get(t, ctx, chromedp.Evaluate[bool](`(() => { const s = document.querySelector('[data-testid=lib-search]'); s.value = ''; s.dispatchEvent(new Event('input', {bubbles: true})); return true })()`))
		do(t, ctx, chromedp.Click(`[data-testid=lib-kid-4]`),
			chromedp.Click(`[data-testid=lib-up-4]`), chromedp.Click(`[data-testid=lib-up-4]`), chromedp.Click(`[data-testid=lib-up-4]`))
		order := get(t, ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#lib-kw-rows tr')].map(r => r.querySelector('[data-order-no]').textContent + r.querySelector('[data-filter-text]').textContent).join(',')`))
		if !strings.HasPrefix(order, "1商品名称,2支付金额,") {
			t.Errorf("rows after moving 商品名称 up: %s", order)
		}
		shot(t, ctx, "library-picker-zh")
		do(t, ctx, chromedp.Click(`[data-testid=lib-add]`), chromedp.WaitVisible(`[data-testid=kw-table]`))
		tpls, err := models.ListTemplates(context.Background(), db, models.TemplateFilter{AppID: a.ID, Status: models.TemplateActive})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, tp := range tpls {
			if tp.Title == "支付成功通知" {
				kws, _ := tp.KeywordList()
				for _, k := range kws {
					keys = append(keys, k.Key)
				}
			}
		}
		if strings.Join(keys, ",") != "thing4,amount1" {
			t.Errorf("the added template's keywords are %v, want thing4 then amount1", keys)
		}
		switchLang(t, ctx, "en", `[data-testid=kw-table]`)
		shot(t, ctx, "template-keywords-en")
		do(t, ctx, chromedp.Navigate(app.srv.URL+"/templates/library?app="+id(a.ID)+"&category=100&tid=1001"),
			chromedp.WaitVisible(`[data-testid=lib-add-form]`), chromedp.Click(`[data-testid=lib-kid-6]`), chromedp.Click(`[data-testid=lib-kid-3]`),
			chromedp.Click(`[data-testid=lib-up-3]`))
		shot(t, ctx, "library-picker-en")
		do(t, ctx, chromedp.Navigate(app.srv.URL+"/templates/"+id(tpls[0].ID)), chromedp.WaitVisible(`[data-testid=kw-table]`))
		switchLang(t, ctx, "zh", `[data-testid=kw-table]`)
		shot(t, ctx, "template-keywords-zh")
	})
}
