package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/web"
	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

// uxEnv is what most of issue 11's tests start from: the console, the
// sandbox, an admin reading Chinese, signed in, and the account registered.
type uxEnv struct {
	app  *testApp
	sb   *sandbox.Server
	boss *models.Staff
	c    *client
	a    *models.App
}

func newUxEnv(t *testing.T, db *gorm.DB, opts ...func(*web.Deps)) *uxEnv {
	t.Helper()
	e := &uxEnv{app: newTestApp(t, db, opts...)}
	var base string
	e.sb, base = wxSandbox(t)
	e.boss = mustStaff(t, db, "boss@example.com", models.RoleAdmin)
	speaks(t, db, e.boss, "zh")
	e.c = e.app.signedIn(e.boss)
	e.a = createApp(t, e.c, db, base)
	return e
}

// syncTemplate adds tpl at the sandbox, syncs through the console and
// returns it as stored.
func (e *uxEnv) syncTemplate(t *testing.T, db *gorm.DB, tpl wechat.Template) *models.Template {
	t.Helper()
	wxID, err := e.sb.AddTemplate(testAppID, tpl)
	if err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, e.c.post("/templates/sync", url.Values{"app": {id(e.a.ID)}}), "/templates?app=")
	m, err := models.GetTemplateByWxID(context.Background(), db, e.a.ID, wxID)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// speaks sets a staff member's UI language.
func speaks(t *testing.T, db *gorm.DB, s *models.Staff, lang string) {
	t.Helper()
	if err := models.UpdateStaffFields(context.Background(), db, s.ID, map[string]any{"lang": lang}); err != nil {
		t.Fatal(err)
	}
}

// One upstream template that cannot be stored (a title longer than the
// column: MariaDB's Error 1406) is named and skipped; the others sync, and
// nobody blames the network.
func TestUxSyncSkipsAndNamesABadTemplate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		e := newUxEnv(t, db)
		sb, c, a := e.sb, e.c, e.a
		good, err := sb.AddTemplate(testAppID, wechat.Template{PriTmplID: "TPL_GOOD", Title: "订单发货通知", Content: "商品:{{thing1.DATA}}"})
		if err != nil {
			t.Fatal(err)
		}
		long := "超长标题" + strings.Repeat("很长", 100)
		if _, err := sb.AddTemplate(testAppID, wechat.Template{PriTmplID: "TPL_LONG", Title: long, Content: "商品:{{thing1.DATA}}"}); err != nil {
			t.Fatal(err)
		}
		r := c.post("/templates/sync", url.Values{"app": {id(a.ID)}})
		wantRedirect(t, r, "/templates?app=")
		list, _ := models.ListTemplates(ctx, db, models.TemplateFilter{AppID: a.ID})
		if len(list) != 1 || list[0].TemplateID != good {
			t.Fatalf("after a sync with one bad template: %+v", list)
		}
		page := c.get(r.header.Get("Location"))
		want(t, page, http.StatusOK)
		flash := page.doc(t).Find(`[data-testid=flash]`).Text()
		for _, w := range []string{"新增 1", "超长标题很长", "TPL_LONG", "191", "其余模板已同步"} {
			if !strings.Contains(flash, w) {
				t.Errorf("flash lacks %q: %q", w, flash)
			}
		}
		for _, bad := range []string{"1406", "Data too long", "网络", "无法连接", "Error"} {
			if strings.Contains(flash, bad) {
				t.Errorf("flash says %q: %q", bad, flash)
			}
		}
		// The history on the template page says the same in words.
		hist := c.get("/templates/" + id(list[0].ID)).doc(t).Find(`[data-testid=sync-table]`).Text()
		if !strings.Contains(hist, "TPL_LONG") || strings.Contains(hist, "{") {
			t.Errorf("sync history: %q", hist)
		}
		// A WeChat that cannot be reached is said so, without Go's error text.
		if err := db.Model(&models.App{}).Where("id = ?", a.ID).Update("api_base_url", "http://127.0.0.1:1").Error; err != nil {
			t.Fatal(err)
		}
		r = c.post("/templates/sync", url.Values{"app": {id(a.ID)}})
		flash = c.get(r.header.Get("Location")).doc(t).Find(`[data-testid=flash]`).Text()
		if !strings.Contains(flash, "无法连接微信接口：连接被拒绝") || strings.Contains(flash, "dial") || strings.Contains(flash, "connection refused") {
			t.Errorf("unreachable WeChat: %q, want the cause named as test connection names it", flash)
		}
		// Test connection says why in words too (it showed Go's whole chain);
		// without the token the sync left, it has to ask WeChat.
		if err := db.Where("app_id = ?", a.AppID).Delete(&models.AccessToken{}).Error; err != nil {
			t.Fatal(err)
		}
		r = c.do(http.MethodPost, "/settings/apps/"+id(a.ID)+"/test", url.Values{}, map[string]string{"HX-Request": "true", "X-CSRF-Token": c.csrf()})
		flash = r.doc(t).Find(`[data-testid=flash]`).Text()
		if !strings.Contains(flash, "无法连接微信接口：连接被拒绝") {
			t.Errorf("test connection to an unreachable WeChat: %q", flash)
		}
		for _, bad := range []string{"dial", "127.0.0.1", "stable_token", "wechat:", "refused."} {
			if strings.Contains(flash, bad) {
				t.Errorf("test connection says %q: %q", bad, flash)
			}
		}
	})
}

// Content typed by hand that does not parse is refused with a message that
// says what to do, in the reader's language, never wechat's Go error text.
func TestUxManualContentErrorsWorded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		e := newUxEnv(t, db)
		boss, c, a := e.boss, e.c, e.a
		cases := []struct{ content, zh, en string }{
			{"门店:{{foo.DATA}}", "“foo”不是参数名", "“foo” is not a key"},
			{"门店:{{thing1}}", "应以 .DATA 结尾", "must end in .DATA"},
			{"门店:{{thing1.DATA}}\n地址:{{thing1.DATA}}", "参数 thing1 出现了两次", "The key thing1 appears twice"},
			{"门店:{{thing1.DATA", "有 {{ 却没有 }}", "has {{ without }}"},
			{"没有占位符", "内容里没有", "has no {{type1.DATA}}"},
		}
		for _, lang := range []string{"zh", "en"} {
			speaks(t, db, boss, lang)
			for _, tc := range cases {
				r := c.post("/templates", url.Values{"app": {id(a.ID)}, "template_id": {"M1"}, "title": {"到货"}, "kind": {"one_time"}, "content": {tc.content}})
				want(t, r, http.StatusUnprocessableEntity)
				msg := r.doc(t).Find(`[data-testid=error-content]`).Text()
				wantText := tc.zh
				if lang == "en" {
					wantText = tc.en
				}
				if !strings.Contains(msg, wantText) || strings.Contains(msg, "wechat:") {
					t.Errorf("%s %q: error %q, want %q", lang, tc.content, msg, wantText)
				}
			}
		}
	})
}

// The live check puts each keyword's short error in the slot under its own
// field (out of band), and the keyword table names rules in words.
func TestUxLiveCheckErrorsUnderFields(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		e := newUxEnv(t, db)
		c := e.c
		tpl := e.syncTemplate(t, db, wechat.Template{PriTmplID: "TPL_PAY", Title: "支付成功",
			Content: "商品:{{thing1.DATA}}\n支付金额:{{amount2.DATA}}\n时间:{{time3.DATA}}"})
		page := c.get("/templates/" + id(tpl.ID))
		want(t, page, http.StatusOK)
		d := page.doc(t)
		if got := d.Find(`[data-testid=kw-rule-thing1]`).Text(); got != "20个以内字符" {
			t.Errorf("thing rule in words: %q", got)
		}
		if got := d.Find(`[data-testid=kw-table]`).Text(); strings.Contains(got, "amount:") || strings.Contains(got, "thing：") {
			t.Errorf("raw type names in the keyword table: %q", got)
		}
		r := c.do(http.MethodPost, "/templates/"+id(tpl.ID)+"/check",
			url.Values{"kw.thing1": {strings.Repeat("长", 23)}, "kw.amount2": {"¥100.50"}, "kw.time3": {"明天"}},
			map[string]string{"HX-Request": "true", "X-CSRF-Token": c.csrf()})
		want(t, r, http.StatusOK)
		d = r.doc(t)
		slot := d.Find(`#kwerr-thing1[hx-swap-oob]`)
		if slot.Length() != 1 || strings.TrimSpace(slot.Text()) != "23 个字符，最多 20 个" {
			t.Fatalf("thing1's slot: %q\n%s", slot.Text(), r.body)
		}
		if msg := d.Find(`#kwerr-time3`).Text(); !strings.HasPrefix(msg, "格式不对") || len([]rune(msg)) > 30 {
			t.Errorf("time3's slot: %q", msg)
		}
		if s := d.Find(`#kwerr-amount2`); s.Text() != "" || s.AttrOr("hidden", "none") == "none" {
			t.Errorf("amount2 is fine but its slot says %q", s.Text())
		}
		if d.Find(`[data-testid=preview-error-thing1]`).Length() != 1 {
			t.Error("the preview does not mark thing1")
		}
	})
}

// The audit log words actions, object types and details, filters by
// select and date, and words every action the code base writes.
func TestUxAuditLogInWords(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		e := newUxEnv(t, db)
		c, boss, a := e.c, e.boss, e.a
		e.syncTemplate(t, db, wechat.Template{PriTmplID: "TPL_A", Title: "发货", Content: "商品:{{thing1.DATA}}"})
		who := models.Actor{StaffID: boss.ID, Email: boss.Email, IP: "203.0.113.9"}
		if err := models.Audit(ctx, db, who, "template.create", "template", "T<b>", map[string]any{"title": "<script>", "app": a.AppID, "ok": true}); err != nil {
			t.Fatal(err)
		}
		// Codes stored in details are shown in words; times in the console's zone.
		until := time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)
		for _, row := range []struct {
			action string
			detail map[string]any
		}{
			{"auth.sign_in_failed", map[string]any{"reason": "bad_credentials"}},
			{"auth.lockout", map[string]any{"by": "account", "until": until}},
			{"auth.sign_in", map[string]any{"ended_sessions": 2}},
			{"campaign.create", map[string]any{"audience": "subscribed", "schedule": "cron", "name": "cron"}},
		} {
			if err := models.Audit(ctx, db, who, row.action, "staff", boss.Email, row.detail); err != nil {
				t.Fatal(err)
			}
		}
		r := c.get("/settings/audit")
		want(t, r, http.StatusOK)
		d := r.doc(t)
		table := d.Find(`[data-testid=audit-table]`).Text()
		for _, w := range []string{"原因：邮箱或密码错误", "按：账号（失败次数过多）", "直到：2026-05-01 10:00:00", "结束的其他会话：2",
			"受众：所有订阅了此模板的用户", "计划：按 cron 周期发送", "名称：cron"} {
			if !strings.Contains(table, w) {
				t.Errorf("the audit table lacks %q:\n%s", w, table)
			}
		}
		for _, raw := range []string{"template.sync", "app.create", "template.create", `\u003c`, "{", "inserted",
			"bad_credentials", "ended_sessions", "subscribed", "2026-05-01T"} {
			if strings.Contains(table, raw) {
				t.Errorf("the audit table shows %q:\n%s", raw, table)
			}
		}
		for _, w := range []string{"从微信同步模板", "登记小程序", "手动录入模板", "标题：<script>", "成功：是", "新增：1"} {
			if !strings.Contains(table, w) {
				t.Errorf("the audit table lacks %q:\n%s", w, table)
			}
		}
		if d.Find(`select[name=action] option[value="template.sync"]`).Length() != 1 || d.Find(`select[name=type] option[value=app]`).Length() != 1 {
			t.Error("action and object type filters are not selects of the known codes")
		}
		if n := c.get("/settings/audit?action=template.sync").doc(t).Find(`[data-testid=audit-table] tbody tr`).Length(); n != 1 {
			t.Errorf("action filter: %d rows", n)
		}
		if n := c.get("/settings/audit?action=template.").doc(t).Find(`[data-testid=audit-table] tbody tr`).Length(); n != 2 {
			t.Errorf("action group filter: %d rows", n)
		}
		today := time.Now().In(mustLoc(t)).Format("2006-01-02")
		tomorrow := time.Now().In(mustLoc(t)).AddDate(0, 0, 1).Format("2006-01-02")
		if n := c.get("/settings/audit?from=" + today + "&to=" + today).doc(t).Find(`[data-testid=audit-table] tbody tr`).Length(); n < 3 {
			t.Errorf("today's rows: %d", n)
		}
		if n := c.get("/settings/audit?from=" + tomorrow).doc(t).Find(`[data-testid=audit-table] tbody tr`).Length(); n != 0 {
			t.Errorf("rows from tomorrow on: %d", n)
		}
		if e := c.get("/settings/audit?from=" + tomorrow + "&to=" + today).doc(t).Find(`[data-testid=audit-filter-error]`).Text(); !strings.Contains(e, "结束时间不晚于开始时间") {
			t.Fatalf("inverted audit range: %q", e)
		}
		if c.get("/settings/audit?from=31/12").doc(t).Find(`[data-testid=audit-filter-error]`).Length() != 1 {
			t.Error("a date that does not parse is not reported")
		}
		speaks(t, db, boss, "en")
		table = c.get("/settings/audit").doc(t).Find(`[data-testid=audit-table]`).Text()
		if !strings.Contains(table, "Synced templates") || !strings.Contains(table, "Added an account") || strings.Contains(table, "template.sync") {
			t.Errorf("English audit table:\n%s", table)
		}
	})
}

func mustLoc(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// Small things: the Jobs page in words, the time zone named once, the
// language switch after a failed post, a notice after signing out.
func TestUxJobsZoneLanguageAndSignOut(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		speaks(t, db, boss, "zh")
		c := app.signedIn(boss)
		for name, spec := range map[string]string{"sessions-prune": "@every 1h", "template-sync": "@every 10m"} {
			if err := models.EnsureJob(ctx, db, name, spec); err != nil {
				t.Fatal(err)
			}
		}
		r := c.get("/settings/jobs")
		want(t, r, http.StatusOK)
		d := r.doc(t)
		row := d.Find(`[data-testid=job-sessions-prune]`).Text()
		for _, w := range []string{"清理登录会话", "每 1 小时", "从未运行"} {
			if !strings.Contains(row, w) {
				t.Errorf("jobs row lacks %q: %q", w, row)
			}
		}
		if strings.Contains(row, "sessions-prune") || strings.Contains(row, "@every") || strings.Contains(row, "0 ms") {
			t.Errorf("jobs row shows raw values: %q", row)
		}
		if got := d.Find(`[data-testid=job-template-sync] [data-testid=job-schedule]`).Text(); got != "每 10 分钟" {
			t.Errorf("template-sync schedule: %q", got)
		}
		body := d.Find("main").Text()
		if strings.Contains(body, "CST") || strings.Contains(body, "UTC+8") {
			t.Errorf("times in the page carry the zone: %q", body)
		}
		if z := d.Find(`[data-testid=tz-note]`).Text(); !strings.Contains(z, "UTC+8") {
			t.Errorf("zone note: %q", z)
		}
		if d.Find(`[data-testid=lang-zh][aria-pressed=true].current`).Length() != 1 {
			t.Error("the language switch does not mark Chinese as current")
		}
		// A failed post re-renders the form; the switch returns to the form's page.
		r = c.do(http.MethodPost, "/templates", url.Values{"_csrf": {c.csrf()}, "title": {""}}, map[string]string{"Referer": app.srv.URL + "/templates/new?app=1"})
		want(t, r, http.StatusUnprocessableEntity)
		if next := r.doc(t).Find(`[data-testid=lang-switch] input[name=next]`).AttrOr("value", ""); next != "/templates/new?app=1" {
			t.Errorf("language switch after a failed post goes to %q", next)
		}
		// Signing out leaves a notice on the sign-in page.
		r = c.post("/logout", nil)
		wantRedirect(t, r, "/login")
		if f := c.get("/login").doc(t).Find(`[data-testid=flash].flash-success`).Text(); f == "" {
			t.Error("no notice after signing out")
		}
	})
}

// An unknown test send is watched for two minutes; after that the answer
// stops asking and links to the delivery's page (issue 11, point 2).
func TestUxUnknownTestSendWatchIsBounded(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		f := newSupportFixture(t, db)
		app := newTestApp(t, db)
		op := app.signedIn(mustStaff(t, db, "op@example.com", models.RoleOperator))
		alice := f.user(t, "o_alice", "")
		d := f.delivery(t, alice, time.Now(), map[string]any{"status": models.DeliveryUnknown, "reason": models.ReasonOutcomeUnknown, "attempts": 1})
		path := "/templates/" + id(f.tpl.ID) + "/test-send/" + id(d.ID)
		doc := op.get(path).doc(t)
		if poll, _ := doc.Find(`[data-testid=tpl-send-unknown]`).Attr("hx-get"); poll != path || doc.Find(`[data-testid=tpl-send-watching] a[href="/deliveries/`+id(d.ID)+`"]`).Length() != 1 {
			t.Fatalf("a fresh unknown send is not watched with a link to its delivery:\n%s", doc.Text())
		}
		if err := db.Model(&models.Delivery{}).Where("id = ?", d.ID).Update("created_at", time.Now().UTC().Add(-3*time.Minute)).Error; err != nil {
			t.Fatal(err)
		}
		r := op.get(path)
		want(t, r, http.StatusOK)
		doc = r.doc(t)
		if doc.Find(`[hx-get]`).Length() != 0 || doc.Find(`[data-testid=tpl-send-delivery-link]`).AttrOr("href", "") != "/deliveries/"+id(d.ID) {
			t.Fatalf("after two minutes it still asks, or links nowhere:\n%s", r.body)
		}
		if want := "/deliveries/" + id(d.ID); op.get(want).status != http.StatusOK {
			t.Errorf("the delivery page %s does not open for the operator", want)
		}
	})
}
