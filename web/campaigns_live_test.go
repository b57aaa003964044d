package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// The approvals screen: admins see every campaign awaiting approval, linked
// from the list with its count; approve and reject from there (audited),
// never approve their own; operators cannot reach it (role matrix).
func TestCampaignApprovalsScreen(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		bc := app.signedIn(boss)
		w := newCampaignWorld(t, bc, db, 2)
		if err := models.SetAppRequiresApproval(ctx, db, w.app.ID, true); err != nil {
			t.Fatal(err)
		}
		op := app.signedIn(mustStaff(t, db, "op@example.com", models.RoleOperator))
		submit := func(c *client, name string) *models.Campaign {
			f := campaignForm(w.tpl.ID)
			f.Set("name", name)
			f.Set("schedule", "cron")
			f.Set("cron", "0 9 * * *")
			wantRedirect(t, c.post("/campaigns", f), "/campaigns/")
			cp := lastCampaign(t, db)
			wantRedirect(t, c.post("/campaigns/"+id(cp.ID)+"/schedule", nil), "/campaigns/")
			cp, _ = models.GetCampaign(ctx, db, cp.ID)
			if cp.Status != models.CampaignPending {
				t.Fatalf("%s: %s", name, cp.Status)
			}
			return cp
		}
		a := submit(op, "first")
		b := submit(op, "second")
		own := submit(bc, "mine")

		r := bc.get("/campaigns")
		want(t, r, http.StatusOK)
		if l := r.doc(t).Find("[data-testid=approvals-link]"); !strings.Contains(l.Text(), "(3)") {
			t.Fatalf("approvals link %q", l.Text())
		}
		if op.get("/campaigns").doc(t).Find("[data-testid=approvals-link]").Length() != 0 {
			t.Fatal("operators are shown the approvals link")
		}
		r = bc.get("/campaigns/approvals")
		want(t, r, http.StatusOK)
		doc := r.doc(t)
		if n := doc.Find("[data-testid=approvals-table] tbody tr").Length(); n != 3 {
			t.Fatalf("%d rows:\n%.3000s", n, r.body)
		}
		ownRow := doc.Find("[data-testid=approval-" + id(own.ID) + "]")
		if ownRow.Find("[data-testid=own-campaign]").Length() != 1 || ownRow.Find("[data-testid=approve-"+id(own.ID)+"]").Length() != 0 {
			t.Fatalf("own campaign offers approval:\n%s", r.body)
		}
		if !strings.Contains(doc.Find("[data-testid=approval-"+id(a.ID)+"]").Text(), "op@example.com") {
			t.Fatal("submitter not shown")
		}
		want(t, op.get("/campaigns/approvals"), http.StatusForbidden)
		want(t, op.post("/campaigns/"+id(a.ID)+"/reject?back=approvals", nil), http.StatusForbidden)

		wantRedirect(t, bc.post("/campaigns/"+id(a.ID)+"/approve?back=approvals", nil), "/campaigns/approvals")
		// A rejection says why: without a reason it is refused, b stays pending.
		wantRedirect(t, bc.post("/campaigns/"+id(b.ID)+"/reject?back=approvals", url.Values{"reason": {"  "}}), "/campaigns/approvals")
		if got, _ := models.GetCampaign(ctx, db, b.ID); got.Status != models.CampaignPending || auditCount(db, "campaign.reject") != 0 {
			t.Fatalf("rejected without a reason: %s", got.Status)
		}
		if f := bc.get("/campaigns/approvals").doc(t).Find("[data-testid=flash]").Text(); !strings.Contains(f, "Give the reason") {
			t.Fatalf("no word on the missing reason: %q", f)
		}
		wantRedirect(t, bc.post("/campaigns/"+id(b.ID)+"/reject?back=approvals", url.Values{"reason": {"文案需要修改：价格写错了"}}), "/campaigns/approvals")
		// Their own, posted by hand, is refused.
		wantRedirect(t, bc.post("/campaigns/"+id(own.ID)+"/approve?back=approvals", nil), "/campaigns/approvals")
		a, _ = models.GetCampaign(ctx, db, a.ID)
		b, _ = models.GetCampaign(ctx, db, b.ID)
		own, _ = models.GetCampaign(ctx, db, own.ID)
		if a.Status != models.CampaignScheduled || a.ApprovedBy == nil || *a.ApprovedBy != boss.ID {
			t.Fatalf("approved: %+v", a)
		}
		if b.Status != models.CampaignDraft || b.StatusReason != models.ReasonRejected || b.NextRunAt != nil {
			t.Fatalf("rejected: %+v", b)
		}
		if own.Status != models.CampaignPending {
			t.Fatalf("self-approved: %s", own.Status)
		}
		if auditCount(db, "campaign.reject") != 1 || auditCount(db, "campaign.approve") != 1 {
			t.Fatal("decisions not audited once each")
		}
		// Rejecting what is no longer pending changes nothing.
		wantRedirect(t, bc.post("/campaigns/"+id(b.ID)+"/reject", url.Values{"reason": {"again"}}), "/campaigns/"+id(b.ID))
		if auditCount(db, "campaign.reject") != 1 {
			t.Fatal("a refused reject was audited")
		}
		r = op.get("/campaigns/" + id(b.ID))
		if !strings.Contains(r.doc(t).Find("[data-testid=status-reason]").Text(), "Approval was refused") ||
			r.doc(t).Find("[data-testid=reject-reason]").Text() != "文案需要修改：价格写错了" {
			t.Fatalf("author not told why:\n%.3000s", r.body)
		}
		doc = bc.get("/campaigns/approvals").doc(t)
		if n := doc.Find("[data-testid=approvals-table] tbody tr").Length(); n != 1 {
			t.Fatalf("%d rows left, want 1 (own)", n)
		}
		setLang(t, db, bc, "zh")
		if s := bc.get("/campaigns/approvals").doc(t).Find("h1").Text(); s != "待审批的推送活动" {
			t.Fatalf("zh title %q", s)
		}
	})
}

// The progress fragment shows the rate over the last 30 s (from the
// samples the campaigns job takes), the ETA at that rate, and the chart's
// data: sends per minute adding up to what the samples saw.
func TestCampaignProgressRateAndChart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		bc := app.signedIn(boss)
		w := newCampaignWorld(t, bc, db, 2)
		wantRedirect(t, bc.post("/campaigns", campaignForm(w.tpl.ID)), "/campaigns/")
		c := lastCampaign(t, db)
		now := time.Now().UTC()
		run, err := models.StartCampaignRun(ctx, db, models.StartRun{CampaignID: c.ID, ScheduledFor: now, Now: now, From: []string{models.CampaignDraft}})
		if err != nil {
			t.Fatal(err)
		}
		base := "/campaigns/" + id(c.ID)
		// Before any sample: no current rate, the chart says what it will show.
		doc := bc.get(base + "/progress").doc(t)
		if doc.Find("[data-testid=rate-now]").Length() != 0 || doc.Find("[data-testid=run-chart-empty]").Length() != 1 {
			t.Fatal("rate or chart without samples")
		}
		// The job saw 0 answers 130 s ago and 100 at 40 s ago; now 400 are
		// answered and 300 wait: 300 in 40 s is 7.5/s, 40 s left.
		setCounters := func(accepted, delivered, failed, queued int64) {
			db.Exec("UPDATE campaign_runs SET status = 'sending', audience = 700, sent = ?, delivered = ?, failed = ?, queued = ?, expanded_at = ? WHERE id = ?",
				accepted-delivered, delivered, failed, queued, now, run.ID)
		}
		setCounters(0, 0, 0, 700)
		if _, err := models.SampleRuns(ctx, db, now.Add(-130*time.Second)); err != nil {
			t.Fatal(err)
		}
		setCounters(90, 20, 10, 600)
		if _, err := models.SampleRuns(ctx, db, now.Add(-40*time.Second)); err != nil {
			t.Fatal(err)
		}
		setCounters(380, 200, 20, 300)
		r := bc.get(base + "/progress")
		want(t, r, http.StatusOK)
		doc = r.doc(t)
		// The sample's second is truncated and the request comes a little
		// after now: 300 answers over 40 s and a bit.
		spent := time.Since(now).Seconds() + 1
		var rate float64
		if _, err := fmt.Sscanf(doc.Find("[data-testid=rate-now]").Text(), "now %f msg/s", &rate); err != nil || rate > 7.5 || rate < 300/(40+spent)-0.05 {
			t.Fatalf("rate now %q (err %v)\n%.3000s", doc.Find("[data-testid=rate-now]").Text(), err, r.body)
		}
		// In words ("about 1 min 5 s left"), not Go's "1m5s".
		eta := strings.TrimSuffix(strings.TrimPrefix(doc.Find("[data-testid=eta]").Text(), "about "), " left")
		eta = strings.NewReplacer(" h", "h", " min", "m", " s", "s", " ", "").Replace(eta)
		if d, err := time.ParseDuration(eta); err != nil || d < 40*time.Second || d > time.Duration(40+spent+1)*time.Second ||
			!strings.Contains(doc.Find("[data-testid=eta]").Text(), " s left") {
			t.Fatalf("eta %q", doc.Find("[data-testid=eta]").Text())
		}
		// The chart's hint names the zone its minutes are in.
		if h := doc.Find("h3 .muted").Text(); !strings.Contains(h, "Asia/Shanghai (UTC+8)") {
			t.Fatalf("chart hint %q does not name the zone", h)
		}
		var chart struct {
			Labels []string `json:"labels"`
			Series []struct {
				Key  string  `json:"key"`
				Name string  `json:"name"`
				Data []int64 `json:"data"`
			} `json:"series"`
		}
		if err := json.Unmarshal([]byte(doc.Find("[data-testid=run-chart-data]").Text()), &chart); err != nil {
			t.Fatalf("chart data: %v\n%.3000s", err, r.body)
		}
		sum := map[string]int64{}
		for _, s := range chart.Series {
			if len(s.Data) != len(chart.Labels) {
				t.Fatalf("%s: %d points for %d minutes", s.Key, len(s.Data), len(chart.Labels))
			}
			for _, v := range s.Data {
				sum[s.Key] += v
			}
		}
		if len(chart.Labels) < 2 || sum["accepted"] != 90 || sum["delivered"] != 20 || sum["failed"] != 10 {
			t.Fatalf("chart %+v, sums %v", chart, sum)
		}
		if doc.Find("[data-testid=run-chart]").Length() != 1 {
			t.Fatal("no chart element")
		}
		// The page loads the chart library; other pages do not.
		if !strings.Contains(bc.get(base).body, "echarts-6.1.0.min") || strings.Contains(bc.get("/campaigns").body, "echarts-6.1.0.min") {
			t.Fatal("chart library not loaded on the campaign page alone")
		}
		// A past run keeps its chart: the run finishes and is chosen later.
		db.Exec("UPDATE campaign_runs SET status = 'completed', finished_at = ? WHERE id = ?", now, run.ID)
		doc = bc.get(base + "/progress?run=" + id(run.ID)).doc(t)
		if doc.Find("[data-testid=run-chart-data]").Length() != 1 || doc.Find("[data-testid=rate-now]").Length() != 0 {
			t.Fatal("a finished run's chart is gone, or it claims a current rate")
		}
	})
}
