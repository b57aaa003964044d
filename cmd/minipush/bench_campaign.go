package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat/sandbox"
)

// campaignBenchResult is what `minipush bench-campaign --json` prints.
type campaignBenchResult struct {
	Database    string  `json:"database"`
	Recipients  int     `json:"recipients"`
	SeedSeconds float64 `json:"seed_seconds"`
	// Audience counts on the seeded users, in SQL (milliseconds each).
	CountSubscribedMs float64 `json:"count_subscribed_ms"`
	CountTagsMs       float64 `json:"count_tags_ms"`
	CountAttrsMs      float64 `json:"count_attrs_ms"`
	TagsSize          int64   `json:"tags_size"`
	AttrsSize         int64   `json:"attrs_size"`
	// The run, as the `serve` process did it.
	FiringToRunSeconds float64 `json:"firing_to_run_seconds"` // the firing time to the run's start (the job ticks every 5 s)
	ExpansionSeconds   float64 `json:"expansion_seconds"`     // run start to expanded_at
	SendSeconds        float64 `json:"send_seconds"`          // run start to the last accepted send
	MsgsPerSec         float64 `json:"msgs_per_sec"`          // accepted / SendSeconds
	Accepted           int64   `json:"accepted"`
	Failed             int64   `json:"failed"`
	Skipped            int64   `json:"skipped"`
	Unknown            int64   `json:"unknown"`               // answers lost with the call (timeouts): never resent
	PeakRSSMB          float64 `json:"serve_peak_rss_mb"`     // VmHWM of the serve process
	RSSAtExpandedMB    float64 `json:"serve_rss_expanded_mb"` // its VmRSS when the expansion ended
	RSSSamplesMB       []int   `json:"serve_rss_every_10s_mb"`
	Samples            int64   `json:"run_samples"` // campaign_run_samples rows the job wrote
	Duplicates         int64   `json:"duplicates"`
}

// cmdBenchCampaign measures a campaign to N recipients through a real
// `minipush serve` child process: seeds a throwaway MySQL/MariaDB database
// with N users who allowed one template, times the audience counts, creates
// a campaign due in a few seconds, starts `serve` (its campaigns job fires
// and expands the run, its engine sends to an in-process sandbox) and
// follows the run to its end, sampling the child's memory.
func cmdBenchCampaign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-campaign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("db", envOr("MINIPUSH_DB", ""), "MySQL/MariaDB server: mysql:user:pass@tcp(host:3306)/any (a throwaway database is made there and dropped)")
	n := fs.Int("recipients", 1000000, "recipients (users who allowed the template, one credit each)")
	timeout := fs.Duration("timeout", 40*time.Minute, "give up after this long")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	keep := fs.Bool("keep", false, "keep the throwaway database (to look at it afterwards)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: minipush bench-campaign --db mysql:… [flags]\n\nA campaign to N recipients through a real `minipush serve` process on MySQL/MariaDB: audience count times,\nexpansion time, messages per second from the run's start to its last accepted send, and the peak RSS of the\nwhole serve process. WeChat is an in-process sandbox in this (parent) process, without pushes.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if t, err := models.ParseDSN(*dsn); err != nil || t.Dialect != models.DialectMySQL {
		return fmt.Errorf("--db: give a MySQL/MariaDB server (mysql:user:pass@tcp(host:3306)/any)")
	}
	deadline := time.Now().Add(*timeout)
	quiet := slog.New(slog.DiscardHandler)
	benchDSN, drop, err := benchDatabase(*dsn)
	if err != nil {
		return err
	}
	if !*keep {
		defer drop()
	}
	db, err := models.Open(ctx, benchDSN, models.OpenOptions{Logger: quiet, SlowQuery: time.Hour})
	if err != nil {
		return err
	}
	defer models.Close(db)
	if _, err := models.Migrate(ctx, db); err != nil {
		return err
	}
	progress := func(format string, a ...any) {
		if !*asJSON {
			fmt.Fprintf(stderr, "bench-campaign: "+format+"\n", a...)
		}
	}
	t, _ := models.ParseDSN(benchDSN)
	res := campaignBenchResult{Database: t.String(), Recipients: *n}

	sb := sandbox.New(sandbox.Options{Logger: quiet, DailyQuota: 1 << 40})
	defer sb.Close()
	sbURL, err := sb.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := models.NewSealer(key)
	if err != nil {
		return err
	}
	app, tpl, err := benchSetup(ctx, db, &inlineWeChat{sb: sb, url: sbURL}, sealer, "")
	if err != nil {
		return err
	}
	if err := db.Model(app).Updates(map[string]any{"daily_quota": int64(1) << 40}).Error; err != nil {
		return err
	}
	progress("seeding %d users who allowed the template...", *n)
	seed := time.Now()
	if err := benchCampaignSeed(ctx, db, sb, app, tpl, *n); err != nil {
		return err
	}
	res.SeedSeconds = time.Since(seed).Seconds()

	progress("counting audiences in SQL...")
	count := func(a models.Audience) (int64, float64, error) {
		c := &models.Campaign{AppID: app.ID, TemplateID: tpl.ID}
		c.SetAudience(a)
		st := time.Now()
		got, err := models.CountAudience(ctx, db, c, tpl, 500)
		return got.Size, float64(time.Since(st).Microseconds()) / 1000, err
	}
	if _, res.CountSubscribedMs, err = count(models.Audience{Kind: models.AudienceSubscribed}); err != nil {
		return err
	}
	if res.TagsSize, res.CountTagsMs, err = count(models.Audience{Kind: models.AudienceTags, Tags: []string{"vip"}}); err != nil {
		return err
	}
	if res.AttrsSize, res.CountAttrsMs, err = count(models.Audience{Kind: models.AudienceAttrs, Conds: []models.Cond{
		{Attr: "city", Op: "eq", Value: "sh"}, {Attr: "age", Op: "gt", Value: "60"}}}); err != nil {
		return err
	}

	progress("audience counts: everyone %.0f ms, tag vip (%d) %.0f ms, city = sh and age > 60 (%d) %.0f ms",
		res.CountSubscribedMs, res.TagsSize, res.CountTagsMs, res.AttrsSize, res.CountAttrsMs)

	// The campaign, due a few seconds after serve starts.
	firing := time.Now().UTC().Add(8 * time.Second).Truncate(time.Second)
	cp := &models.Campaign{AppID: app.ID, TemplateID: tpl.ID, Name: "bench", Status: models.CampaignScheduled, ScheduleKind: models.ScheduleOnce,
		RunAt: &firing, NextRunAt: &firing, Timezone: "Asia/Shanghai", MisfirePolicy: models.MisfireRun}
	cp.SetValues(map[string]models.Value{"thing1": {Value: "{{nickname}}的咖啡豆", Fallback: "咖啡豆 250g"}, "number2": {Value: "2"}})
	cp.SetAudience(models.Audience{Kind: models.AudienceSubscribed})
	if err := models.CreateCampaign(ctx, db, cp); err != nil {
		return err
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := os.CreateTemp("", "minipush-bench-campaign-serve-*.log")
	if err != nil {
		return err
	}
	defer logf.Close()
	child := exec.Command(exe, "serve", "--db", benchDSN, "--addr", addr, "--no-migrate")
	child.Env = append(os.Environ(), "MINIPUSH_SECRET_KEY="+base64.StdEncoding.EncodeToString(key))
	child.Stdout, child.Stderr = logf, logf
	progress("starting serve (log: %s); the campaign fires at %s", logf.Name(), firing.Format(time.TimeOnly))
	dieWithParent(child)
	if err := child.Start(); err != nil {
		return err
	}
	defer func() {
		_ = child.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = child.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = child.Process.Kill()
		}
	}()

	var run models.CampaignRun
	lastRSS := time.Time{}
	gaveUp := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			gaveUp = true // report what was done so far
			break
		}
		if err := child.Process.Signal(syscall.Signal(0)); err != nil {
			return fmt.Errorf("serve exited: see %s", logf.Name())
		}
		report := false
		if time.Since(lastRSS) >= 10*time.Second {
			lastRSS, report = time.Now(), true
			res.RSSSamplesMB = append(res.RSSSamplesMB, int(procStatusMB(child.Process.Pid, "VmRSS:")))
		}
		runs, err := models.ListRuns(ctx, db, cp.ID, 1)
		if err != nil || len(runs) == 0 {
			continue
		}
		wasExpanded := run.ExpandedAt != nil
		run = runs[0]
		if !wasExpanded && run.ExpandedAt != nil {
			res.RSSAtExpandedMB = procStatusMB(child.Process.Pid, "VmRSS:")
			progress("expanded %d deliveries in %.1fs", run.Audience, run.ExpandedAt.Sub(*run.StartedAt).Seconds())
		}
		if run.Status == models.RunCompleted || run.Status == models.RunFailed || run.Status == models.RunCanceled {
			break
		}
		if !*asJSON && report {
			progress("run %s: %d accepted, %d queued, %d failed; serve RSS %d MB", run.Status, run.Sent+run.Delivered, run.Queued, run.Failed,
				res.RSSSamplesMB[len(res.RSSSamplesMB)-1])
		}
	}
	res.PeakRSSMB = procStatusMB(child.Process.Pid, "VmHWM:")
	var last struct{ T *time.Time }
	if err := db.Raw("SELECT MAX(sent_at) AS t FROM deliveries WHERE run_id = ?", run.ID).Scan(&last).Error; err != nil {
		return err
	}
	lastSent := last.T
	if run.StartedAt == nil || lastSent == nil {
		return errors.New("the run has no start or send time")
	}
	res.FiringToRunSeconds = run.StartedAt.Sub(firing).Seconds()
	if run.ExpandedAt != nil {
		res.ExpansionSeconds = run.ExpandedAt.Sub(*run.StartedAt).Seconds()
	}
	res.SendSeconds = lastSent.Sub(*run.StartedAt).Seconds()
	res.Accepted, res.Failed, res.Skipped, res.Unknown = run.Sent+run.Delivered, run.Failed, run.Skipped, run.Unknown
	res.MsgsPerSec = float64(res.Accepted) / res.SendSeconds
	_ = db.Model(&models.RunSample{}).Where("run_id = ?", run.ID).Count(&res.Samples).Error
	pairs, accepted := sb.AcceptedSummary(benchAppID)
	res.Duplicates = accepted - pairs

	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(res); err != nil || !gaveUp {
			return err
		}
		return fmt.Errorf("gave up after %s with the run %s", *timeout, run.Status)
	}
	fmt.Fprintf(stdout, "database            %s\n", res.Database)
	fmt.Fprintf(stdout, "recipients          %d (seeded in %.1fs)\n", res.Recipients, res.SeedSeconds)
	fmt.Fprintf(stdout, "audience counts     everyone %.0f ms · tag vip (%d) %.0f ms · city = sh and age > 60 (%d) %.0f ms\n",
		res.CountSubscribedMs, res.TagsSize, res.CountTagsMs, res.AttrsSize, res.CountAttrsMs)
	fmt.Fprintf(stdout, "firing → run        %.1fs (the campaigns job ticks every 5 s)\n", res.FiringToRunSeconds)
	fmt.Fprintf(stdout, "expansion           %.1fs for %d deliveries\n", res.ExpansionSeconds, run.Audience)
	fmt.Fprintf(stdout, "run → last send     %.1fs: %.0f messages/s (%d accepted, %d failed, %d skipped, %d unknown)\n", res.SendSeconds, res.MsgsPerSec, res.Accepted, res.Failed, res.Skipped, res.Unknown)
	fmt.Fprintf(stdout, "serve RSS           peak %.0f MB; %.0f MB when expanded; every 10 s: %v MB\n", res.PeakRSSMB, res.RSSAtExpandedMB, res.RSSSamplesMB)
	fmt.Fprintf(stdout, "samples             %d rows of campaign_run_samples\n", res.Samples)
	fmt.Fprintf(stdout, "duplicates          %d\n", res.Duplicates)
	if gaveUp {
		return fmt.Errorf("gave up after %s with the run %s: %d of %d accepted (the figures above are so far)", *timeout, run.Status, res.Accepted, *n)
	}
	if res.Duplicates != 0 || res.Accepted != int64(*n) {
		return fmt.Errorf("%d duplicates, %d of %d accepted", res.Duplicates, res.Accepted, *n)
	}
	return nil
}

// benchCampaignSeed creates n users with a city, an age and (most) a
// nickname, one in ten tagged vip, each having allowed the template once
// (one credit here and one at the sandbox); in multi-row inserts of 1,000.
func benchCampaignSeed(ctx context.Context, db *gorm.DB, sb *sandbox.Server, app *models.App, tpl *models.Template, n int) error {
	db = db.WithContext(ctx)
	now := time.Now().UTC()
	const rows = 1000
	var sb2 strings.Builder
	for start := 0; start < n; start += rows {
		end := min(start+rows, n)
		sb2.Reset()
		sb2.WriteString("INSERT INTO users (app_id, openid, business_id, unionid, attributes, tags, created_at, updated_at) VALUES ")
		args := make([]any, 0, (end-start)*6)
		for i := start; i < end; i++ {
			if i > start {
				sb2.WriteByte(',')
			}
			sb2.WriteString("(?,?,'','',?,?,?,?)")
			city := "bj"
			if i%2 == 0 {
				city = "sh"
			}
			attrs := `{"city":"` + city + `","age":` + strconv.Itoa(18+i%60)
			if i%4 != 1 {
				attrs += `,"nickname":"顾客` + strconv.Itoa(i) + `"`
			}
			tags := "[]"
			if i%10 == 0 {
				tags = `["vip"]`
			}
			args = append(args, app.ID, benchOpenID(i), attrs+"}", tags, now, now)
		}
		if err := db.Exec(sb2.String(), args...).Error; err != nil {
			return err
		}
		for i := start; i < end; i++ {
			if err := sb.Grant(benchAppID, benchOpenID(i), benchTplID, 1); err != nil {
				return err
			}
		}
	}
	if err := db.Exec(`INSERT INTO subscriptions (user_id, template_id, credits, long_term, status, created_at, updated_at)
		SELECT id, ?, 1, 0, 'accept', ?, ? FROM users WHERE app_id = ?`, tpl.ID, now, now, app.ID).Error; err != nil {
		return err
	}
	return db.Exec(`INSERT INTO user_tags (app_id, tag, user_id) SELECT app_id, 'vip', id FROM users WHERE app_id = ? AND tags = '["vip"]'`, app.ID).Error
}

// procStatusMB reads a memory line of /proc/PID/status (VmRSS:, VmHWM:) in MB.
func procStatusMB(pid int, field string) float64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
