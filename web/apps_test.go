package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
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

const (
	testAppID  = "wx0123456789abcdef"
	testSecret = "S3cretS3cretS3cretS3cretS3cret42"
	testToken  = "PushTok3n"
	testAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// wxSandbox starts the fake WeChat in-process with the test app registered.
func wxSandbox(t *testing.T) (*sandbox.Server, string) {
	t.Helper()
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	if err := sb.AddApp(sandbox.AppConfig{AppID: testAppID, Secret: testSecret}); err != nil {
		t.Fatal(err)
	}
	return sb, srv.URL
}

func appForm(base string) url.Values {
	return url.Values{"name": {"商城"}, "app_id": {testAppID}, "secret": {testSecret}, "original_id": {"gh_0123456789ab"},
		"push_token": {testToken}, "aes_key": {testAESKey}, "push_mode": {"safe"}, "push_format": {"json"},
		"api_base_url": {base}, "rate_limit": {"50"}, "daily_quota": {"0"}, "timezone": {"Asia/Shanghai"},
		"quiet_start": {"22:00"}, "quiet_end": {"08:00"}, "quiet_policy": {"defer"}, "mp_state": {"formal"}, "lang": {"zh_CN"},
		"sync_every_hours": {"6"}}
}

// createApp registers the test app through the console and returns it.
func createApp(t *testing.T, c *client, db *gorm.DB, base string) *models.App {
	t.Helper()
	wantRedirect(t, c.post("/settings/apps", appForm(base)), "/settings/apps/")
	a, err := models.GetAppByAppID(context.Background(), db, testAppID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAppSecretsNeverShownOrLogged(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		_, base := wxSandbox(t)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		c := app.signedIn(boss)
		a := createApp(t, c, db, base)

		var bodies []string
		for _, p := range []string{"/settings/apps", "/settings/apps/" + id(a.ID), "/settings/apps/" + id(a.ID) + "/edit", "/settings/audit"} {
			r := c.get(p)
			want(t, r, http.StatusOK)
			bodies = append(bodies, r.body)
		}
		r := c.post("/settings/apps/"+id(a.ID)+"/test", nil)
		want(t, r, http.StatusOK)
		bodies = append(bodies, r.body)
		if !strings.Contains(r.body, "access token") && !strings.Contains(r.body, "access_token") {
			t.Fatalf("test connection did not report success:\n%.3000s", r.body)
		}
		// A failed edit re-renders the form: still no secret.
		bad := appForm(base)
		bad.Set("aes_key", "short")
		r = c.post("/settings/apps/"+id(a.ID), bad)
		want(t, r, http.StatusUnprocessableEntity)
		bodies = append(bodies, r.body)

		for _, secret := range []string{testSecret, testToken, testAESKey} {
			for i, b := range bodies {
				if strings.Contains(b, secret) {
					t.Errorf("response %d shows a secret", i)
				}
			}
			if strings.Contains(app.log.String(), secret) {
				t.Errorf("the log contains a secret")
			}
		}
		// At rest: sealed, and the sealed value opens to the secret.
		for _, sealed := range []string{a.SecretEnc, a.PushTokenEnc, a.AESKeyEnc} {
			if !strings.HasPrefix(sealed, "v1:") || strings.Contains(sealed, testSecret) {
				t.Fatalf("stored unsealed: %q", sealed)
			}
		}
		var raw string
		db.Raw("SELECT secret_enc FROM apps WHERE id = ?", a.ID).Scan(&raw)
		if strings.Contains(raw, testSecret) {
			t.Fatal("secret in clear in the database")
		}
		// Blank secret fields on edit keep the stored ones.
		keep := appForm(base)
		keep.Set("secret", "")
		keep.Set("push_token", "")
		keep.Set("aes_key", "")
		keep.Set("rate_limit", "77")
		wantRedirect(t, c.post("/settings/apps/"+id(a.ID), keep), "/settings/apps/")
		a2, _ := models.GetApp(context.Background(), db, a.ID)
		if a2.SecretEnc != a.SecretEnc || a2.AESKeyEnc != a.AESKeyEnc || a2.RateLimit != 77 {
			t.Fatalf("edit lost a secret or the rate: %+v", a2)
		}
		// Approval of campaigns is switched on and off on the form.
		if on, _ := models.AppRequiresApproval(context.Background(), db, a.ID); on || c.get("/settings/apps/"+id(a.ID)+"/edit").doc(t).Find(`[data-testid=require-approval][checked]`).Length() != 0 {
			t.Fatal("a new account asks for approval")
		}
		keep.Set("require_approval", "1")
		wantRedirect(t, c.post("/settings/apps/"+id(a.ID), keep), "/settings/apps/")
		if on, _ := models.AppRequiresApproval(context.Background(), db, a.ID); !on || c.get("/settings/apps/"+id(a.ID)+"/edit").doc(t).Find(`[data-testid=require-approval][checked]`).Length() != 1 {
			t.Fatal("approval not switched on by the form")
		}
		// The audit log names the changed fields in words.
		c.lang = "en"
		if tbl := c.get("/settings/audit?action=app.update").doc(t).Find(`[data-testid=audit-table]`).Text(); !strings.Contains(tbl, "campaigns need approval") ||
			!strings.Contains(tbl, "rate limit") || strings.Contains(tbl, "rate_limit") || !strings.Contains(tbl, "→ 77") || !strings.Contains(tbl, "was → now") || strings.Contains(tbl, "false → true") {
			t.Fatalf("audit of the edits:\n%s", tbl)
		}
		keep.Del("require_approval")
		wantRedirect(t, c.post("/settings/apps/"+id(a.ID), keep), "/settings/apps/")
		if on, _ := models.AppRequiresApproval(context.Background(), db, a.ID); on {
			t.Fatal("approval not switched off by the form")
		}
		rows, _ := models.ListAudit(context.Background(), db, models.AuditFilter{Action: "app."})
		if len(rows) < 3 {
			t.Fatalf("audit rows for apps: %d", len(rows))
		}
		for _, row := range rows {
			if strings.Contains(row.Detail, testSecret) {
				t.Fatal("audit detail holds a secret")
			}
		}
	})
}

func TestAppValidationBothLanguages(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		for lang, msgs := range map[string][]string{
			"en": {"An AppID is wx followed by 16", "must be exactly 43", "Enter an address starting with http", "Fill in both start and end"},
			"zh": {"AppID 应为 wx 加 16 位", "必须正好 43 位", "请输入以 http:// 或 https:// 开头", "请同时填写开始和结束时间"},
		} {
			staffLang := lang
			if err := models.UpdateStaffFields(context.Background(), db, boss.ID, map[string]any{"lang": staffLang}); err != nil {
				t.Fatal(err)
			}
			c := app.signedIn(boss)
			f := appForm("ftp://nope")
			f.Set("app_id", "not-an-appid")
			f.Set("aes_key", "tooShort")
			f.Set("quiet_end", "")
			f.Set("timezone", "Local") // the server's own zone: not a name staff can check
			r := c.post("/settings/apps", f)
			want(t, r, http.StatusUnprocessableEntity)
			d := r.doc(t)
			if d.Find(`[data-testid=error-timezone]`).Length() != 1 {
				t.Errorf("%s: timezone Local accepted", lang)
			}
			for field, msg := range map[string]string{"app_id": msgs[0], "aes_key": msgs[1], "api_base_url": msgs[2], "quiet_end": msgs[3]} {
				if got := d.Find(`[data-testid=error-` + field + `]`).Text(); !strings.Contains(got, msg) {
					t.Errorf("%s: %s error %q, want %q", lang, field, got, msg)
				}
			}
			if v, _ := d.Find(`input[name=name]`).Attr("value"); v != "商城" {
				t.Errorf("%s: typed name lost: %q", lang, v)
			}
		}
		var n int64
		db.Model(&models.App{}).Count(&n)
		if n != 0 {
			t.Fatalf("invalid forms created %d apps", n)
		}
	})
}

func TestAppTestConnectionExplainsErrors(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		_, base := wxSandbox(t)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		c := app.signedIn(boss)
		f := appForm(base)
		f.Set("secret", "WrongWrongWrongWrongWrongWrong00")
		wantRedirect(t, c.post("/settings/apps", f), "/settings/apps/")
		a, _ := models.GetAppByAppID(context.Background(), db, testAppID)
		r := c.do(http.MethodPost, "/settings/apps/"+id(a.ID)+"/test", url.Values{}, map[string]string{"HX-Request": "true", "X-CSRF-Token": c.csrf()})
		want(t, r, http.StatusOK)
		text := r.doc(t).Find(`[data-testid=flash]`).Text()
		if !strings.Contains(text, "WeChat 40") && !strings.Contains(text, "微信返回 40") {
			t.Fatalf("wrong secret not explained with its errcode: %q", text)
		}
	})
}

func TestTemplateSyncInsertsUpdatesAndMarksDeleted(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app := newTestApp(t, db)
		sb, base := wxSandbox(t)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		c := app.signedIn(boss)
		a := createApp(t, c, db, base)
		keep, err := sb.AddTemplate(testAppID, wechat.Template{PriTmplID: "TPL_KEEP", Title: "订单发货通知", Content: "订单号:{{character_string1.DATA}}\n商品:{{thing2.DATA}}"})
		if err != nil {
			t.Fatal(err)
		}
		change, _ := sb.AddTemplate(testAppID, wechat.Template{PriTmplID: "TPL_CHANGE", Title: "支付成功", Content: "金额:{{amount1.DATA}}"})
		gone, _ := sb.AddTemplate(testAppID, wechat.Template{PriTmplID: "TPL_GONE", Title: "课程提醒", Content: "课程:{{thing1.DATA}}\n时间:{{time2.DATA}}", Type: wechat.TemplateLongTerm})

		wantRedirect(t, c.post("/templates/sync", url.Values{"app": {id(a.ID)}}), "/templates?app=")
		list, _ := models.ListTemplates(ctx, db, models.TemplateFilter{AppID: a.ID})
		if len(list) != 3 {
			t.Fatalf("after the first sync: %d templates", len(list))
		}
		byID := map[string]models.Template{}
		for _, tp := range list {
			byID[tp.TemplateID] = tp
		}
		if byID[gone].Kind != models.TemplateLongTerm || byID[keep].Kind != models.TemplateOneTime {
			t.Fatalf("kinds: %s %s", byID[gone].Kind, byID[keep].Kind)
		}
		kws, _ := (&models.Template{Keywords: byID[keep].Keywords}).KeywordList()
		if len(kws) != 2 || kws[0].Key != "character_string1" || kws[1].Label != "商品" {
			t.Fatalf("keywords: %+v", kws)
		}
		// A scheduled campaign on the template that will change gets flagged.
		now := time.Now().UTC()
		if err := db.Exec("INSERT INTO campaigns (app_id,template_id,name,status,data,audience,created_at,updated_at) VALUES (?,?,?,?,?,?,?,?)",
			a.ID, byID[change].ID, "双十一", "scheduled", "{}", "{}", now, now).Error; err != nil {
			t.Fatal(err)
		}

		// Upstream: one changed, one deleted, one new.
		if _, err := sb.AddTemplate(testAppID, wechat.Template{PriTmplID: change, Title: "支付成功", Content: "金额:{{amount1.DATA}}\n时间:{{time2.DATA}}"}); err != nil {
			t.Fatal(err)
		}
		wx := wechat.NewClient(wechat.Config{AppID: testAppID, Secret: testSecret, BaseURL: base})
		if err := wx.DelTemplate(ctx, gone); err != nil {
			t.Fatal(err)
		}
		if _, err := sb.AddTemplate(testAppID, wechat.Template{PriTmplID: "TPL_NEW", Title: "退款通知", Content: "原因:{{thing1.DATA}}"}); err != nil {
			t.Fatal(err)
		}
		wantRedirect(t, c.post("/templates/sync", url.Values{"app": {id(a.ID)}}), "/templates?app=")
		runs, _ := models.ListTemplateSyncs(ctx, db, a.ID, 10)
		if len(runs) != 2 {
			t.Fatalf("%d sync runs recorded", len(runs))
		}
		last := runs[0]
		if last.Inserted != 1 || last.Updated != 1 || last.Deleted != 1 || last.Unchanged != 1 || last.Flagged != 1 || last.Error != "" {
			t.Fatalf("second sync: %+v", last)
		}
		g, _ := models.GetTemplateByWxID(ctx, db, a.ID, gone)
		if g.Status != models.TemplateDeleted {
			t.Fatalf("template gone upstream has status %s", g.Status)
		}
		ch, _ := models.GetTemplateByWxID(ctx, db, a.ID, change)
		if !strings.Contains(ch.Content, "time2") {
			t.Fatalf("changed template not updated: %q", ch.Content)
		}
		var held string
		db.Raw("SELECT held_reason FROM campaigns WHERE template_id = ?", ch.ID).Scan(&held)
		if held != models.HeldTemplateChanged {
			t.Fatalf("campaign held_reason %q", held)
		}
		// The list shows the deleted one as deleted, the template page the history.
		r := c.get("/templates?app=" + id(a.ID) + "&status=deleted")
		want(t, r, http.StatusOK)
		if n := r.doc(t).Find(`[data-testid=tpl-table] tbody tr`).Length(); n != 1 {
			t.Fatalf("deleted filter shows %d rows", n)
		}
		r = c.get("/templates/" + id(ch.ID))
		want(t, r, http.StatusOK)
		if n := r.doc(t).Find(`[data-testid=sync-table] tbody tr`).Length(); n != 2 {
			t.Fatalf("sync history shows %d rows", n)
		}
		if !strings.Contains(r.doc(t).Find(`[data-testid=kw-table]`).Text(), "amount") {
			t.Fatal("keyword table lacks the amount keyword")
		}
	})
}

func TestTemplateManualLibraryCheckAndDelete(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app := newTestApp(t, db)
		_, base := wxSandbox(t)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		c := app.signedIn(boss)
		a := createApp(t, c, db, base)

		// Manual entry: content that does not parse is refused on the field.
		r := c.post("/templates", url.Values{"app": {id(a.ID)}, "template_id": {"MANUAL1"}, "title": {"到货提醒"}, "kind": {"one_time"}, "content": {"到货时间:{{time1.DATA"}})
		want(t, r, http.StatusUnprocessableEntity)
		if r.doc(t).Find(`[data-testid=error-content]`).Length() != 1 {
			t.Fatalf("no content error:\n%.2000s", r.body)
		}
		wantRedirect(t, c.post("/templates", url.Values{"app": {id(a.ID)}, "template_id": {"MANUAL1"}, "title": {"到货提醒"}, "kind": {"one_time"},
			"content": {"到货时间:{{time1.DATA}}\n门店:{{thing2.DATA}}\n状态:{{phrase3.DATA}}"}}), "/templates/")
		m, err := models.GetTemplateByWxID(ctx, db, a.ID, "MANUAL1")
		if err != nil || m.Source != models.SourceManual {
			t.Fatalf("manual template: %+v %v", m, err)
		}
		// Entered again while it lives: refused; after a delete: it comes back.
		again := url.Values{"app": {id(a.ID)}, "template_id": {"MANUAL1"}, "title": {"到货通知"}, "kind": {"one_time"},
			"content": {"到货时间:{{time1.DATA}}\n门店:{{thing2.DATA}}\n状态:{{phrase3.DATA}}"}}
		want(t, c.post("/templates", again), http.StatusUnprocessableEntity)
		wantRedirect(t, c.post("/templates/"+id(m.ID)+"/delete", nil), "/templates?app=")
		wantRedirect(t, c.post("/templates", again), "/templates/"+id(m.ID))
		if back, _ := models.GetTemplate(ctx, db, m.ID); back.Status != models.TemplateActive || back.Title != "到货通知" {
			t.Fatalf("re-entered template: %+v", back)
		}

		// Live check: a bad value is named on its keyword.
		r = c.do(http.MethodPost, "/templates/"+id(m.ID)+"/check", url.Values{"kw.time1": {"明天"}, "kw.thing2": {"上海店"}, "kw.phrase3": {"配送中"}},
			map[string]string{"HX-Request": "true", "X-CSRF-Token": c.csrf()})
		want(t, r, http.StatusOK)
		d := r.doc(t)
		if d.Find(`[data-testid=preview-error-time1]`).Length() != 1 || d.Find(`[data-testid=preview-error-thing2]`).Length() != 0 {
			t.Fatalf("live check:\n%s", r.body)
		}
		if !strings.Contains(d.Find(`.wx-card`).Text(), "上海店") {
			t.Fatal("preview does not show the value")
		}

		// Library: categories, titles, keywords; too few keywords is refused; 2 works.
		r = c.get("/templates/library?app=" + id(a.ID))
		want(t, r, http.StatusOK)
		if r.doc(t).Find(`[data-testid=lib-categories] a`).Length() == 0 {
			t.Fatalf("no categories:\n%.2000s", r.body)
		}
		r = c.get("/templates/library?app=" + id(a.ID) + "&category=100&tid=1001")
		want(t, r, http.StatusOK)
		boxes := r.doc(t).Find(`[data-testid=lib-add-form] input[name=kid]`)
		if boxes.Length() < 2 {
			t.Fatalf("keywords of title 1001: %d", boxes.Length())
		}
		k1, _ := boxes.Eq(0).Attr("value")
		k2, _ := boxes.Eq(1).Attr("value")
		r = c.post("/templates/library", url.Values{"app": {id(a.ID)}, "tid": {"1001"}, "category": {"100"}, "kid": {k1}, "scene_desc": {"发货"}})
		want(t, r, http.StatusUnprocessableEntity)
		if r.doc(t).Find(`[data-testid=error-kid]`).Length() != 1 {
			t.Fatal("one keyword accepted")
		}
		r = c.post("/templates/library", url.Values{"app": {id(a.ID)}, "tid": {"1001"}, "category": {"100"}, "kid": {k1, k2}, "scene_desc": {"发货"}})
		wantRedirect(t, r, "/templates/")
		added, _ := models.ListTemplates(ctx, db, models.TemplateFilter{AppID: a.ID, Status: models.TemplateActive})
		if len(added) != 2 {
			t.Fatalf("after adding from the library: %d active templates", len(added))
		}
		var lib models.Template
		for _, tp := range added {
			if tp.Source != models.SourceManual {
				lib = tp
			}
		}
		if lib.Title != "订单发货通知" {
			t.Fatalf("library template: %+v", lib)
		}

		// Delete at WeChat, marked deleted here, audited.
		wantRedirect(t, c.post("/templates/"+id(lib.ID)+"/delete", nil), "/templates?app=")
		got, _ := models.GetTemplate(ctx, db, lib.ID)
		if got.Status != models.TemplateDeleted {
			t.Fatalf("status after delete: %s", got.Status)
		}
		wx := wechat.NewClient(wechat.Config{AppID: testAppID, Secret: testSecret, BaseURL: base})
		remote, _ := wx.GetTemplates(ctx)
		for _, rt := range remote {
			if rt.PriTmplID == lib.TemplateID {
				t.Fatal("template still at WeChat after delete")
			}
		}
		acts := map[string]bool{}
		rows, _ := models.ListAudit(ctx, db, models.AuditFilter{Action: "template.", Limit: 50})
		for _, row := range rows {
			acts[row.Action] = true
		}
		for _, act := range []string{"template.create", "template.add", "template.delete"} {
			if !acts[act] {
				t.Errorf("no %s audit row", act)
			}
		}
	})
}
