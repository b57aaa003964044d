package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// The operator's journey of issue 9: compose a campaign with a personalised
// keyword and a rule error, see the audience and reachable counts, fix it,
// send now, pause and resume it while it runs, and watch the progress reach
// 100 %.
func TestBrowserCampaignJourney(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db, withEngine(t))
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		w := newCampaignWorld(t, app.signedIn(boss), db, 80)              // 60 can receive it
		db.Exec("UPDATE apps SET rate_limit = 12 WHERE id = ?", w.app.ID) // about 5 s of sending
		mustStaff(t, db, "op@example.com", models.RoleOperator)
		ctx := browser(t)
		ctx, cancel := context.WithTimeout(ctx, 55*time.Second)
		defer cancel()
		do(t, ctx,
			chromedp.Navigate(app.srv.URL+"/login"),
			chromedp.WaitVisible(`[data-testid=login]`),
			chromedp.SendKeys(`#f-email`, "op@example.com"),
			chromedp.SendKeys(`#f-password`, "correct horse battery"),
			chromedp.Click(`[data-testid=login-submit]`),
			chromedp.WaitVisible(`[data-testid=dashboard]`),
			chromedp.Click(`[data-testid=nav-campaigns]`),
			chromedp.WaitVisible(`[data-testid=empty]`),
			chromedp.Click(`[data-testid=new-campaign]`),
			chromedp.WaitVisible(`[data-testid=pick-template]`),
			chromedp.Submit(`[data-testid=pick-template]`),
			chromedp.WaitVisible(`[data-testid=campaign-form]`),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#f-name').value = ''`),
			chromedp.SendKeys(`#f-name`, "Double 11 shipping"),
			chromedp.SendKeys(`#kw-thing1`, "{{nickname}}的包裹"),
			chromedp.SendKeys(`#fb-thing1`, "您的包裹"),
			chromedp.SendKeys(`#kw-number2`, "两件"),
			chromedp.WaitVisible(`[data-testid=check-error-number2]`),
			chromedp.WaitVisible(`[data-testid=audience-reachable]`),
		)
		// The live check swaps the counts out at every keystroke's answer: read
		// both in one script (a node fetched, then read, may be gone by then),
		// once the last answer is in.
		counts := get(t, ctx, chromedp.Poll[[]string](`(() => {
			const r = document.querySelector('[data-testid=audience-reachable]'), s = document.querySelector('[data-testid=audience-size]');
			return r && s && r.textContent.trim() === '60' ? [r.textContent.trim(), s.textContent.trim()] : null;
		})()`, chromedp.WithPollingTimeout(10*time.Second)))
		if len(counts) != 2 || counts[0] != "60" || counts[1] != "80" {
			t.Fatalf("reachable / audience %q, want 60 / 80", counts)
		}
		screenshot(t, ctx, "1-compose-error")
		do(t, ctx,
			chromedp.Click(`[data-testid=save-campaign]`),
			chromedp.WaitVisible(`[data-testid=error-kw-number2]`),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#kw-number2').value = ''`),
			chromedp.SendKeys(`#kw-number2`, "1"),
			chromedp.Click(`[data-testid=save-campaign]`),
			chromedp.WaitVisible(`[data-testid=send-now]`),
			chromedp.WaitVisible(`[data-testid=audience-counts]`),
		)
		screenshot(t, ctx, "2-campaign")
		get(t, ctx, chromedp.Evaluate[bool](`(window.confirm = () => true, true)`))
		do(t, ctx,
			chromedp.Click(`[data-testid=send-now]`),
			chromedp.WaitVisible(`[data-testid=progress]`),
		)
		c := lastCampaign(t, db)
		run, err := models.ActiveRun(context.Background(), db, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		// No job runner here: expand and sample as the campaigns job would
		// (its sample of a tick before, when nothing was answered yet, is
		// dated 10 s back so the page has a rate to show at once).
		if _, err := models.SampleRuns(context.Background(), db, time.Now().Add(-10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := models.ExpandRun(context.Background(), db, run.ID, 50); err != nil {
			t.Fatal(err)
		}
		sample := func() {
			if _, err := models.SampleRuns(context.Background(), db, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		waitSent := func(atLeast int64) {
			deadline := time.Now().Add(30 * time.Second)
			for {
				r, _ := models.GetRun(context.Background(), db, run.ID)
				if r.Sent+r.Delivered >= atLeast {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("sends stalled: %+v", r)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		waitSent(6)
		sample()
		// The page open since "send now" may be reloading itself right now
		// (its progress poll asks for a refresh when the run moves from
		// expanding to sending): a navigation it aborts is made again.
		for try := 0; ; try++ {
			err := chromedp.Do(ctx, chromedp.Navigate(app.srv.URL+"/campaigns/"+id(c.ID)))
			if err == nil {
				break
			}
			if try == 2 || !strings.Contains(err.Error(), "ERR_ABORTED") {
				t.Fatal(err)
			}
		}
		do(t, ctx,
			chromedp.WaitVisible(`[data-testid=pause]`),
			chromedp.Click(`[data-testid=pause]`),
			chromedp.WaitVisible(`[data-testid=resume]`),
			chromedp.WaitVisible(`[data-testid=progress][data-status=paused]`),
		)
		time.Sleep(time.Second) // what was in flight lands
		r1, _ := models.GetRun(context.Background(), db, run.ID)
		time.Sleep(1500 * time.Millisecond)
		r2, _ := models.GetRun(context.Background(), db, run.ID)
		if r2.Sent+r2.Delivered != r1.Sent+r1.Delivered || r2.Paused == 0 {
			t.Fatalf("sending went on while paused: %+v → %+v", r1, r2)
		}
		screenshot(t, ctx, "3-paused")
		do(t, ctx,
			chromedp.Click(`[data-testid=resume]`),
			chromedp.WaitVisible(`[data-testid=pause]`),
		)
		// Sending again: the rate over the last 30 s and the chart (drawn by
		// ECharts into a canvas), refreshed by the 2 s poll.
		do(t, ctx,
			chromedp.WaitVisible(`[data-testid=rate-now]`),
			chromedp.WaitVisible(`[data-testid=run-chart][data-drawn] canvas`),
		)
		if rate := get(t, ctx, chromedp.Text(`[data-testid=rate-now]`)); !strings.Contains(rate, "msg/s") || strings.HasPrefix(rate, "now 0.0 ") {
			t.Fatalf("current rate %q", rate)
		}
		screenshot(t, ctx, "3b-rate-and-chart")
		deadline := time.Now().Add(40 * time.Second)
		for {
			sample()
			if _, err := models.FinishRuns(context.Background(), db, time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
			if r, _ := models.GetRun(context.Background(), db, run.ID); r.Status == models.RunCompleted {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the run did not complete")
			}
			time.Sleep(200 * time.Millisecond)
		}
		do(t, ctx, chromedp.WaitVisible(`[data-testid=progress][data-status=completed]`))
		if pct := get(t, ctx, chromedp.Text(`[data-testid=progress-percent]`)); pct != "100%" {
			t.Fatalf("progress %q", pct)
		}
		// The finished run keeps its chart: once the job's next sample is
		// taken (a second later), every accepted message is in a bar.
		time.Sleep(1100 * time.Millisecond)
		sample()
		do(t, ctx,
			chromedp.Navigate(app.srv.URL+"/campaigns/"+id(c.ID)),
			chromedp.WaitVisible(`[data-testid=progress][data-status=completed]`),
			chromedp.WaitVisible(`[data-testid=run-chart][data-drawn] canvas`),
		)
		sent := get(t, ctx, chromedp.Evaluate[float64](`JSON.parse(document.querySelector('[data-testid=run-chart-data]').textContent).series[0].data.reduce((a, b) => a + b, 0)`))
		if sent != 60 {
			t.Fatalf("the chart shows %v accepted messages, want 60", sent)
		}
		screenshot(t, ctx, "4-done")
		for i, u := range w.users {
			want := int64(1)
			if i%4 == 3 {
				want = 0
			}
			if got := w.sb.Count(testAppID, u.OpenID, w.tpl.TemplateID); got != want {
				t.Fatalf("%s received %d, want %d", u.OpenID, got, want)
			}
		}
		if txt := get(t, ctx, chromedp.Text(`[data-testid=count-skipped]`)); txt != "20" {
			t.Fatalf("skipped %q, want 20", txt)
		}
	})
}
