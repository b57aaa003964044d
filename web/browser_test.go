package web_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// browser starts headless Chromium for a test. Without Chromium the test is
// skipped loudly, except under CI=true, where that is a failure.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		msg := "\n*** Chromium not found: browser tests are SKIPPED (apt-get install chromium).\n"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "*** Under CI=true this is a failure.")
		}
		fmt.Fprint(os.Stderr, msg)
		t.Skip(msg)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1366, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// screenshot saves a full-page PNG under screenshots/ at the repository root.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "screenshots")
	_ = os.MkdirAll(dir, 0o755)
	safe := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	if err := os.WriteFile(filepath.Join(dir, safe+"-"+name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBrowserSetupStaffAndLanguage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		ctx := browser(t)
		base := app.srv.URL
		do(t, ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(`[data-testid=setup]`))
		if location := get(t, ctx, chromedp.Location()); !strings.HasSuffix(location, "/setup") {
			t.Fatalf("a fresh console opened %s, want the setup page", location)
		}
		screenshot(t, ctx, "1-setup")
		// Chromium asks for English; switch to Chinese before signing up.
		do(t, ctx, chromedp.Click(`[data-testid=lang-zh]`), chromedp.WaitVisible(`html[lang="zh-CN"] [data-testid=setup]`))
		if h := get(t, ctx, chromedp.Text(`h1`)); h != "创建首个管理员" {
			t.Fatalf("setup heading after switching to Chinese: %q", h)
		}
		// A mismatched repetition re-renders the form with the error under the field.
		do(t, ctx,
			chromedp.SendKeys(`#f-email`, "boss@example.com"),
			chromedp.SendKeys(`#f-name`, "老板"),
			chromedp.SendKeys(`#f-password`, "correct horse battery"),
			chromedp.SendKeys(`#f-password2`, "something else entirely"),
			chromedp.Click(`[data-testid=setup-submit]`),
			chromedp.WaitVisible(`[data-testid=error-password2]`),
			chromedp.SendKeys(`#f-password`, "correct horse battery"),
			chromedp.SendKeys(`#f-password2`, "correct horse battery"),
			chromedp.Click(`[data-testid=setup-submit]`),
			chromedp.WaitVisible(`[data-testid=dashboard]`),
		)
		if heading := get(t, ctx, chromedp.Text(`h1`)); heading != "概览" {
			t.Fatalf("dashboard heading %q", heading)
		}
		screenshot(t, ctx, "2-dashboard")

		do(t, ctx,
			chromedp.Click(`[data-testid=nav-staff]`),
			chromedp.WaitVisible(`[data-testid=staff-table]`),
			chromedp.Click(`[data-testid=staff-new]`),
			chromedp.WaitVisible(`[data-testid=staff-form]`),
			chromedp.SendKeys(`#f-email`, "ops@example.com"),
			chromedp.SetValue(`#f-role`, "operator"),
			chromedp.SendKeys(`#f-password`, "another long password"),
			chromedp.Click(`[data-testid=staff-submit]`),
			chromedp.WaitVisible(`[data-testid=flash]`),
		)
		if staffTable := get(t, ctx, chromedp.Text(`[data-testid=staff-table]`)); !strings.Contains(staffTable, "ops@example.com") || !strings.Contains(staffTable, "运营") {
			t.Fatalf("staff table after adding: %q", staffTable)
		}
		screenshot(t, ctx, "3-staff")

		// Resetting a password asks first; cancelling changes nothing.
		ops, err := models.GetStaffByEmail(context.Background(), db, "ops@example.com")
		if err != nil {
			t.Fatal(err)
		}
		do(t, ctx,
			chromedp.Navigate(base+"/settings/staff/"+id(ops.ID)+"/edit"),
			chromedp.WaitVisible(`[data-testid=reset-form]`),
			chromedp.SendKeys(`[data-testid=reset-form] input[name=password]`, "a brand new password"),
		)
		get(t, ctx, chromedp.Evaluate[bool](`(window.confirm = () => false, true)`))
		do(t, ctx, chromedp.Click(`[data-testid=reset-submit]`), chromedp.Sleep(500*time.Millisecond))
		if s, _ := models.GetStaff(context.Background(), db, ops.ID); !s.CheckPassword("another long password") {
			t.Fatal("a cancelled confirmation still reset the password")
		}
		get(t, ctx, chromedp.Evaluate[bool](`(window.confirm = () => true, true)`))
		do(t, ctx, chromedp.Click(`[data-testid=reset-submit]`), chromedp.WaitVisible(`[data-testid=staff-table]`))
		if s, _ := models.GetStaff(context.Background(), db, ops.ID); !s.CheckPassword("a brand new password") {
			t.Fatal("a confirmed reset did not change the password")
		}

		do(t, ctx, chromedp.Click(`[data-testid=lang-en]`), chromedp.WaitVisible(`html[lang="en"] [data-testid=staff-table]`))
		if nav := get(t, ctx, chromedp.Text(`[data-testid=nav]`)); !strings.Contains(nav, "Campaigns") || !strings.Contains(nav, "Audit log") {
			t.Fatalf("navigation after switching to English: %q", nav)
		}
		screenshot(t, ctx, "4-english")
		s, err := models.GetStaffByEmail(context.Background(), db, "boss@example.com")
		if err != nil || s.Lang != "en" {
			t.Fatalf("language not saved for the staff member: %+v %v", s, err)
		}
	})
}

// do runs browser steps, failing the test on the first error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// get runs one browser action that returns a value.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
