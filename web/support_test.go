package web_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/wechat"
)

// supportFixture is an account with one synced one-time template ("到货",
// keyword thing1 门店) and a helper to make deliveries in any state.
type supportFixture struct {
	app  *testApp
	db   *gorm.DB
	a    *models.App
	tpl  *models.Template
	boss *models.Staff
}

func newSupportFixture(t *testing.T, db *gorm.DB) *supportFixture {
	t.Helper()
	app := newTestApp(t, db)
	_, a, wxTpl := pushApp(t, app, db, false, "json")
	tpl, err := models.GetTemplateByWxID(context.Background(), db, a.ID, wxTpl)
	if err != nil {
		t.Fatal(err)
	}
	boss, err := models.GetStaffByEmail(context.Background(), db, "boss@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return &supportFixture{app: app, db: db, a: a, tpl: tpl, boss: boss}
}

func (f *supportFixture) user(t *testing.T, openid, business string, tags ...string) *models.User {
	t.Helper()
	ctx := context.Background()
	if _, err := models.UpsertUsers(ctx, f.db, f.a.ID, []models.UserInput{{OpenID: openid, BusinessID: &business, Tags: tags,
		Attributes: map[string]any{"name": "张三"}}}); err != nil {
		t.Fatal(err)
	}
	u, err := models.GetUserByOpenID(ctx, f.db, f.a.ID, openid)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// delivery queues a message and then sets its columns as the engine would have.
func (f *supportFixture) delivery(t *testing.T, u *models.User, at time.Time, set map[string]any, nd ...func(*models.NewDelivery)) *models.Delivery {
	t.Helper()
	ctx := context.Background()
	n := models.NewDelivery{AppID: f.a.ID, UserID: u.ID, TemplateID: f.tpl.ID, OpenID: u.OpenID, Data: map[string]string{"thing1": "北京朝阳店"}}
	for _, fn := range nd {
		fn(&n)
	}
	d, _, err := models.EnqueueDelivery(ctx, f.db, n)
	if err != nil {
		t.Fatal(err)
	}
	if set == nil {
		set = map[string]any{}
	}
	set["queued_at"] = at.UTC()
	if err := f.db.Model(&models.Delivery{}).Where("id = ?", d.ID).Updates(set).Error; err != nil {
		t.Fatal(err)
	}
	d, _ = models.GetDelivery(ctx, f.db, d.ID)
	return d
}

func testids(doc *goquery.Document, sel string) []string {
	var out []string
	doc.Find(sel).Each(func(_ int, s *goquery.Selection) {
		v, _ := s.Attr("data-testid")
		out = append(out, v)
	})
	return out
}

func TestUsersSearchPaginationAndTimeline(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		f := newSupportFixture(t, db)
		sup := f.app.signedIn(mustStaff(t, db, "help@example.com", models.RoleSupport))
		sup.lang = "en"
		base := "/users?app=" + id(f.a.ID)

		// An account without users says how users get here.
		r := sup.get(base)
		want(t, r, http.StatusOK)
		if !strings.Contains(r.doc(t).Find(`[data-testid="empty"]`).Text(), "PUT /api/v1/users") {
			t.Fatalf("empty state:\n%.2000s", r.body)
		}

		alice := f.user(t, "o_alice", "cust-1001", "vip")
		for i := 0; i < 60; i++ {
			f.user(t, "o_u"+id(int64(100+i)), "", "bulk")
		}
		// Typed or pasted as people do: a zero-width space, full-width
		// letters and digits, an ideographic space around.
		for _, q := range []struct{ field, q string }{{"business_id", "cust-1001"}, {"", "cust-1001"}, {"openid", "o_alice"}, {"tag", "vip"}, {"", "o_alice"},
			{"business_id", "cust-1001\u200b"}, {"business_id", "\u3000ｃｕｓｔ－１００１"}, {"openid", " o_alice "}} {
			r := sup.get(base + "&field=" + q.field + "&q=" + url.QueryEscape(q.q))
			want(t, r, http.StatusOK)
			if rows := testids(r.doc(t), `[data-testid^="user-row-"]`); len(rows) != 1 || rows[0] != "user-row-"+id(alice.ID) {
				t.Fatalf("search %s=%s: rows %v", q.field, q.q, rows)
			}
		}
		// An id or tag stored full-width is found as typed.
		fw := f.user(t, "o_fw", "会员（金卡）", "ＶＩＰ")
		for _, q := range []struct{ field, q string }{{"business_id", "会员（金卡）"}, {"tag", "ＶＩＰ"}} {
			r := sup.get(base + "&field=" + q.field + "&q=" + url.QueryEscape(q.q))
			if rows := testids(r.doc(t), `[data-testid^="user-row-"]`); len(rows) != 1 || rows[0] != "user-row-"+id(fw.ID) {
				t.Fatalf("search %s=%s: rows %v", q.field, q.q, rows)
			}
		}
		r = sup.get(base + "&field=business_id&q=nobody")
		if !strings.Contains(r.doc(t).Find(`[data-testid="empty"]`).Text(), "nobody") {
			t.Fatalf("no-match state:\n%.2000s", r.body)
		}
		// An account id nobody has (an old link): said so, the first account shown.
		r = sup.get("/users?app=999999&field=openid&q=o_alice")
		if !strings.Contains(r.doc(t).Find(`[data-testid="unknown-app"]`).Text(), "No account has the id 999999") ||
			len(testids(r.doc(t), `[data-testid^="user-row-"]`)) != 1 {
			t.Fatalf("unknown account:\n%.3000s", r.body)
		}
		// Keyset pages: 50, then the other 10, no row twice.
		r = sup.get(base + "&field=tag&q=bulk")
		page1 := testids(r.doc(t), `[data-testid^="user-row-"]`)
		next, ok := r.doc(t).Find(`[data-testid="next-page"]`).Attr("href")
		if len(page1) != 50 || !ok {
			t.Fatalf("page 1: %d rows, next %q", len(page1), next)
		}
		r = sup.get(next)
		page2 := testids(r.doc(t), `[data-testid^="user-row-"]`)
		seen := map[string]bool{}
		for _, x := range append(page1, page2...) {
			if seen[x] {
				t.Fatalf("%s on both pages", x)
			}
			seen[x] = true
		}
		if len(page2) != 10 || r.doc(t).Find(`[data-testid="next-page"]`).Length() != 0 {
			t.Fatalf("page 2: %d rows", len(page2))
		}

		// Timeline: events and messages merged, newest first.
		t0 := time.Now().UTC().Add(-time.Hour)
		ch := models.CreditChange{AppID: f.a.ID, UserID: alice.ID, TemplateID: f.tpl.ID, WxTemplateID: f.tpl.TemplateID, Source: models.SourceWeChat, Now: t0}
		if _, err := models.GrantCredit(ctx, db, ch); err != nil {
			t.Fatal(err)
		}
		d1 := f.delivery(t, alice, t0.Add(time.Minute), map[string]any{"status": models.DeliveryDelivered, "msgid": 777})
		ch.Now = t0.Add(2 * time.Minute)
		if _, err := models.RecordReject(ctx, db, ch, models.SubEventChange); err != nil {
			t.Fatal(err)
		}
		d2 := f.delivery(t, alice, t0.Add(3*time.Minute), map[string]any{"status": models.DeliveryFailed, "reason": models.ReasonWeChat, "errcode": 43101, "attempts": 1})
		var evs []models.SubscriptionEvent
		db.Where("user_id = ?", alice.ID).Order("id").Find(&evs)
		if len(evs) != 2 {
			t.Fatalf("%d events", len(evs))
		}
		r = sup.get("/users/" + id(alice.ID))
		want(t, r, http.StatusOK)
		doc := r.doc(t)
		got := strings.Join(testids(doc, `[data-testid="timeline"] > li > [data-testid]`), ",")
		wantOrder := strings.Join([]string{"message-" + id(d2.ID), "event-" + id(evs[1].ID), "message-" + id(d1.ID), "event-" + id(evs[0].ID)}, ",")
		if got != wantOrder {
			t.Fatalf("timeline %s, want %s", got, wantOrder)
		}
		failed := doc.Find(`[data-testid="message-` + id(d2.ID) + `"]`)
		if !strings.Contains(failed.Find(`[data-testid="message-errcode"]`).Text(), wechat.Explain(43101, "en")) ||
			!strings.Contains(failed.Text(), "北京朝阳店") || !strings.Contains(failed.Text(), "Console test send") {
			t.Fatalf("failed message: %q", failed.Text())
		}
		if !strings.Contains(doc.Find(`[data-testid="user-profile"]`).Text(), "cust-1001") ||
			!strings.Contains(doc.Find(`[data-testid="user-profile"]`).Text(), "张三") {
			t.Fatalf("profile: %q", doc.Find(`[data-testid="user-profile"]`).Text())
		}
		if c := strings.TrimSpace(doc.Find(`[data-testid="sub-` + f.tpl.TemplateID + `"] [data-testid="sub-credits"]`).Text()); c != "0" {
			t.Fatalf("credits shown %q", c)
		}
		// Support reads, never adjusts.
		if doc.Find(`[data-testid="adjust-form"]`).Length() != 0 {
			t.Fatal("support sees the adjust form")
		}
	})
}

func TestSettleUnknownAndAdjustCredits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		f := newSupportFixture(t, db)
		op := f.app.signedIn(mustStaff(t, db, "op@example.com", models.RoleOperator))
		op.lang = "en"
		alice := f.user(t, "o_alice", "cust-1")
		ch := models.CreditChange{AppID: f.a.ID, UserID: alice.ID, TemplateID: f.tpl.ID, WxTemplateID: f.tpl.TemplateID, Source: models.SourceWeChat}
		if _, err := models.GrantCredit(ctx, db, ch); err != nil {
			t.Fatal(err)
		}
		if ok, err := models.SpendCredit(ctx, db, ch); err != nil || !ok {
			t.Fatal("spend", err)
		}
		d := f.delivery(t, alice, time.Now(), map[string]any{"status": models.DeliveryUnknown, "reason": models.ReasonOutcomeUnknown,
			"credit_spent": true, "called_at": time.Now().UTC(), "attempts": 1})
		path := "/deliveries/" + id(d.ID)
		r := op.get(path)
		want(t, r, http.StatusOK)
		if r.doc(t).Find(`[data-testid="settle-form"]`).Length() != 1 {
			t.Fatalf("no settle form on an unknown delivery:\n%.2000s", r.body)
		}
		// Its sent event may still come; for a message that never went out, none will.
		if !strings.Contains(r.body, "No subscribe_msg_sent_event from WeChat yet") || r.doc(t).Find(`[data-testid="no-sent-event-coming"]`).Length() != 0 {
			t.Fatalf("an unknown delivery's sent events:\n%.3000s", r.body)
		}
		skipped := f.delivery(t, alice, time.Now(), map[string]any{"status": models.DeliverySkipped, "reason": models.ReasonNoSubscription})
		if r := op.get("/deliveries/" + id(skipped.ID)); strings.Contains(r.body, "from WeChat yet") || r.doc(t).Find(`[data-testid="no-sent-event-coming"]`).Length() != 1 {
			t.Fatalf("a skipped delivery's sent events:\n%.3000s", r.body)
		}
		r = op.post(path+"/settle", url.Values{"outcome": {"failed"}, "reason": {" "}})
		want(t, r, http.StatusUnprocessableEntity)
		if r.doc(t).Find(`[data-testid="error-reason"]`).Length() != 1 {
			t.Fatal("no error under reason")
		}
		wantRedirect(t, op.post(path+"/settle", url.Values{"outcome": {"failed"}, "reason": {"user says nothing arrived"}}), path)
		got, _ := models.GetDelivery(ctx, db, d.ID)
		if got.Status != models.DeliveryFailed || got.Reason != models.ReasonStaffFailed || got.SettledAt == nil {
			t.Fatalf("after settling: %s %s", got.Status, got.Reason)
		}
		if c := credits(t, db, f.a.ID, "o_alice", f.tpl.TemplateID); c != 1 {
			t.Fatalf("credit not given back: %d", c)
		}
		var audit models.AuditEntry
		db.Where("action = ?", "delivery.settle").First(&audit)
		if audit.StaffEmail != "op@example.com" || !strings.Contains(audit.Detail, "user says nothing arrived") {
			t.Fatalf("audit %+v", audit)
		}
		// Settled once only.
		r = op.post(path+"/settle", url.Values{"outcome": {"delivered"}, "reason": {"again"}})
		want(t, r, http.StatusUnprocessableEntity)
		if c := credits(t, db, f.a.ID, "o_alice", f.tpl.TemplateID); c != 1 {
			t.Fatalf("second settle changed credits: %d", c)
		}

		// Manual credit adjustment: admins, with a reason, audited, source staff.
		boss := f.app.signedIn(f.boss)
		boss.lang = "en"
		upath := "/users/" + id(alice.ID) + "/credits"
		r = boss.post(upath, url.Values{"template": {id(f.tpl.ID)}, "delta": {"2"}, "reason": {""}})
		want(t, r, http.StatusUnprocessableEntity)
		if r.doc(t).Find(`[data-testid="error-reason"]`).Length() != 1 {
			t.Fatal("no error under reason")
		}
		r = boss.post(upath, url.Values{"template": {id(f.tpl.ID)}, "delta": {"-5"}, "reason": {"typo"}})
		want(t, r, http.StatusUnprocessableEntity)
		if r.doc(t).Find(`[data-testid="error-delta"]`).Length() != 1 {
			t.Fatal("no error under delta")
		}
		wantRedirect(t, boss.post(upath, url.Values{"template": {id(f.tpl.ID)}, "delta": {"+2"}, "reason": {"ticket 42: allow not counted"}}), "/users/"+id(alice.ID))
		if c := credits(t, db, f.a.ID, "o_alice", f.tpl.TemplateID); c != 3 {
			t.Fatalf("credits after +2: %d", c)
		}
		var ev models.SubscriptionEvent
		db.Where("user_id = ? AND kind = ?", alice.ID, models.SubEventAdjust).First(&ev)
		if ev.Source != models.SourceStaff || ev.Delta != 2 || ev.StaffID == nil || *ev.StaffID != f.boss.ID || ev.Note != "ticket 42: allow not counted" {
			t.Fatalf("adjust event %+v", ev)
		}
		var n int64
		db.Model(&models.AuditEntry{}).Where("action = ? AND staff_email = ?", "user.adjust_credits", "boss@example.com").Count(&n)
		if n != 1 {
			t.Fatalf("%d adjust audit rows", n)
		}
		r = boss.get("/users/" + id(alice.ID))
		if !strings.Contains(r.doc(t).Find(`[data-testid="event-`+id(ev.ID)+`"]`).Text(), "ticket 42") {
			t.Fatal("the timeline does not show the adjustment's reason")
		}
		// A deleted template can be sent nothing: it is not offered, and a
		// credit for it is refused.
		if err := db.Model(&models.Template{}).Where("id = ?", f.tpl.ID).Update("status", models.TemplateDeleted).Error; err != nil {
			t.Fatal(err)
		}
		if boss.get("/users/"+id(alice.ID)).doc(t).Find(`select[name=template] option[value="`+id(f.tpl.ID)+`"]`).Length() != 0 {
			t.Fatal("the credit form offers a deleted template")
		}
		r = boss.post(upath, url.Values{"template": {id(f.tpl.ID)}, "delta": {"+1"}, "reason": {"x"}})
		want(t, r, http.StatusUnprocessableEntity)
		if c := credits(t, db, f.a.ID, "o_alice", f.tpl.TemplateID); c != 3 {
			t.Fatalf("a credit granted on a deleted template: %d", c)
		}
	})
}

func TestDeliveriesFilterPagesAndExport(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		f := newSupportFixture(t, db)
		sup := f.app.signedIn(mustStaff(t, db, "help@example.com", models.RoleSupport))
		sup.lang = "en"
		_, k := mustAPIKey(t, db, f.a.ID)
		alice := f.user(t, "o_alice", "cust-1")
		now := time.Now().UTC().Add(-time.Hour)
		var failed []int64
		for i := 0; i < 55; i++ {
			f.delivery(t, alice, now.Add(time.Duration(i)*time.Second), map[string]any{"status": models.DeliveryDelivered})
		}
		for i := 0; i < 3; i++ {
			d := f.delivery(t, alice, now.Add(time.Minute), map[string]any{"status": models.DeliveryFailed, "errcode": 43101, "reason": models.ReasonWeChat},
				func(nd *models.NewDelivery) {
					kid := k.ID
					nd.APIKeyID, nd.IdempotencyKey = &kid, "=cmd-"+id(int64(i))
					nd.Data = map[string]string{"thing1": "上海店"}
				})
			failed = append(failed, d.ID)
		}
		r := sup.get("/deliveries?status=failed&errcode=43101&source=api")
		want(t, r, http.StatusOK)
		rows := testids(r.doc(t), `[data-testid^="delivery-row-"]`)
		if len(rows) != 3 || rows[0] != "delivery-row-"+id(failed[2]) {
			t.Fatalf("filtered rows %v", rows)
		}
		if !strings.Contains(r.doc(t).Find(`[data-testid="delivery-row-`+id(failed[0])+`"]`).Text(), "43101") {
			t.Fatal("the row does not show the errcode")
		}
		r = sup.get("/deliveries?errcode=abc")
		if r.doc(t).Find(`[data-testid="error-errcode"]`).Length() != 1 {
			t.Fatal("a bad errcode filter is not explained")
		}
		// An end before the start is said so, not just an empty list.
		r = sup.get("/deliveries?from=2026-05-02&to=2026-05-01T08:00")
		if e := r.doc(t).Find(`[data-testid="error-to"]`).Text(); !strings.Contains(e, "end is not after the start") {
			t.Fatalf("inverted range: error %q", e)
		}
		if r = sup.get("/deliveries?from=2026-05-01&to=2026-05-01"); r.doc(t).Find(`[data-testid="error-to"]`).Length() != 0 {
			t.Fatal("from=to=DATE (one whole day) is reported as inverted")
		}
		// A date alone is the whole day: from=D&to=D lists that day's rows.
		sh, _ := time.LoadLocation("Asia/Shanghai")
		if day, last := now.In(sh).Format("2006-01-02"), now.Add(2*time.Minute).In(sh).Format("2006-01-02"); day == last {
			rows = testids(sup.get("/deliveries?status=failed&from="+day+"&to="+day).doc(t), `[data-testid^="delivery-row-"]`)
			if len(rows) != 3 {
				t.Fatalf("from=to=%s: %d rows, want the day's 3", day, len(rows))
			}
		} else {
			t.Logf("the rows straddle midnight in Shanghai: from=to=DATE not checked this run")
		}
		// Keyset pages over all 58.
		r = sup.get("/deliveries?app=" + id(f.a.ID))
		p1 := testids(r.doc(t), `[data-testid^="delivery-row-"]`)
		next, _ := r.doc(t).Find(`[data-testid="next-page"]`).Attr("href")
		p2 := testids(sup.get(next).doc(t), `[data-testid^="delivery-row-"]`)
		if len(p1) != 50 || len(p2) != 8 || p1[49] == p2[0] {
			t.Fatalf("pages %d + %d", len(p1), len(p2))
		}

		// CSV export of the filtered list: BOM, header, Chinese intact, formulas defused.
		res := sup.get("/deliveries/export.csv?status=failed&errcode=43101")
		want(t, res, http.StatusOK)
		if !strings.HasPrefix(res.body, "\uFEFF") || !strings.HasPrefix(res.header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(res.header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("export headers %v, starts %q", res.header, res.body[:10])
		}
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(res.body, "\uFEFF"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 4 || recs[0][0] != "id" {
			t.Fatalf("%d records: %v", len(recs), recs)
		}
		// Status, reason and source in words, as on the page (not codes).
		if recs[1][6] != "Failed" || !strings.Contains(recs[1][7], "43101") || recs[1][11] == "" || recs[1][11] == models.DeliverySourceAPI {
			t.Fatalf("status, reason, source %q", recs[1][6:12])
		}
		row := strings.Join(recs[1], "|")
		if !strings.Contains(row, "上海店") || !strings.Contains(row, "43101") || !strings.Contains(row, "到货") ||
			!strings.Contains(row, wechat.Explain(43101, "en")) || !strings.Contains(row, "'=cmd-2") {
			t.Fatalf("row %s", row)
		}
	})
}

// A test send whose outcome is unknown keeps asking until it is settled.
func TestTestSendUnknownUpdatesItself(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		f := newSupportFixture(t, db)
		app := newTestApp(t, db, withEngine(t))
		op := app.signedIn(mustStaff(t, db, "op@example.com", models.RoleOperator))
		alice := f.user(t, "o_alice", "")
		d := f.delivery(t, alice, time.Now(), map[string]any{"status": models.DeliveryUnknown, "reason": models.ReasonOutcomeUnknown, "attempts": 1})
		path := "/templates/" + id(f.tpl.ID) + "/test-send/" + id(d.ID)
		r := op.get(path)
		want(t, r, http.StatusOK)
		if poll, _ := r.doc(t).Find(`[data-testid="tpl-send-unknown"]`).Attr("hx-get"); poll != path {
			t.Fatalf("an unknown outcome does not keep asking:\n%s", r.body)
		}
		// WeChat's sent event settles it (as the engine's settler writes it).
		if err := db.Model(&models.Delivery{}).Where("id = ?", d.ID).Updates(map[string]any{"status": models.DeliveryDelivered,
			"reason": models.ReasonSentEvent, "msgid": 42}).Error; err != nil {
			t.Fatal(err)
		}
		r = op.get(path)
		doc := r.doc(t)
		if doc.Find(`[hx-get]`).Length() != 0 || doc.Find(`[data-testid="flash"].flash-success`).Length() != 1 {
			t.Fatalf("after settling:\n%s", r.body)
		}
		// Only this template's test sends: not under another template, not
		// an API message.
		want(t, op.get("/templates/"+id(f.tpl.ID+1000)+"/test-send/"+id(d.ID)), http.StatusNotFound)
		_, k := mustAPIKey(t, db, f.a.ID)
		apiMsg := f.delivery(t, alice, time.Now(), map[string]any{"status": models.DeliveryDelivered, "api_key_id": k.ID})
		want(t, op.get("/templates/"+id(f.tpl.ID)+"/test-send/"+id(apiMsg.ID)), http.StatusNotFound)
	})
}

// An import cut off by a stop (its heartbeat stale) is shown interrupted,
// not running, with a way to import the file again; serve's start-up pass
// marks every such import; one still beating stays running.
func TestInterruptedImportShownAndRerun(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		f := newSupportFixture(t, db)
		c := f.app.signedIn(mustStaff(t, db, "ops@example.com", models.RoleOperator))
		mk := func(name string, beat time.Time) *models.UserImport {
			imp := &models.UserImport{AppID: f.a.ID, Filename: name, SizeBytes: 1000}
			if err := models.CreateImport(ctx, db, imp); err != nil {
				t.Fatal(err)
			}
			if err := db.Model(imp).Updates(map[string]any{"updated_at": beat.UTC(), "done_bytes": 400, "imported": 500, "total_rows": 500}).Error; err != nil {
				t.Fatal(err)
			}
			return imp
		}
		cut := mk("cut.csv", time.Now().Add(-time.Minute))
		other := mk("other.csv", time.Now().Add(-2*time.Minute))
		alive := mk("alive.csv", time.Now())

		r := c.get("/users/imports/" + id(cut.ID))
		if r.status != 200 {
			t.Fatalf("import page %d", r.status)
		}
		doc := r.doc(t)
		if st, _ := doc.Find(`[data-testid="import-progress"]`).Attr("data-status"); st != models.ImportInterrupted {
			t.Fatalf("cut import shown %q", st)
		}
		if _, poll := doc.Find(`[data-testid="import-progress"]`).Attr("hx-get"); poll {
			t.Fatal("an interrupted import is still polled")
		}
		href, _ := doc.Find(`[data-testid="import-rerun"]`).Attr("href")
		if doc.Find(`[data-testid="import-interrupted"]`).Length() != 1 || href != "/users/import?app="+id(f.a.ID) {
			t.Fatalf("no re-run offered: %q", href)
		}
		// Start-up: every stale import, not the live one.
		if n, err := models.InterruptStaleImports(ctx, db, time.Now()); err != nil || n != 1 {
			t.Fatalf("start-up pass marked %d (%v), want 1 (other.csv)", n, err)
		}
		for imp, want := range map[int64]string{other.ID: models.ImportInterrupted, alive.ID: models.ImportRunning} {
			got, _ := models.GetImport(ctx, db, imp)
			if got.Status != want {
				t.Fatalf("import %d: %s, want %s", imp, got.Status, want)
			}
		}
		// Importing the file again finishes it; users are not duplicated.
		file := []byte("openid,姓名\no_a,甲\no_b,乙\n")
		for i := 0; i < 2; i++ {
			r = c.upload("/users/import", map[string]string{"app": id(f.a.ID), "encoding": "auto"}, "cut.csv", file)
			if r.status != http.StatusSeeOther {
				t.Fatalf("upload %d: %.300s", r.status, r.body)
			}
			n, _ := strconv.ParseInt(strings.TrimPrefix(r.header.Get("Location"), "/users/imports/"), 10, 64)
			if imp := waitImport(t, db, n); imp.Status != models.ImportDone || imp.Imported != 2 {
				t.Fatalf("re-run: %s, %d imported", imp.Status, imp.Imported)
			}
		}
		var users int64
		db.Model(&models.User{}).Where("app_id = ? AND openid IN ?", f.a.ID, []string{"o_a", "o_b"}).Count(&users)
		if users != 2 {
			t.Fatalf("%d users after importing the file twice, want 2", users)
		}
	})
}

// The user page names who made each console test send (looked up for the
// whole page at once), and the credit form is read for admins only.
func TestUserPageNamesTestSenders(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		f := newSupportFixture(t, db)
		alice := f.user(t, "o_alice", "")
		for i, who := range []string{"ann@example.com", "bo@example.com", ""} {
			d := f.delivery(t, alice, time.Now().Add(time.Duration(i)*time.Second), map[string]any{"status": models.DeliveryDelivered})
			if who == "" {
				continue // no audit entry: named by nobody
			}
			if err := models.Audit(ctx, db, models.Actor{Email: who}, "template.test_send", "template", f.tpl.TemplateID,
				map[string]any{"app": f.a.AppID, "openid": "o_alice", "delivery": d.ID}); err != nil {
				t.Fatal(err)
			}
		}
		for _, role := range []models.Role{models.RoleSupport, models.RoleAdmin} {
			c := f.app.signedIn(mustStaff(t, db, string(role)+"-viewer@example.com", role))
			c.lang = "en"
			r := c.get("/users/" + id(alice.ID))
			want(t, r, http.StatusOK)
			body := r.doc(t).Text()
			for _, who := range []string{"ann@example.com", "bo@example.com"} {
				if !strings.Contains(body, "Console test send by "+who) {
					t.Fatalf("%s: the page does not name %s", role, who)
				}
			}
			if strings.Count(body, "Console test send by") != 2 {
				t.Fatalf("%s: %d test senders named, want 2", role, strings.Count(body, "Console test send by"))
			}
			form := r.doc(t).Find(`select[name="template"]`).Length()
			if (role == models.RoleAdmin) != (form == 1) {
				t.Fatalf("%s: %d credit forms", role, form)
			}
		}
	})
}

// One tap reported by both sources: the user's timeline says of the later
// report that it granted nothing, and of the earlier that it was reported
// again, not both the same (the earlier did grant the credit).
func TestUserTimelineNamesWhichReportOfATapCounted(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		f := newSupportFixture(t, db)
		u := f.user(t, "o_pair", "cust-p")
		now := time.Now().UTC()
		for i, src := range []string{models.SourceClient, models.SourceWeChat} {
			if _, err := models.GrantAccept(context.Background(), db, models.CreditChange{AppID: f.a.ID, UserID: u.ID, TemplateID: f.tpl.ID,
				WxTemplateID: f.tpl.TemplateID, Source: src, Now: now.Add(time.Duration(i) * time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
		var evs []models.SubscriptionEvent
		db.Where("user_id = ?", u.ID).Order("id").Find(&evs)
		if len(evs) != 2 || evs[0].Delta != 1 || evs[1].Delta != 0 || evs[0].MatchedID == nil || evs[1].MatchedID == nil {
			t.Fatalf("events %+v: want a credited report and its pair", evs)
		}
		sup := f.app.signedIn(mustStaff(t, db, "sup@example.com", models.RoleSupport))
		sup.lang = "en"
		doc := sup.get("/users/" + id(u.ID)).doc(t)
		first, second := doc.Find(`[data-testid="event-`+id(evs[0].ID)+`"]`), doc.Find(`[data-testid="event-`+id(evs[1].ID)+`"]`)
		if first.Find("[data-testid=paired]").Length() != 0 || first.Find("[data-testid=paired-later]").Length() != 1 ||
			second.Find("[data-testid=paired]").Length() != 1 || second.Find("[data-testid=paired-later]").Length() != 0 {
			t.Fatalf("timeline: first %q, second %q", first.Text(), second.Text())
		}
	})
}

// A campaign's message names its campaign: a link for those who may open
// campaigns, the name alone for support.
func TestMessageNamesItsCampaign(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		f := newSupportFixture(t, db)
		u := f.user(t, "o_cmp", "cust-c")
		cp := &models.Campaign{AppID: f.a.ID, TemplateID: f.tpl.ID, Name: "双十一预热", ScheduleKind: models.ScheduleNow,
			Timezone: "Asia/Shanghai", Status: models.CampaignCompleted}
		if err := models.CreateCampaign(ctx, db, cp); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		run := &models.CampaignRun{CampaignID: cp.ID, AppID: f.a.ID, Status: models.RunCompleted, ScheduledFor: now, CreatedAt: now, UpdatedAt: now}
		if err := db.Create(run).Error; err != nil {
			t.Fatal(err)
		}
		d := f.delivery(t, u, now, nil, func(n *models.NewDelivery) { n.RunID = &run.ID })
		for role, link := range map[models.Role]bool{models.RoleOperator: true, models.RoleSupport: false} {
			c := f.app.signedIn(mustStaff(t, db, string(role)+"@example.com", role))
			c.lang = "en"
			src := c.get("/deliveries/" + id(d.ID)).doc(t).Find("[data-testid=source-campaign]")
			href, isLink := src.Attr("href")
			if !strings.Contains(src.Text(), "Campaign “双十一预热” (run #"+id(run.ID)+")") || isLink != link || (link && href != "/campaigns/"+id(cp.ID)) {
				t.Fatalf("%s: source %q, link %v %q", role, src.Text(), isLink, href)
			}
		}
	})
}
