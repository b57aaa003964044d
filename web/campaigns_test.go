package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/text/encoding/simplifiedchinese"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

// campaignWorld is an account synced from the sandbox with one one-time
// template (thing1 + number2) and n users: user i allowed it (one credit in
// minipush and two at WeChat, so a duplicate would show) except when
// i%4 == 3 (allowed once, credit spent); users with even i have a nickname.
type campaignWorld struct {
	sb    *sandbox.Server
	app   *models.App
	tpl   *models.Template
	users []*models.User
}

func newCampaignWorld(t *testing.T, c *client, db *gorm.DB, n int) *campaignWorld {
	t.Helper()
	ctx := context.Background()
	sb, base := wxSandbox(t)
	a := createApp(t, c, db, base)
	// createApp's form sets quiet hours 22:00–08:00 (deferred); campaigns
	// here run on the wall clock, so without this every campaign test
	// waited for 08:00 China time when run in the evening (14:00–24:00
	// UTC). Quiet hours have their own tests with an injected clock.
	if err := db.Model(&models.App{}).Where("id = ?", a.ID).Updates(map[string]any{"quiet_start": "", "quiet_end": ""}).Error; err != nil {
		t.Fatal(err)
	}
	a.QuietStart, a.QuietEnd = "", ""
	wxID, err := sb.AddTemplate(testAppID, wechat.Template{PriTmplID: "TPL_SHIP", Title: "发货通知", Content: "商品:{{thing1.DATA}}\n数量:{{number2.DATA}}"})
	if err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, c.post("/templates/sync", url.Values{"app": {id(a.ID)}}), "/templates?app=")
	tpl, err := models.GetTemplateByWxID(ctx, db, a.ID, wxID)
	if err != nil {
		t.Fatal(err)
	}
	w := &campaignWorld{sb: sb, app: a, tpl: tpl}
	now := time.Now().UTC()
	for i := 0; i < n; i++ {
		attrs := "{}"
		if i%2 == 0 {
			attrs = fmt.Sprintf(`{"nickname":"顾客%d","city":"上海"}`, i)
		}
		tags := "[]"
		if i%3 == 0 {
			tags = `["vip"]`
		}
		u := &models.User{AppID: a.ID, OpenID: fmt.Sprintf("o_user_%03d", i), BusinessID: fmt.Sprintf("B%d", i), Attributes: attrs, Tags: tags, CreatedAt: now, UpdatedAt: now}
		if err := db.Create(u).Error; err != nil {
			t.Fatal(err)
		}
		if tags != "[]" { // what every user write keeps beside the JSON
			if err := db.Exec("INSERT INTO user_tags (app_id, tag, user_id) VALUES (?, 'vip', ?)", a.ID, u.ID).Error; err != nil {
				t.Fatal(err)
			}
		}
		credits := 1
		if i%4 == 3 {
			credits = 0
		}
		if err := db.Create(&models.Subscription{UserID: u.ID, TemplateID: tpl.ID, Credits: credits, Status: models.SubAccept, CreatedAt: now, UpdatedAt: now}).Error; err != nil {
			t.Fatal(err)
		}
		if err := sb.AddUser(testAppID, u.OpenID); err != nil {
			t.Fatal(err)
		}
		if credits > 0 {
			if err := sb.Grant(testAppID, u.OpenID, wxID, 2); err != nil {
				t.Fatal(err)
			}
		}
		w.users = append(w.users, u)
	}
	return w
}

func campaignForm(tplID int64) url.Values {
	return url.Values{"template": {id(tplID)}, "name": {"双十一发货提醒"}, "kw.thing1": {"{{nickname}}的包裹"}, "fb.thing1": {"您的包裹"},
		"kw.number2": {"1"}, "page": {"pages/order/index?id=1"}, "audience": {"subscribed"}, "schedule": {"now"},
		"timezone": {"Asia/Shanghai"}, "misfire": {"skip"}}
}

// setLang sets the signed-in staff member's UI language.
func setLang(t *testing.T, db *gorm.DB, c *client, lang string) {
	t.Helper()
	wantRedirect(t, c.post("/account/lang", url.Values{"lang": {lang}}), "/")
}

func lastCampaign(t *testing.T, db *gorm.DB) *models.Campaign {
	t.Helper()
	var c models.Campaign
	if err := db.Order("id DESC").First(&c).Error; err != nil {
		t.Fatal(err)
	}
	return &c
}

func auditCount(db *gorm.DB, action string) int64 {
	var n int64
	db.Model(&models.AuditEntry{}).Where("action = ?", action).Count(&n)
	return n
}

// Compose with a rule error (422 with the message under the field, in
// both languages), the live check with audience and reachable counts, send
// now through the engine: every reachable user gets exactly one message,
// the progress fragment reaches 100 %, the list shows the last result.
func TestCampaignComposeSendNowAndProgress(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db, withEngine(t))
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		w := newCampaignWorld(t, app.signedIn(boss), db, 12)
		op := app.signedIn(mustStaff(t, db, "op@example.com", models.RoleOperator))

		r := op.get("/campaigns/new")
		want(t, r, http.StatusOK)
		if r.doc(t).Find(`[data-testid=pick-template] option[value="`+id(w.tpl.ID)+`"]`).Length() != 1 {
			t.Fatalf("template not offered:\n%.2000s", r.body)
		}
		want(t, op.get("/campaigns/new?template="+id(w.tpl.ID)), http.StatusOK)

		// A number with letters breaks its rule; a bad cron too.
		bad := campaignForm(w.tpl.ID)
		bad.Set("kw.number2", "两件")
		bad.Set("name", "")
		r = op.post("/campaigns", bad)
		want(t, r, http.StatusUnprocessableEntity)
		doc := r.doc(t)
		if doc.Find("[data-testid=error-kw-number2]").Text() == "" || doc.Find("[data-testid=error-name]").Text() == "" {
			t.Fatalf("no field errors:\n%.3000s", r.body)
		}
		setLang(t, db, op, "zh")
		r = op.post("/campaigns", bad)
		want(t, r, http.StatusUnprocessableEntity)
		if got := r.doc(t).Find("[data-testid=error-kw-number2]").Text(); !strings.Contains(got, "数") {
			t.Fatalf("no Chinese rule message: %q", got)
		}
		setLang(t, db, op, "en")
		var n int64
		db.Model(&models.Campaign{}).Count(&n)
		if n != 0 {
			t.Fatalf("a refused form saved a campaign")
		}

		// Live check (htmx): preview, counts. 12 users, 3 without credit.
		form := campaignForm(w.tpl.ID)
		form.Set("_csrf", op.csrf())
		r = op.do(http.MethodPost, "/campaigns/check", form, map[string]string{"HX-Request": "true"})
		want(t, r, http.StatusOK)
		doc = r.doc(t)
		if s, rr := doc.Find("[data-testid=audience-size]").Text(), doc.Find("[data-testid=audience-reachable]").Text(); s != "12" || rr != "9" {
			t.Fatalf("audience %q reachable %q\n%.2000s", s, rr, r.body)
		}
		if !strings.Contains(doc.Find("[data-testid=cmp-preview]").Text(), "顾客0的包裹") || !strings.Contains(doc.Find("[data-testid=preview-for]").Text(), "o_user_000") {
			t.Fatalf("preview not personalised for a sample member:\n%s", r.body)
		}
		if !strings.Contains(doc.Find("[data-testid=audience-would-fail]").Text(), "0 of 12") {
			t.Fatalf("would-fail line: %q", doc.Find("[data-testid=audience-would-fail]").Text())
		}
		// Without the fallback, the 6 users lacking a nickname would fail.
		form.Del("fb.thing1")
		r = op.do(http.MethodPost, "/campaigns/check", form, map[string]string{"HX-Request": "true"})
		if !strings.Contains(r.doc(t).Find("[data-testid=audience-would-fail]").Text(), "6 of 12") {
			t.Fatalf("would-fail without fallback: %q", r.doc(t).Find("[data-testid=audience-would-fail]").Text())
		}

		wantRedirect(t, op.post("/campaigns", campaignForm(w.tpl.ID)), "/campaigns/")
		c := lastCampaign(t, db)
		if c.Status != models.CampaignDraft || c.CreatedBy == nil {
			t.Fatalf("saved campaign %+v", c)
		}
		r = op.get("/campaigns/" + id(c.ID))
		want(t, r, http.StatusOK)
		if r.doc(t).Find("[data-testid=send-now]").Length() != 1 {
			t.Fatalf("no send-now button:\n%.3000s", r.body)
		}
		r = op.get("/campaigns/" + id(c.ID) + "/audience")
		if r.doc(t).Find("[data-testid=audience-reachable]").Text() != "9" {
			t.Fatalf("audience fragment:\n%s", r.body)
		}

		wantRedirect(t, op.post("/campaigns/"+id(c.ID)+"/schedule", nil), "/campaigns/"+id(c.ID))
		// A second click does not start a second run.
		wantRedirect(t, op.post("/campaigns/"+id(c.ID)+"/schedule", nil), "/campaigns/"+id(c.ID))
		runs, _ := models.ListRuns(context.Background(), db, c.ID, 10)
		if len(runs) != 1 {
			t.Fatalf("runs after two clicks: %d", len(runs))
		}
		// No job runner in this test app: expand as the job would.
		if _, err := models.ExpandRun(context.Background(), db, runs[0].ID, 5); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		var pr response
		for {
			if _, err := models.FinishRuns(context.Background(), db, time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
			pr = op.get("/campaigns/" + id(c.ID) + "/progress")
			want(t, pr, http.StatusOK)
			if st, _ := pr.doc(t).Find("[data-testid=progress]").Attr("data-status"); st == models.RunCompleted {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the run did not complete:\n%s", pr.body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		pdoc := pr.doc(t)
		if pct := pdoc.Find("[data-testid=progress-percent]").Text(); pct != "100%" {
			t.Fatalf("progress %q", pct)
		}
		if got := pdoc.Find("[data-testid=count-skipped]").Text(); got != "3" {
			t.Fatalf("skipped %q", got)
		}
		if !strings.Contains(pdoc.Find("[data-testid=skips]").Text(), "no subscription left") {
			t.Fatalf("skip reason not explained: %q", pdoc.Find("[data-testid=skips]").Text())
		}
		if _, ok := pdoc.Find("[data-testid=progress]").Attr("hx-trigger"); ok {
			t.Fatal("a finished run still polls")
		}
		// A page polling since the run was sending reloads once it is done.
		if h := op.get("/campaigns/" + id(c.ID) + "/progress?run=" + id(runs[0].ID) + "&was=sending").header.Get("HX-Refresh"); h != "true" {
			t.Fatalf("no page refresh when the run finished: %q", h)
		}
		if h := op.get("/campaigns/" + id(c.ID) + "/progress?run=" + id(runs[0].ID) + "&was=completed").header.Get("HX-Refresh"); h != "" {
			t.Fatalf("refresh without a change: %q", h)
		}
		for i, u := range w.users {
			wantN := int64(1)
			if i%4 == 3 {
				wantN = 0
			}
			if got := w.sb.Count(testAppID, u.OpenID, w.tpl.TemplateID); got != wantN {
				t.Fatalf("%s received %d, want %d", u.OpenID, got, wantN)
			}
		}
		var d models.Delivery
		db.Where("run_id = ? AND user_id = ?", runs[0].ID, w.users[1].ID).First(&d)
		if !strings.Contains(d.Data, "您的包裹") {
			t.Fatalf("fallback not used: %s", d.Data)
		}
		var d0 models.Delivery
		db.Where("run_id = ? AND user_id = ?", runs[0].ID, w.users[0].ID).First(&d0)
		if !strings.Contains(d0.Data, "顾客0的包裹") {
			t.Fatalf("not personalised: %s", d0.Data)
		}
		r = op.get("/campaigns")
		want(t, r, http.StatusOK)
		row := r.doc(t).Find("[data-testid=campaign-" + id(c.ID) + "]")
		if !strings.Contains(row.Find("[data-testid=status-tag]").Text(), "Completed") || !strings.Contains(row.Find("[data-testid=last-result]").Text(), "9 of 12 sent") {
			t.Fatalf("list row: %q", row.Text())
		}
		if auditCount(db, "campaign.create") != 1 || auditCount(db, "campaign.schedule") != 1 {
			t.Fatal("create/schedule not audited")
		}
		// Edits are refused once it ran; clone makes a new draft.
		wantRedirect(t, op.get("/campaigns/"+id(c.ID)+"/edit"), "/campaigns/"+id(c.ID))
		wantRedirect(t, op.post("/campaigns/"+id(c.ID)+"/clone", nil), "/campaigns/")
		cl := lastCampaign(t, db)
		if cl.ID == c.ID || cl.Status != models.CampaignDraft || cl.Data != c.Data || auditCount(db, "campaign.clone") != 1 {
			t.Fatalf("clone %+v", cl)
		}
	})
}

// Pause, resume and cancel through the console: idempotent, audited once
// per change, counters equal to rows.
func TestCampaignPauseResumeCancelFromConsole(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		w := newCampaignWorld(t, app.signedIn(boss), db, 8)
		op := app.signedIn(mustStaff(t, db, "op@example.com", models.RoleOperator))
		wantRedirect(t, op.post("/campaigns", campaignForm(w.tpl.ID)), "/campaigns/")
		c := lastCampaign(t, db)
		base := "/campaigns/" + id(c.ID)
		wantRedirect(t, op.post(base+"/schedule", nil), base)
		run, err := models.ActiveRun(context.Background(), db, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := models.ExpandRun(context.Background(), db, run.ID, 100); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			wantRedirect(t, op.post(base+"/pause", nil), base)
		}
		run, _ = models.GetRun(context.Background(), db, run.ID)
		if run.Status != models.RunPaused || run.Paused != 8 || run.Queued != 0 || auditCount(db, "campaign.pause") != 1 {
			t.Fatalf("paused run %+v, audits %d", run, auditCount(db, "campaign.pause"))
		}
		r := op.get(base)
		if r.doc(t).Find("[data-testid=resume]").Length() != 1 || r.doc(t).Find("[data-testid=pause]").Length() != 0 {
			t.Fatalf("paused page buttons:\n%.3000s", r.body)
		}
		pr := op.get(base + "/progress")
		if pr.doc(t).Find("[data-testid=count-paused]").Text() != "8" {
			t.Fatalf("progress while paused:\n%s", pr.body)
		}
		for i := 0; i < 2; i++ {
			wantRedirect(t, op.post(base+"/resume", nil), base)
		}
		run, _ = models.GetRun(context.Background(), db, run.ID)
		if run.Status != models.RunSending || run.Queued != 8 || auditCount(db, "campaign.resume") != 1 {
			t.Fatalf("resumed run %+v", run)
		}
		for i := 0; i < 2; i++ {
			wantRedirect(t, op.post(base+"/cancel", nil), base)
		}
		run, _ = models.GetRun(context.Background(), db, run.ID)
		var skipped int64
		db.Model(&models.Delivery{}).Where("run_id = ? AND status = 'skipped' AND reason = 'canceled'", run.ID).Count(&skipped)
		if run.Status != models.RunCanceled || run.Skipped != 8 || skipped != 8 || auditCount(db, "campaign.cancel") != 1 {
			t.Fatalf("canceled run %+v (rows %d)", run, skipped)
		}
		pr = op.get(base + "/progress")
		if !strings.Contains(pr.doc(t).Find("[data-testid=skips]").Text(), "canceled") {
			t.Fatalf("cancel not explained:\n%s", pr.body)
		}
		// A canceled campaign cannot go back to draft, and is not told it did.
		wantRedirect(t, op.post(base+"/unschedule", nil), base)
		flash := op.get(base).doc(t).Find("[data-testid=flash]").Text()
		c2, _ := models.GetCampaign(context.Background(), db, c.ID)
		if c2.Status != models.CampaignCanceled || !strings.Contains(flash, "does not allow") || auditCount(db, "campaign.unschedule") != 0 {
			t.Fatalf("back to draft on a canceled campaign: status %s, flash %q, audits %d", c2.Status, flash, auditCount(db, "campaign.unschedule"))
		}
	})
}

// A recurring campaign in New York: the page says when it fires, in words
// and the next five firings in its zone; an approval account puts it
// before an admin who did not write it.
func TestCampaignCronScheduleAndApproval(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		bc := app.signedIn(boss)
		w := newCampaignWorld(t, bc, db, 2)
		if err := models.SetAppRequiresApproval(context.Background(), db, w.app.ID, true); err != nil {
			t.Fatal(err)
		}
		op := app.signedIn(mustStaff(t, db, "op@example.com", models.RoleOperator))
		f := campaignForm(w.tpl.ID)
		f.Set("schedule", "cron")
		f.Set("cron", "bad cron")
		f.Set("timezone", "America/New_York")
		r := op.post("/campaigns", f)
		want(t, r, http.StatusUnprocessableEntity)
		if r.doc(t).Find("[data-testid=error-cron]").Text() == "" {
			t.Fatalf("no cron error:\n%.3000s", r.body)
		}
		f.Set("cron", "@every 1s") // an interval, not a calendar: a run at every tick of the job
		r = op.post("/campaigns", f)
		want(t, r, http.StatusUnprocessableEntity)
		if r.doc(t).Find("[data-testid=error-cron]").Text() == "" {
			t.Fatalf("@every accepted:\n%.3000s", r.body)
		}
		f.Set("cron", "0 25 * * *") // five fields, one out of range: say which
		r = op.post("/campaigns", f)
		want(t, r, http.StatusUnprocessableEntity)
		if e := r.doc(t).Find("[data-testid=error-cron]").Text(); !strings.Contains(e, "hour field “25”") {
			t.Fatalf("cron error %q, want the hour field named", e)
		}
		// Well formed but never firing: refused with the reason, not saved
		// as a draft that Schedule would refuse later.
		for _, tc := range []struct{ cron, end, field, words string }{
			{"0 9 31 2 *", "", "cron", "never fires"},
			{"30 9 * * 1-5", "2020-01-01", "end_at", "end date comes before the first firing"},
		} {
			f.Set("cron", tc.cron)
			f.Set("end_at", tc.end)
			r = op.post("/campaigns", f)
			want(t, r, http.StatusUnprocessableEntity)
			if e := r.doc(t).Find("[data-testid=error-" + tc.field + "]").Text(); !strings.Contains(e, tc.words) {
				t.Fatalf("cron %q ending %q: %s error %q, want %q", tc.cron, tc.end, tc.field, e, tc.words)
			}
		}
		f.Set("schedule", "once")
		f.Set("end_at", "")
		past := time.Now().Add(-time.Hour)
		if ny, err := time.LoadLocation("America/New_York"); err == nil {
			past = past.In(ny)
		}
		f.Set("run_at", past.Format("2006-01-02T15:04"))
		r = op.post("/campaigns", f)
		want(t, r, http.StatusUnprocessableEntity)
		if e := r.doc(t).Find("[data-testid=error-run_at]").Text(); !strings.Contains(e, "time has passed") {
			t.Fatalf("a past once: run_at error %q", e)
		}
		f.Set("run_at", "2027-03-14T02:30") // New York skips 02:00–03:00 that day
		r = op.post("/campaigns", f)
		want(t, r, http.StatusUnprocessableEntity)
		if e := r.doc(t).Find("[data-testid=error-run_at]").Text(); !strings.Contains(e, "2027-03-14T02:30 does not exist in America/New_York") {
			t.Fatalf("a skipped wall-clock time: run_at error %q", e)
		}
		f.Set("timezone", "Local") // the server's zone, which nobody can see
		r = op.post("/campaigns", f)
		want(t, r, http.StatusUnprocessableEntity)
		if r.doc(t).Find("[data-testid=error-timezone]").Length() != 1 {
			t.Fatalf("timezone Local accepted:\n%.2000s", r.body)
		}
		f.Set("timezone", "America/New_York")
		f.Set("schedule", "cron")
		f.Set("cron", "30 9 * * 1-5")
		wantRedirect(t, op.post("/campaigns", f), "/campaigns/")
		c := lastCampaign(t, db)
		base := "/campaigns/" + id(c.ID)
		r = op.get(base)
		doc := r.doc(t)
		if s := doc.Find("[data-testid=schedule]").Text(); !strings.Contains(s, "every Monday to Friday at 09:30") || !strings.Contains(s, "America/New_York") {
			t.Fatalf("schedule described as %q", s)
		}
		firings := doc.Find("[data-testid=firings] li")
		if firings.Length() != 5 || !strings.Contains(firings.First().Text(), "09:30") || !strings.Contains(firings.First().Text(), "America/New_York") {
			t.Fatalf("firings: %q", firings.Text())
		}
		// The account asks for approval: the button says what it does.
		if b := doc.Find("[data-testid=submit-approval]"); b.Length() != 1 || b.Text() != "Submit for approval" ||
			doc.Find("[data-testid=schedule], [data-testid=send-now]").Filter("button").Length() != 0 {
			t.Fatalf("draft actions on an account that asks for approval:\n%s", doc.Find("[data-testid=campaign-actions]").Text())
		}
		setLang(t, db, op, "zh")
		if s := op.get(base).doc(t).Find("[data-testid=schedule]").Text(); !strings.Contains(s, "每周一至周五 09:30") {
			t.Fatalf("zh schedule %q", s)
		}
		if s := op.get(base).doc(t).Find("[data-testid=firings] li").First().Text(); !strings.Contains(s, "周") || strings.ContainsAny(s, "MTWF") {
			t.Fatalf("zh firing %q: the weekday should be in Chinese", s)
		}
		setLang(t, db, op, "en")

		wantRedirect(t, op.post(base+"/schedule", nil), base)
		c, _ = models.GetCampaign(context.Background(), db, c.ID)
		if c.Status != models.CampaignPending || c.NextRunAt != nil {
			t.Fatalf("with approval: %s %v", c.Status, c.NextRunAt)
		}
		want(t, op.post(base+"/approve", nil), http.StatusForbidden)
		// An admin who wrote the campaign cannot approve it either.
		wantRedirect(t, bc.post("/campaigns", f), "/campaigns/")
		own := lastCampaign(t, db)
		wantRedirect(t, bc.post("/campaigns/"+id(own.ID)+"/schedule", nil), "/campaigns/")
		wantRedirect(t, bc.post("/campaigns/"+id(own.ID)+"/approve", nil), "/campaigns/")
		if own, _ = models.GetCampaign(context.Background(), db, own.ID); own.Status != models.CampaignPending {
			t.Fatalf("self-approved: %s", own.Status)
		}
		wantRedirect(t, bc.post(base+"/approve", nil), base)
		c, _ = models.GetCampaign(context.Background(), db, c.ID)
		if c.Status != models.CampaignScheduled || c.NextRunAt == nil || c.ApprovedBy == nil || *c.ApprovedBy != boss.ID {
			t.Fatalf("approved: %+v", c)
		}
		ny, _ := time.LoadLocation("America/New_York")
		if lt := c.NextRunAt.In(ny); lt.Hour() != 9 || lt.Minute() != 30 || lt.Weekday() == time.Saturday || lt.Weekday() == time.Sunday {
			t.Fatalf("next firing %v in New York", lt)
		}
		// Shown on the campaign's clock with its zone named, on the page and
		// in the list (the console's zone is Shanghai's).
		wantNext := c.NextRunAt.In(ny).Format("2006-01-02 15:04") + " America/New_York"
		if got := op.get(base).doc(t).Find("[data-testid=next-run]").Text(); got != wantNext {
			t.Fatalf("next run shown as %q, want %q", got, wantNext)
		}
		if !strings.Contains(op.get("/campaigns").body, wantNext) {
			t.Fatalf("the campaign list does not show the next run as %q", wantNext)
		}
		if auditCount(db, "campaign.approve") != 1 {
			t.Fatal("approval not audited")
		}
		// A template change upstream holds it, visibly, until it is saved again.
		if _, err := models.FlagCampaignsForTemplate(context.Background(), db, w.tpl.ID, models.HeldTemplateChanged); err != nil {
			t.Fatal(err)
		}
		r = op.get(base)
		if r.doc(t).Find("[data-testid=held-reason]").Length() != 1 {
			t.Fatalf("hold not shown:\n%.3000s", r.body)
		}
		if !strings.Contains(op.get("/campaigns?status=held").body, c.Name) {
			t.Fatal("held filter misses it")
		}
		// Editing a scheduled campaign says, before and after, that saving
		// takes it off its schedule.
		if op.get(base+"/edit").doc(t).Find("[data-testid=edit-unschedules]").Length() != 1 {
			t.Fatal("the edit form of a scheduled campaign does not say saving unschedules it")
		}
		wantRedirect(t, op.post(base, f), base)
		if flash := op.get(base).doc(t).Find("[data-testid=flash]").Text(); !strings.Contains(flash, "back to draft") {
			t.Fatalf("after saving a scheduled campaign: flash %q", flash)
		}
		if op.get(base+"/edit").doc(t).Find("[data-testid=edit-unschedules]").Length() != 0 {
			t.Fatal("a draft's edit form says saving unschedules it")
		}
		c, _ = models.GetCampaign(context.Background(), db, c.ID)
		if c.HeldReason != "" || c.Status != models.CampaignDraft {
			t.Fatalf("after saving: held %q status %s", c.HeldReason, c.Status)
		}
		// Canceled, it lists no more firings.
		wantRedirect(t, op.post(base+"/cancel", nil), base)
		if n := op.get(base).doc(t).Find("[data-testid=firings] li").Length(); n != 0 {
			t.Fatalf("a canceled campaign lists %d firings", n)
		}
	})
}

// An uploaded list of business ids (streamed CSV) becomes the audience.
func TestCampaignUploadedList(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		w := newCampaignWorld(t, app.signedIn(boss), db, 6)
		op := app.signedIn(mustStaff(t, db, "op@example.com", models.RoleOperator))
		f := campaignForm(w.tpl.ID)
		f.Set("audience", "list")
		wantRedirect(t, op.post("/campaigns", f), "/campaigns/")
		c := lastCampaign(t, db)
		base := "/campaigns/" + id(c.ID)
		// Scheduled before a list is uploaded: refused, still a draft (it
		// would finish at once having sent to nobody).
		wantRedirect(t, op.post(base+"/schedule", nil), base)
		if flash := op.get(base).doc(t).Find("[data-testid=flash]").Text(); !strings.Contains(flash, "upload a list with this account's users") {
			t.Fatalf("schedule without a list: flash %q", flash)
		}
		if c2, _ := models.GetCampaign(context.Background(), db, c.ID); c2.Status != models.CampaignDraft || auditCount(db, "campaign.schedule") != 0 {
			t.Fatalf("schedule without a list: status %s, audits %d", c2.Status, auditCount(db, "campaign.schedule"))
		}

		if st := uploadList(t, op, base, "business_id", "business_id\nB0\nB3\nB5\nNOBODY\n"); st != http.StatusSeeOther {
			t.Fatalf("upload: %d", st)
		}
		if flash := op.get(base).doc(t).Find("[data-testid=flash]").Text(); !strings.Contains(flash, "Column read: “business_id”") ||
			!strings.Contains(flash, "matched no user (at most 10 listed): NOBODY") {
			t.Fatalf("upload flash %q", flash)
		}
		r := op.get(base + "/audience")
		// B0, B3, B5 known; B3 has no credit.
		if r.doc(t).Find("[data-testid=audience-size]").Text() != "3" || r.doc(t).Find("[data-testid=audience-reachable]").Text() != "2" {
			t.Fatalf("list audience:\n%s", r.body)
		}
		if !strings.Contains(op.get(base).doc(t).Find("[data-testid=list-info]").Text(), "4 lines; 1") {
			t.Fatalf("list info: %q", op.get(base).doc(t).Find("[data-testid=list-info]").Text())
		}
		if auditCount(db, "campaign.upload_list") != 1 {
			t.Fatal("upload not audited")
		}
		// Excel's files: GBK with a Chinese header naming the business id
		// column (not the first, and not what the form chose), and UTF-16
		// with its BOM.
		gbk, err := simplifiedchinese.GBK.NewEncoder().String("昵称,业务用户ID\r\n张三,B0\r\n李四,B5\r\n")
		if err != nil {
			t.Fatal(err)
		}
		utf16 := []byte{0xFF, 0xFE}
		for _, r := range "openid\r\no_user_001\r\n" {
			utf16 = append(utf16, byte(r), 0)
		}
		for _, tc := range []struct{ name, by, file, column string }{{"GBK", "openid", gbk, "业务用户ID"}, {"UTF-16", "business_id", string(utf16), "openid"}} {
			if st := uploadList(t, op, base, tc.by, tc.file); st != http.StatusSeeOther {
				t.Fatalf("%s upload: %d", tc.name, st)
			}
			flash := op.get(base).doc(t).Find("[data-testid=flash]").Text()
			want := map[string]string{"GBK": "List imported: 2 people; 0 lines", "UTF-16": "List imported: 1 people; 0 lines"}[tc.name]
			if !strings.Contains(flash, want) || !strings.Contains(flash, "Column read: “"+tc.column+"”") {
				t.Fatalf("%s list: flash %q, want %q", tc.name, flash, want)
			}
		}
		// A GBK list whose first 64 KiB are ASCII is still GBK.
		db.Model(&models.User{}).Where("id = ?", w.users[4].ID).Update("business_id", "会员-张三")
		var late strings.Builder
		late.WriteString("business_id\n")
		for i := range 8000 {
			fmt.Fprintf(&late, "PAD%05d\n", i)
		}
		zs, _ := simplifiedchinese.GBK.NewEncoder().String("会员-张三\n")
		late.WriteString(zs)
		if st := uploadList(t, op, base, "business_id", late.String()); st != http.StatusSeeOther {
			t.Fatalf("late GBK upload: %d", st)
		}
		if flash := op.get(base).doc(t).Find("[data-testid=flash]").Text(); !strings.Contains(flash, "List imported: 1 people; 8,000 lines") {
			t.Fatalf("late GBK list: flash %q", flash)
		}
		if st := uploadList(t, op, base, "business_id", "business_id\nB0\nB3\nB5\nNOBODY\n"); st != http.StatusSeeOther {
			t.Fatalf("upload again: %d", st)
		}
		// Lists may be larger than the 2 MB other requests are held to.
		var big strings.Builder
		for i := 0; big.Len() < 2500000; i++ {
			fmt.Fprintf(&big, "o_nobody_%07d\n", i)
		}
		big.WriteString("o_user_002\n")
		if st := uploadList(t, op, base, "openid", big.String()); st != http.StatusSeeOther {
			t.Fatalf("2.5 MB upload: %d", st)
		}
		if got := op.get(base + "/audience").doc(t).Find("[data-testid=audience-size]").Text(); got != "1" {
			t.Fatalf("big list audience %q", got)
		}
		want(t, op.post(base, url.Values{"name": {big.String()}}), http.StatusRequestEntityTooLarge)

		// Awaiting approval, its list replaced by one matching nobody: back
		// to draft (it would fire to nobody), and said so.
		if err := models.SetAppRequiresApproval(context.Background(), db, w.app.ID, true); err != nil {
			t.Fatal(err)
		}
		wantRedirect(t, op.post(base+"/schedule", nil), base)
		if c2, _ := models.GetCampaign(context.Background(), db, c.ID); c2.Status != models.CampaignPending {
			t.Fatalf("scheduled with approval: %s", c2.Status)
		}
		if st := uploadList(t, op, base, "business_id", "business_id\nNOBODY\n"); st != http.StatusSeeOther {
			t.Fatalf("upload: %d", st)
		}
		flash := op.get(base).doc(t).Find("[data-testid=flash]").Text()
		if c2, _ := models.GetCampaign(context.Background(), db, c.ID); c2.Status != models.CampaignDraft || !strings.Contains(flash, "back in draft") {
			t.Fatalf("a pending campaign given an empty list: %s, flash %q", c2.Status, flash)
		}
	})
}

// uploadList posts a CSV to the campaign's list upload and returns the status.
func uploadList(t *testing.T, c *client, base, by, content string) int {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("_csrf", c.csrf())
	_ = mw.WriteField("by", by)
	fw, _ := mw.CreateFormFile("list", "list.csv")
	_, _ = io.WriteString(fw, content)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.app.srv.URL+base+"/recipients", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// Test send to listed openids, personalised for each, through the engine.
// A template's test send to something that is not an openid is refused
// before anything is queued or any user made.
func TestTemplateTestSendRefusesBadOpenID(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db, withEngine(t))
		boss := app.signedIn(mustStaff(t, db, "boss@example.com", models.RoleAdmin))
		w := newCampaignWorld(t, boss, db, 1)
		form := url.Values{"openid": {"bad id!"}, "kw.thing1": {"耳机"}, "kw.number2": {"2"}, "_csrf": {boss.csrf()}}
		r := boss.do(http.MethodPost, "/templates/"+id(w.tpl.ID)+"/test-send", form, map[string]string{"HX-Request": "true"})
		want(t, r, http.StatusUnprocessableEntity)
		var users, deliveries int64
		db.Model(&models.User{}).Where("openid = ?", "bad id!").Count(&users)
		db.Model(&models.Delivery{}).Count(&deliveries)
		if !strings.Contains(r.body, "An openid is 1 to 64 letters") || users != 0 || deliveries != 0 {
			t.Fatalf("test send to %q: %d users, %d deliveries, answer:\n%s", "bad id!", users, deliveries, r.body)
		}
		// A well-formed openid nobody has: said so (it could hold no credit),
		// nothing queued, no user made.
		form.Set("openid", "o_typo")
		r = boss.do(http.MethodPost, "/templates/"+id(w.tpl.ID)+"/test-send", form, map[string]string{"HX-Request": "true"})
		want(t, r, http.StatusUnprocessableEntity)
		db.Model(&models.User{}).Where("openid = ?", "o_typo").Count(&users)
		db.Model(&models.Delivery{}).Count(&deliveries)
		if !strings.Contains(r.body, "No user has the openid “o_typo”") || users != 0 || deliveries != 0 {
			t.Fatalf("test send to an unknown openid: %d users, %d deliveries, answer:\n%s", users, deliveries, r.body)
		}
	})
}

func TestCampaignTestSend(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db, withEngine(t))
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		w := newCampaignWorld(t, app.signedIn(boss), db, 3)
		op := app.signedIn(mustStaff(t, db, "op@example.com", models.RoleOperator))
		wantRedirect(t, op.post("/campaigns", campaignForm(w.tpl.ID)), "/campaigns/")
		c := lastCampaign(t, db)
		hx := map[string]string{"HX-Request": "true"}
		form := url.Values{"openids": {""}, "_csrf": {op.csrf()}}
		r := op.do(http.MethodPost, "/campaigns/"+id(c.ID)+"/test-send", form, hx)
		want(t, r, http.StatusUnprocessableEntity)
		form.Set("openids", "o_user_000, <b>x</b>") // not an openid: nothing queued, no user made
		r = op.do(http.MethodPost, "/campaigns/"+id(c.ID)+"/test-send", form, hx)
		want(t, r, http.StatusUnprocessableEntity)
		var made int64
		db.Model(&models.User{}).Where("openid = ?", "<b>x</b>").Count(&made)
		if !strings.Contains(r.body, "is not an openid") || made != 0 {
			t.Fatalf("a test send to %q: %d users made, answer:\n%s", "<b>x</b>", made, r.body)
		}
		form.Set("openids", "o_user_000, o_typo") // one unknown: nothing queued for either
		r = op.do(http.MethodPost, "/campaigns/"+id(c.ID)+"/test-send", form, hx)
		want(t, r, http.StatusUnprocessableEntity)
		var queued int64
		db.Model(&models.User{}).Where("openid = ?", "o_typo").Count(&made)
		db.Model(&models.Delivery{}).Count(&queued)
		if !strings.Contains(r.body, "o_typo") || made != 0 || queued != 0 {
			t.Fatalf("a test send naming an unknown openid: %d users made, %d queued, answer:\n%s", made, queued, r.body)
		}
		form.Set("openids", "o_user_000, o_user_001")
		r = op.do(http.MethodPost, "/campaigns/"+id(c.ID)+"/test-send", form, hx)
		want(t, r, http.StatusOK)
		polls := r.doc(t).Find("[data-testid=tpl-send-waiting]")
		if polls.Length() != 2 {
			t.Fatalf("results:\n%s", r.body)
		}
		polls.Each(func(_ int, s *goquery.Selection) {
			u, _ := s.Attr("hx-get")
			deadline := time.Now().Add(30 * time.Second)
			for {
				pr := op.get(u)
				if !strings.Contains(pr.body, "tpl-send-waiting") {
					if !strings.Contains(pr.body, "flash-success") {
						t.Fatalf("test send outcome:\n%s", pr.body)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("test send never answered")
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
		for _, o := range []string{"o_user_000", "o_user_001"} {
			if n := w.sb.Count(testAppID, o, w.tpl.TemplateID); n != 1 {
				t.Fatalf("%s received %d", o, n)
			}
		}
		var data []string
		db.Model(&models.Delivery{}).Where("run_id IS NULL").Order("id").Pluck("data", &data)
		if len(data) != 2 || !strings.Contains(data[0], "顾客0的包裹") || !strings.Contains(data[1], "您的包裹") {
			t.Fatalf("test send data %v", data)
		}
		if auditCount(db, "campaign.test_send") != 2 {
			t.Fatal("test sends not audited")
		}
	})
}

// Resend to failed: the finished run offers it for its transient failures
// and its users who had no credit left then and have one now, not for a
// user who blocks the account; it starts a run with exactly those users.
func TestCampaignResendToFailedFromConsole(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		w := newCampaignWorld(t, app.signedIn(boss), db, 6)
		op := app.signedIn(mustStaff(t, db, "op@example.com", models.RoleOperator))
		wantRedirect(t, op.post("/campaigns", campaignForm(w.tpl.ID)), "/campaigns/")
		c := lastCampaign(t, db)
		base := "/campaigns/" + id(c.ID)
		wantRedirect(t, op.post(base+"/schedule", nil), base)
		run, _ := models.ActiveRun(ctx, db, c.ID)
		if _, err := models.ExpandRun(ctx, db, run.ID, 100); err != nil {
			t.Fatal(err)
		}
		// As the engine would leave it: all delivered but user 1 (attempts ran out).
		db.Exec("UPDATE deliveries SET status = 'delivered' WHERE run_id = ?", run.ID)
		db.Exec("UPDATE deliveries SET status = 'failed', reason = 'max_attempts' WHERE run_id = ? AND user_id = ?", run.ID, w.users[1].ID)
		// User 2 had no credit left (43101) and has tapped allow since (a
		// credit now): repeated. User 3 blocks the account's messages (the
		// sent event's "fail:user block"): not repeated.
		db.Exec("UPDATE deliveries SET status = 'failed', reason = 'wechat', errcode = 43101 WHERE run_id = ? AND user_id = ?", run.ID, w.users[2].ID)
		db.Exec("UPDATE deliveries SET status = 'failed', reason = 'sent_event', errcode = 10005, errmsg = 'fail:user block' WHERE run_id = ? AND user_id = ?", run.ID, w.users[3].ID)
		db.Exec("UPDATE campaign_runs SET queued = 0, delivered = 3, failed = 3 WHERE id = ?", run.ID)
		if _, err := models.FinishRuns(ctx, db, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		// The runs' firing times are on the console's clock, named.
		if z := op.get(base).doc(t).Find("[data-testid=runs-zone]").Text(); !strings.Contains(z, "UTC") {
			t.Fatalf("runs table zone %q", z)
		}
		r := op.get(base + "/progress")
		btn := r.doc(t).Find("[data-testid=resend]")
		if btn.Length() != 1 || !strings.Contains(btn.Text(), "(2)") {
			t.Fatalf("no resend offer:\n%s", r.body)
		}
		wantRedirect(t, op.post(base+"/runs/"+id(run.ID)+"/resend", nil), base)
		rr, err := models.ActiveRun(ctx, db, c.ID)
		if err != nil || rr.ResendOf == nil || *rr.ResendOf != run.ID {
			t.Fatalf("resend run %+v %v", rr, err)
		}
		if _, err := models.ExpandRun(ctx, db, rr.ID, 100); err != nil {
			t.Fatal(err)
		}
		var users []int64
		db.Model(&models.Delivery{}).Where("run_id = ?", rr.ID).Order("user_id").Pluck("user_id", &users)
		if len(users) != 2 || users[0] != w.users[1].ID || users[1] != w.users[2].ID || auditCount(db, "campaign.resend") != 1 {
			t.Fatalf("resend recipients %v", users)
		}
		// Not twice while it runs.
		wantRedirect(t, op.post(base+"/runs/"+id(run.ID)+"/resend", nil), base)
		if runs, _ := models.ListRuns(ctx, db, c.ID, 10); len(runs) != 2 {
			t.Fatalf("%d runs", len(runs))
		}
	})
}

// An attribute condition comparing with a word: refused with the value
// named, not saved to match nobody.
func TestCampaignConditionNeedsANumber(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		boss := app.signedIn(mustStaff(t, db, "boss@example.com", models.RoleAdmin))
		w := newCampaignWorld(t, boss, db, 2)
		op := app.signedIn(mustStaff(t, db, "op@example.com", models.RoleOperator))
		f := campaignForm(w.tpl.ID)
		f.Set("audience", "attrs")
		f.Set("cond_attr0", "level")
		f.Set("cond_op0", "gt")
		f.Set("cond_value0", "abc")
		r := op.post("/campaigns", f)
		want(t, r, http.StatusUnprocessableEntity)
		if e := r.doc(t).Find("[data-testid=error-cond0]").Text(); !strings.Contains(e, "“abc” is not a number") {
			t.Fatalf("condition error %q", e)
		}
		f.Set("cond_value0", "NaN")
		want(t, op.post("/campaigns", f), http.StatusUnprocessableEntity)
		f.Set("cond_value0", "2.5")
		wantRedirect(t, op.post("/campaigns", f), "/campaigns/")
		// The template page's delete card lists it with its status in words.
		boss.lang = "en"
		if li := boss.get("/templates/" + id(w.tpl.ID)).doc(t).Find("[data-testid=tpl-campaigns] li").Text(); !strings.Contains(li, "(Draft)") {
			t.Fatalf("campaigns using the template: %q", li)
		}
	})
}

// A deleted template: no campaign is saved on it, and one written before
// it was deleted is not scheduled (it stays a draft, nothing fires).
func TestCampaignOnADeletedTemplate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		w := newCampaignWorld(t, app.signedIn(mustStaff(t, db, "boss@example.com", models.RoleAdmin)), db, 2)
		op := app.signedIn(mustStaff(t, db, "op@example.com", models.RoleOperator))
		f := campaignForm(w.tpl.ID)
		// One submitted for approval before the template went: not approved.
		if err := models.SetAppRequiresApproval(context.Background(), db, w.app.ID, true); err != nil {
			t.Fatal(err)
		}
		wantRedirect(t, op.post("/campaigns", f), "/campaigns/")
		pending := lastCampaign(t, db)
		wantRedirect(t, op.post("/campaigns/"+id(pending.ID)+"/schedule", nil), "/campaigns/"+id(pending.ID))
		if err := models.SetAppRequiresApproval(context.Background(), db, w.app.ID, false); err != nil {
			t.Fatal(err)
		}
		wantRedirect(t, op.post("/campaigns", f), "/campaigns/")
		c := lastCampaign(t, db)
		if err := db.Model(&models.Template{}).Where("id = ?", w.tpl.ID).Update("status", models.TemplateDeleted).Error; err != nil {
			t.Fatal(err)
		}
		r := op.post("/campaigns", f)
		want(t, r, http.StatusUnprocessableEntity)
		if r.doc(t).Find("[data-testid=error-template]").Length() != 1 || lastCampaign(t, db).ID != c.ID {
			t.Fatalf("a campaign saved on a deleted template:\n%.2000s", r.body)
		}
		base := "/campaigns/" + id(c.ID)
		wantRedirect(t, op.post(base+"/schedule", nil), base)
		c2, _ := models.GetCampaign(context.Background(), db, c.ID)
		var runs int64
		db.Model(&models.CampaignRun{}).Where("campaign_id = ?", c.ID).Count(&runs)
		if c2.Status != models.CampaignDraft || c2.NextRunAt != nil || runs != 0 || auditCount(db, "campaign.schedule") != 1 {
			t.Fatalf("scheduling on a deleted template: status %s next %v runs %d", c2.Status, c2.NextRunAt, runs)
		}
		boss := app.signedIn(mustStaff(t, db, "boss2@example.com", models.RoleAdmin))
		boss.post("/campaigns/"+id(pending.ID)+"/approve", nil)
		if p2, _ := models.GetCampaign(context.Background(), db, pending.ID); p2.Status != models.CampaignPending || p2.NextRunAt != nil || auditCount(db, "campaign.approve") != 0 {
			t.Fatalf("approved on a deleted template: %s next %v", p2.Status, p2.NextRunAt)
		}
	})
}
