package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minipush/minipush/models"
)

// TestDemo starts `minipush demo` on a random port with a small seed and
// checks what it promises: a sign-in per role that works, a finished
// campaign whose deliveries are in the ledger (failures among them), a
// recurring campaign scheduled, and a simulator that keeps adding taps and
// messages; on Close its folder is gone.
func TestDemo(t *testing.T) {
	// Both ways taps are seeded run in either mode: pushed by the
	// sandbox, and applied in transactions.
	users, pushed := 1500, 1000
	if testing.Short() {
		users, pushed = 300, 150
	}
	ctx := context.Background()
	d, err := startDemo(ctx, demoOptions{Addr: "127.0.0.1:0", Users: users, Pushed: pushed, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = d.Close()
		}
	}()
	var banner strings.Builder
	printDemo(&banner, d)
	if !strings.Contains(banner.String(), d.URL) || len(d.Logins) != 3 {
		t.Fatalf("banner:\n%s", banner.String())
	}
	for _, l := range d.Logins {
		if !strings.Contains(banner.String(), l.Email) || !strings.Contains(banner.String(), l.Password) {
			t.Fatalf("banner lacks the %s sign-in:\n%s", l.Role, banner.String())
		}
		c := demoSignIn(t, d.URL, l)
		// Operators and admins see the finished campaign in the list;
		// support staff see the deliveries ledger (campaigns are not theirs).
		if l.Role == models.RoleSupport {
			demoGet(t, c, d.URL+"/campaigns", http.StatusForbidden)
			demoGet(t, c, d.URL+"/deliveries", http.StatusOK)
			continue
		}
		if body := demoGet(t, c, d.URL+"/campaigns", http.StatusOK); !strings.Contains(body, demoCampaignName) {
			t.Errorf("%s: /campaigns does not show %q", l.Role, demoCampaignName)
		}
	}

	// The finished campaign: its run completed, its counters match its
	// rows, and some failed (explained by WeChat's code).
	run, err := models.GetRun(ctx, d.db, d.Seed.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != models.RunCompleted || run.Delivered == 0 || run.Queued+run.Sending+run.Sent != 0 {
		t.Fatalf("run: %+v", run)
	}
	var rows []struct {
		Status string
		N      int64
	}
	d.db.Raw("SELECT status, COUNT(*) AS n FROM deliveries WHERE run_id = ? GROUP BY status", run.ID).Scan(&rows)
	got := map[string]int64{}
	for _, r := range rows {
		got[r.Status] = r.N
	}
	if got[models.DeliveryDelivered] != run.Delivered || got[models.DeliveryFailed] != run.Failed || got[models.DeliverySkipped] != run.Skipped {
		t.Fatalf("run counters %+v, rows %v", run, got)
	}
	var coded int64
	d.db.Raw("SELECT COUNT(*) FROM deliveries WHERE run_id = ? AND status = 'failed' AND errcode <> 0", run.ID).Scan(&coded)
	if run.Failed == 0 || coded == 0 {
		t.Errorf("no failure with WeChat's code among %d failed", run.Failed)
	}
	rec, err := models.GetCampaign(ctx, d.db, d.Seed.RecurringID)
	if err != nil || rec.Status != models.CampaignScheduled || rec.NextRunAt == nil || rec.ScheduleKind != models.ScheduleCron {
		t.Fatalf("recurring campaign: %+v, %v", rec, err)
	}
	var apiMsgs int64
	d.db.Raw("SELECT COUNT(*) FROM deliveries WHERE api_key_id IS NOT NULL").Scan(&apiMsgs)
	if apiMsgs < int64(d.Seed.APIMessages) || d.Seed.APIMessages == 0 {
		t.Fatalf("%d API messages in the ledger, %d sent", apiMsgs, d.Seed.APIMessages)
	}

	// Both seeding paths (taps pushed by the sandbox to /wx/push, and taps
	// applied by the function that endpoint calls) leave the console
	// holding what WeChat holds: per user and template, the same credits
	// and long-term subscriptions, after the campaign and the API spent some.
	demoCheckCredits(t, d, pushed)
	// The seeded history is in the past, and each user is first seen no
	// later than their first tap.
	var future, seenLate int64
	d.db.Raw("SELECT COUNT(*) FROM subscription_events WHERE created_at > ?", time.Now().UTC()).Scan(&future)
	d.db.Raw(`SELECT COUNT(*) FROM users u WHERE EXISTS (SELECT 1 FROM subscription_events e WHERE e.user_id = u.id AND e.created_at < u.created_at)`).Scan(&seenLate)
	if future != 0 || seenLate != 0 {
		t.Fatalf("%d subscription events in the future, %d users first seen after a tap", future, seenLate)
	}

	// The simulator adds taps and messages, delivered over time.
	d.sim = newDemoSim(d.Seed, 100*time.Millisecond)
	d.sim.start()
	count := func(q string) int64 {
		var n int64
		d.db.Raw(q).Scan(&n)
		return n
	}
	events0 := count("SELECT COUNT(*) FROM subscription_events")
	delivered0 := count("SELECT COUNT(*) FROM deliveries WHERE status = 'delivered'")
	deadline := time.Now().Add(60 * time.Second)
	for {
		events, delivered := count("SELECT COUNT(*) FROM subscription_events"), count("SELECT COUNT(*) FROM deliveries WHERE status = 'delivered'")
		if events > events0 && delivered > delivered0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the simulator added nothing in 60 s: events %d → %d, delivered %d → %d (sim errors %d)",
				events0, events, delivered0, delivered, d.sim.Errors.Load())
		}
		time.Sleep(200 * time.Millisecond)
	}
	dir := d.Dir
	closed = true
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the demo's folder %s is still there: %v", dir, err)
	}
}

// demoSignIn signs in through the login form and returns a client holding the session.
func demoSignIn(t *testing.T, base string, l demoLogin) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	demoGet(t, c, base+"/login", http.StatusOK)
	u, _ := url.Parse(base)
	var csrf string
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "minipush_csrf" {
			csrf = ck.Value
		}
	}
	resp, err := c.PostForm(base+"/login", url.Values{"email": {l.Email}, "password": {l.Password}, "_csrf": {csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("%s sign-in: %d → %q", l.Role, resp.StatusCode, resp.Header.Get("Location"))
	}
	body := demoGet(t, c, base+"/", http.StatusOK)
	if !strings.Contains(body, l.Email) && !strings.Contains(body, "data-testid") {
		t.Fatalf("%s: the dashboard after sign-in does not look signed in", l.Role)
	}
	return c
}

func demoGet(t *testing.T, c *http.Client, u string, want int) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d\n%.2000s", u, resp.StatusCode, want, b)
	}
	return string(b)
}

// demoCheckCredits compares every user's credits and long-term
// subscriptions in the console with the sandbox's.
func demoCheckCredits(t *testing.T, d *demo, pushed int) {
	t.Helper()
	var subs []struct {
		OpenID     string `gorm:"column:openid"`
		TemplateID string
		Credits    int
		LongTerm   bool
	}
	d.db.Raw(`SELECT u.openid, t.template_id, s.credits, s.long_term FROM subscriptions s
		JOIN users u ON u.id = s.user_id JOIN templates t ON t.id = s.template_id`).Scan(&subs)
	type key struct{ openid, tpl string }
	have := map[key][2]int{}
	for _, s := range subs {
		have[key{s.OpenID, s.TemplateID}] = [2]int{s.Credits, boolInt(s.LongTerm)}
	}
	viaPush, applied, bad := 0, 0, 0
	for i, o := range d.Seed.openids {
		for _, tpl := range d.Seed.Templates {
			c, lt := d.sb.Credits(demoAppID, o, tpl.TemplateID)
			want := [2]int{c, boolInt(lt)}
			if got := have[key{o, tpl.TemplateID}]; got != want {
				bad++
				if bad <= 5 {
					t.Errorf("user %d %s, template %s: console credits/long-term %v, WeChat %v", i, o, tpl.Title, got, want)
				}
			}
		}
		if i < pushed {
			viaPush++
		} else {
			applied++
		}
	}
	if bad > 0 {
		t.Fatalf("%d user-template pairs differ (users pushed %d, applied %d)", bad, viaPush, applied)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
