package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// dashFixture seeds two accounts: "shop" with a week of sends (and
// failures 43101 and 47003 today), paused by WeChat's quota and near its
// own daily quota, a template held by a campaign and a run under way;
// "club" with one send three days ago and no secret (a setup issue).
func dashFixture(t *testing.T, db *gorm.DB) (shop, club *models.App) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	shop = &models.App{AppID: "wx00000000000000e1", Name: "shop", RateLimit: 20, Timezone: "Asia/Shanghai", DailyQuota: 1000,
		SecretEnc: "x", PushTokenEnc: "x", PushMode: models.PushPlain}
	club = &models.App{AppID: "wx00000000000000e2", Name: "club", RateLimit: 20, Timezone: "Asia/Shanghai", PushTokenEnc: "x", PushMode: models.PushPlain}
	for _, a := range []*models.App{shop, club} {
		a.CreatedAt, a.UpdatedAt = now, now
		if err := db.Create(a).Error; err != nil {
			t.Fatal(err)
		}
	}
	tpl := &models.Template{AppID: shop.ID, TemplateID: "TS", Title: "订单发货", Content: "x:{{thing1.DATA}}", Kind: models.TemplateOneTime}
	tpl.SetKeywords([]models.TemplateKeyword{{Key: "thing1", Type: "thing"}})
	ctpl := &models.Template{AppID: club.ID, TemplateID: "TC", Title: "活动开始", Content: "x:{{thing1.DATA}}", Kind: models.TemplateLongTerm}
	ctpl.SetKeywords([]models.TemplateKeyword{{Key: "thing1", Type: "thing"}})
	for _, tp := range []*models.Template{tpl, ctpl} {
		if err := models.CreateTemplate(ctx, db, tp); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ { // 4 users with a credit, 1 without
		u, err := models.EnsureUser(ctx, db, shop.ID, fmt.Sprintf("o_%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Exec("INSERT INTO subscriptions (user_id, template_id, credits, long_term, status, created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
			u.ID, tpl.ID, min(i, 1), false, models.SubAccept, now, now).Error; err != nil {
			t.Fatal(err)
		}
	}
	for d := 0; d < 7; d++ {
		counts := []models.HourCount{{AppID: shop.ID, Status: models.HourSent, N: int64(100 + 10*d)}, {AppID: shop.ID, Status: models.HourDelivered, N: int64(90 + 10*d)}}
		if d == 6 {
			counts = append(counts, models.HourCount{AppID: shop.ID, Status: models.HourFailed, Detail: "43101", N: 12},
				models.HourCount{AppID: shop.ID, Status: models.HourFailed, Detail: "47003", N: 3})
		}
		if err := models.RecordHourly(ctx, db, now.AddDate(0, 0, d-6), counts); err != nil {
			t.Fatal(err)
		}
	}
	if err := models.RecordHourly(ctx, db, now.AddDate(0, 0, -3), []models.HourCount{{AppID: club.ID, Status: models.HourSent, N: 7}}); err != nil {
		t.Fatal(err)
	}
	if _, err := models.TakeSendCapacity(ctx, db, shop.ID, models.DayWindow(now), 850, 1000, now); err != nil {
		t.Fatal(err)
	}
	if err := models.PauseAppSends(ctx, db, shop.ID, now.Add(2*time.Hour), models.PauseWeChatQuota); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"双十一预告", "新品上架"} {
		c := &models.Campaign{AppID: shop.ID, TemplateID: tpl.ID, Name: name, Status: models.CampaignScheduled, ScheduleKind: models.ScheduleNow,
			Timezone: "Asia/Shanghai", MisfirePolicy: models.MisfireSkip}
		c.SetValues(map[string]models.Value{"thing1": {Value: "hi"}})
		c.SetAudience(models.Audience{Kind: models.AudienceSubscribed})
		if err := models.CreateCampaign(ctx, db, c); err != nil {
			t.Fatal(err)
		}
		if name == "双十一预告" {
			if _, err := models.StartCampaignRun(ctx, db, models.StartRun{CampaignID: c.ID, ScheduledFor: now, Now: now}); err != nil {
				t.Fatal(err)
			}
			db.Model(&models.Campaign{}).Where("id = ?", c.ID).Update("status", models.CampaignRunning)
		}
	}
	if _, err := models.FlagCampaignsForTemplate(ctx, db, tpl.ID, models.HeldTemplateChanged); err != nil {
		t.Fatal(err)
	}
	return shop, club
}

func dashDoc(t *testing.T, c *client, path string) *goquery.Document {
	t.Helper()
	r := c.get(path)
	want(t, r, http.StatusOK)
	return r.doc(t)
}

// cells is a table row's cells' text, joined by " | ".
func cells(row *goquery.Selection) string {
	var out []string
	row.Find("td").Each(func(_ int, td *goquery.Selection) { out = append(out, strings.TrimSpace(td.Text())) })
	return strings.Join(out, " | ")
}

func text(d *goquery.Document, sel string) string { return strings.TrimSpace(d.Find(sel).Text()) }

// What each role finds on the dashboard, for all accounts and for one.
func TestDashboardByRole(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		shop, club := dashFixture(t, db)
		admin := app.signedIn(mustStaff(t, db, "boss@example.com", models.RoleAdmin))
		support := app.signedIn(mustStaff(t, db, "help@example.com", models.RoleSupport))
		operator := app.signedIn(mustStaff(t, db, "ops@example.com", models.RoleOperator))

		// Admin, all accounts (the staff members' language is English).
		d := dashDoc(t, admin, "/")
		if got := text(d, "[data-testid=stat-sent] .stat-value"); got != "160" {
			t.Errorf("sent today %q, want 160", got)
		}
		if got := text(d, "[data-testid=stat-failed] .stat-value"); got != "15" {
			t.Errorf("failed today %q, want 15", got)
		}
		if got := text(d, "[data-testid=stat-rate] .stat-value"); got != "85.7%" { // 150 / (160 + 15)
			t.Errorf("rate today %q, want 85.7%%", got)
		}
		f := d.Find("[data-testid=dash-failure-43101]")
		if row := cells(f); !strings.Contains(row, "WeChat 43101: ") || strings.Count(row, "43101") != 1 || !strings.HasSuffix(row, "| 12 | 12") {
			t.Errorf("43101 row %q: want WeChat's code named once, explained, 12 today and this week", row)
		}
		if h, _ := f.Find("a").Attr("href"); h != "/deliveries?errcode=43101&status=failed" {
			t.Errorf("43101 links to %q", h)
		}
		var chart struct {
			Days   []string
			Series []struct {
				Key, Name string
				Data      []int64
			}
		}
		if err := json.Unmarshal([]byte(d.Find("script#dash-chart-data").Text()), &chart); err != nil {
			t.Fatal(err)
		}
		if len(chart.Days) != 7 || len(chart.Series) != 3 || chart.Series[0].Name != "Sent" || fmt.Sprint(chart.Series[0].Data[:6]) != "[100 110 120 137 140 150]" {
			t.Errorf("chart data %+v", chart)
		}
		acct := d.Find("[data-testid=dash-account-" + id(shop.ID) + "]")
		if !strings.Contains(acct.Text(), "WeChat 45009") || !strings.Contains(acct.Text(), "850 of 1,000") || acct.Find(".tag-amber").Length() != 1 {
			t.Errorf("shop's row: %q", strings.Join(strings.Fields(acct.Text()), " "))
		}
		if issues := text(d, "[data-testid=dash-issues]"); !strings.Contains(issues, "club") || !strings.Contains(issues, "No AppSecret") || strings.Contains(issues, "shop") {
			t.Errorf("setup issues: %q", issues)
		}
		// A failed template sync points where a sync says why: the templates page.
		now := time.Now().UTC()
		if err := db.Create(&models.TemplateSync{AppID: club.ID, TriggerKind: "schedule", Error: "wechat.40013", StartedAt: now, FinishedAt: now}).Error; err != nil {
			t.Fatal(err)
		}
		issue := admin.get("/").doc(t).Find("[data-testid=dash-issues] a").FilterFunction(func(_ int, s *goquery.Selection) bool {
			return strings.Contains(s.Closest("li").Text(), "template sync failed")
		})
		if h, _ := issue.Attr("href"); h != "/templates?app="+id(club.ID) {
			t.Errorf("a failed sync links to %q:\n%s", h, text(admin.get("/").doc(t), "[data-testid=dash-issues]"))
		}
		if got := d.Find("[data-testid=dash-run] a").AttrOr("href", ""); !strings.HasPrefix(got, "/campaigns/") {
			t.Errorf("admin's run link %q", got)
		}
		if held := text(d, "[data-testid=dash-held]"); !strings.Contains(held, "新品上架") || !strings.Contains(held, "the template changed") {
			t.Errorf("held: %q", held)
		}
		if got := d.Find("[data-testid=dash-template]").Length(); got != 2 {
			t.Errorf("%d templates listed, want 2", got)
		}
		if row := cells(d.Find("[data-testid=dash-template]").FilterFunction(func(_ int, s *goquery.Selection) bool {
			return strings.Contains(s.Text(), "订单发货")
		})); row != "订单发货 | shop | One-time | 4" {
			t.Errorf("template row %q, want 4 reachable", row)
		}
		// Getting started: every step for admins, links, done ones ticked.
		steps := d.Find("[data-testid=dash-steps] li")
		if steps.Length() != 7 {
			t.Errorf("admin sees %d steps, want 7", steps.Length())
		}
		steps.Each(func(_ int, s *goquery.Selection) {
			key, _ := s.Attr("data-testid")
			done := s.AttrOr("data-done", "")
			want := map[string]string{"dash-step-app": "true", "dash-step-templates": "true", "dash-step-staff": "true",
				"dash-step-apikey": "false", "dash-step-users": "true", "dash-step-test_send": "false", "dash-step-campaign": "true"}[key]
			if done != want || s.Find("a[href]").Length() != 1 || (done == "true") != (s.Find(".dash-tick").Length() == 1) {
				t.Errorf("step %s: done %s (want %s), link %d", key, done, want, s.Find("a[href]").Length())
			}
		})

		// One account: club's numbers only.
		d = dashDoc(t, admin, "/?app="+id(club.ID))
		if got := d.Find("#dash-app option[selected]").AttrOr("value", ""); got != id(club.ID) {
			t.Errorf("selected account %q", got)
		}
		if got := text(d, "[data-testid=dash-week]"); !strings.Contains(got, "7 sent") {
			t.Errorf("club's week: %q", got)
		}
		if d.Find("[data-testid=dash-account-"+id(shop.ID)+"]").Length() != 0 || d.Find("[data-testid^=dash-failure-]").Length() != 0 {
			t.Error("shop shows under club")
		}

		// Support: sends, failures, campaigns — no setup issues or steps, no
		// links to pages it cannot open.
		d = dashDoc(t, support, "/")
		if d.Find("[data-testid=dash-issues]").Length() != 0 || d.Find("[data-testid=dash-steps]").Length() != 0 {
			t.Error("support sees setup issues or getting-started steps")
		}
		if d.Find("[data-testid=dash-run]").Length() != 1 || d.Find("[data-testid=dash-run] a").Length() != 0 || d.Find("[data-testid=dash-held] a").Length() != 0 {
			t.Error("support: the run should be listed without a link to /campaigns")
		}
		if d.Find("[data-testid=dash-account-"+id(shop.ID)+"] a").Length() != 0 {
			t.Error("support: an account links to an admin page")
		}
		if d.Find("[data-testid=dash-failure-43101] a").Length() != 1 || d.Find("[data-testid=dash-template] a").Length() != 2 {
			t.Error("support: failures and templates should link to pages support can open")
		}

		// Operator: only the steps an operator can do.
		d = dashDoc(t, operator, "/")
		var keys []string
		d.Find("[data-testid=dash-steps] li").Each(func(_ int, s *goquery.Selection) { keys = append(keys, s.AttrOr("data-testid", "")) })
		if fmt.Sprint(keys) != "[dash-step-users dash-step-test_send dash-step-campaign]" {
			t.Errorf("operator's steps %v", keys)
		}
		if d.Find("[data-testid=dash-issues]").Length() != 0 {
			t.Error("operator sees setup issues")
		}

		// A paused run says why.
		ctx := context.Background()
		runs, err := models.ActiveRuns(ctx, db, shop.ID)
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs %v %v", runs, err)
		}
		if ok, err := models.PauseRun(ctx, db, &runs[0].CampaignRun, "staff", time.Now()); !ok || err != nil {
			t.Fatalf("pause: %v %v", ok, err)
		}
		if got := text(dashDoc(t, support, "/"), "[data-testid=dash-run-reason]"); got != "Paused by staff." {
			t.Errorf("paused run's reason %q", got)
		}

		// Once every step is done, the list goes away.
		if _, _, err := models.CreateAPIKey(ctx, db, shop.ID, "backend", nil); err != nil {
			t.Fatal(err)
		}
		u, _ := models.EnsureUser(ctx, db, shop.ID, "o_0")
		tpl, err := models.GetTemplateByWxID(ctx, db, shop.ID, "TS")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := models.EnqueueDelivery(ctx, db, models.NewDelivery{AppID: shop.ID, UserID: u.ID, TemplateID: tpl.ID, OpenID: u.OpenID}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*client{admin, operator} {
			if d := dashDoc(t, c, "/"); d.Find("[data-testid=dash-steps]").Length() != 0 {
				t.Error("getting started still shown with every step done")
			}
		}
	})
}

// In Chromium: the chart's canvas is drawn with the week's data and the
// page's language, survives boosted navigation, and the dashboard is
// photographed in both languages as admin and as support.
func TestBrowserDashboardChart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		dashFixture(t, db)
		ctx := browser(t)
		type viewer struct {
			email string
			role  models.Role
			lang  string
		}
		for _, v := range []viewer{{"boss-zh@example.com", models.RoleAdmin, "zh"}, {"boss-en@example.com", models.RoleAdmin, "en"},
			{"help-zh@example.com", models.RoleSupport, "zh"}, {"help-en@example.com", models.RoleSupport, "en"}} {
			if _, err := models.CreateStaff(context.Background(), db, v.email, "", "correct horse battery", v.role, v.lang); err != nil {
				t.Fatal(err)
			}
			do(t, ctx,
				chromedp.Navigate(app.srv.URL+"/login"),
				chromedp.WaitVisible(`[data-testid=login]`),
				chromedp.SendKeys(`#f-email`, v.email),
				chromedp.SendKeys(`#f-password`, "correct horse battery"),
				chromedp.Click(`[data-testid=login-submit]`),
				chromedp.WaitVisible(`[data-testid=dash-chart][data-chart-ready="1"]`),
			)
			checkChart(t, ctx, v.lang)
			if v.email == "boss-zh@example.com" {
				// Boosted navigation away and back draws a fresh chart.
				do(t, ctx,
					chromedp.Click(`[data-testid=nav-templates]`),
					chromedp.WaitNotPresent(`[data-testid=dash-chart]`),
					chromedp.Click(`[data-testid=nav-dashboard]`),
					chromedp.WaitVisible(`[data-testid=dash-chart][data-chart-ready="1"]`),
				)
				if boosted := get(t, ctx, chromedp.Evaluate[bool](`performance.getEntriesByType('navigation').length === 1 && !!window.htmx`)); !boosted {
					t.Error("navigation was not boosted")
				}
				checkChart(t, ctx, v.lang)
			}
			screenshot(t, ctx, string(v.role)+"-"+v.lang)
			do(t, ctx, chromedp.Click(`[data-testid=logout]`), chromedp.WaitVisible(`[data-testid=login]`))
		}
	})
}

// checkChart reads the drawn chart back: its series names in the page's
// language, the week's numbers, and painted pixels on the canvas.
func checkChart(t *testing.T, ctx context.Context, lang string) {
	t.Helper()
	names := get(t, ctx, chromedp.Evaluate[string](`echarts.getInstanceByDom(document.querySelector('[data-testid=dash-chart]')).getOption().series.map(s => s.name + ':' + s.data.join(',')).join(' ')`))
	want := "Sent:100,110,120,137,140,150,160 Delivered:90,100,110,120,130,140,150 Failed:0,0,0,0,0,0,15"
	if lang == "zh" {
		want = "已发送:100,110,120,137,140,150,160 已送达:90,100,110,120,130,140,150 失败:0,0,0,0,0,0,15"
	}
	if names != want {
		t.Errorf("chart series %q, want %q", names, want)
	}
	painted := get(t, ctx, chromedp.Evaluate[int](`(() => {
		const c = document.querySelector('[data-testid=dash-chart] canvas');
		if (!c || c.width < 100 || c.height < 100) return -1;
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let n = 0;
		for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
		return n;
	})()`))
	if painted < 1000 {
		t.Errorf("chart canvas: %d painted pixels", painted)
	}
}
