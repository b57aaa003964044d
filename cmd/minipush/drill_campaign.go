package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat/sandbox"
)

// drillSeedUsers makes n users of the bench app subscribed to its
// template with one credit each (two at the sandbox, so a duplicate would
// be accepted and counted), and no delivery: a campaign makes them.
func drillSeedUsers(ctx context.Context, e *drillEnv, n int) error {
	const rows = 1000
	now := time.Now().UTC()
	db := e.db.WithContext(ctx)
	for start := 0; start < n; start += rows {
		end := min(start+rows, n)
		var sql strings.Builder
		sql.WriteString("INSERT INTO users (app_id, openid, attributes, tags, created_at, updated_at) VALUES ")
		args := make([]any, 0, 6*(end-start))
		for i := start; i < end; i++ {
			if i > start {
				sql.WriteString(",")
			}
			sql.WriteString("(?, ?, '{}', '[]', ?, ?)")
			args = append(args, e.app.ID, benchOpenID(i), now, now)
			if err := e.sb.Grant(benchAppID, benchOpenID(i), benchTplID, 2); err != nil {
				return err
			}
		}
		if err := db.Exec(sql.String(), args...).Error; err != nil {
			return err
		}
	}
	return db.Exec(`INSERT INTO subscriptions (user_id, template_id, credits, long_term, status, created_at, updated_at)
		SELECT id, ?, 1, ?, ?, ?, ? FROM users WHERE app_id = ?`, e.tpl.ID, false, models.SubAccept, now, now, e.app.ID).Error
}

// drillStartCampaign composes a "send now" campaign to everyone subscribed
// to the template and starts its run the way the console's Schedule does
// (ScheduleCampaign, then StartCampaignRun for the firing it set); the
// campaigns job of the instances expands and finishes it.
func drillStartCampaign(ctx context.Context, e *drillEnv, now time.Time) (int64, error) {
	staff, err := models.CreateStaff(ctx, e.db, "drill@example.com", "drill", "drill password 1234", models.RoleOperator, "zh")
	if err != nil {
		return 0, err
	}
	c := &models.Campaign{AppID: e.app.ID, TemplateID: e.tpl.ID, Name: "drill " + e.name, ScheduleKind: models.ScheduleNow,
		Timezone: "Asia/Shanghai", MisfirePolicy: models.MisfireRun, CreatedBy: &staff.ID}
	c.SetValues(map[string]models.Value{"thing1": {Value: "{{item}}", Fallback: "咖啡豆 250g"}, "number2": {Value: "2"}})
	c.SetAudience(models.Audience{Kind: models.AudienceSubscribed})
	if err := models.CreateCampaign(ctx, e.db, c); err != nil {
		return 0, err
	}
	if _, err := models.ScheduleCampaign(ctx, e.db, c, staff.ID, now); err != nil {
		return 0, err
	}
	c, err = models.GetCampaign(ctx, e.db, c.ID)
	if err != nil {
		return 0, err
	}
	run, err := models.StartCampaignRun(ctx, e.db, models.StartRun{CampaignID: c.ID, ScheduledFor: now, Now: now, ExpectNextRunAt: c.NextRunAt})
	if err != nil {
		return 0, err
	}
	return run.ID, nil
}

// drillCampaignEnv sets up a scenario with a campaign: n users, the
// sandbox's faults, the instances started, then the run.
func drillCampaignEnv(ctx context.Context, c drillConfig, name string, opts sandbox.Options, f sandbox.Faults, instances int) (*drillEnv, int64, time.Time, error) {
	e, err := newDrillEnv(ctx, name, c.dsn, c.serveBin, opts, c.stderr)
	if err != nil {
		return nil, 0, time.Time{}, err
	}
	fail := func(err error) (*drillEnv, int64, time.Time, error) { e.close(); return nil, 0, time.Time{}, err }
	e.say("seeding %d users...", c.users)
	if err := drillSeedUsers(ctx, e, c.users); err != nil {
		return fail(err)
	}
	f.Latency = c.latency
	if err := e.sb.SetFaults(benchAppID, f); err != nil {
		return fail(err)
	}
	for i := range instances {
		if _, err := e.start(i); err != nil {
			return fail(err)
		}
	}
	t0 := time.Now()
	runID, err := drillStartCampaign(ctx, e, t0)
	if err != nil {
		return fail(err)
	}
	e.say("run #%d started on %d instance(s) (logs in %s)", runID, instances, e.logDir)
	return e, runID, t0, nil
}

// drillKillRestart: kill -9 of the only `serve` in the middle of a
// campaign, twice, each time restarted; the restarts finish it.
func drillKillRestart(ctx context.Context, c drillConfig) (*drillReport, error) {
	e, runID, t0, err := drillCampaignEnv(ctx, c, "kill-restart", sandbox.Options{}, sandbox.Faults{}, 1)
	if err != nil {
		return nil, err
	}
	defer e.close()
	rep := &drillReport{Users: c.users, Logs: e.logDir, Killed: true, Injected: []string{fmt.Sprintf("1 serve, %s latency", c.latency)}}
	state := func() (string, error) {
		s, err := drillExpanded(ctx, e.db, runID)
		return "audience expanded: " + s, err
	}
	for _, at := range []float64{0.39, 0.76} {
		k, err := e.killAt(ctx, at, c.users, true, state)
		if err != nil {
			return nil, err
		}
		rep.Injected = append(rep.Injected, k)
	}
	return rep, e.settleAndCount(ctx, c, rep, runID, t0)
}

// drillExpanded says how much of the run's audience was expanded.
func drillExpanded(ctx context.Context, db *gorm.DB, runID int64) (string, error) {
	r, err := models.GetRun(ctx, db, runID)
	if err != nil {
		return "", err
	}
	if r.ExpandedAt != nil {
		return "all " + strconv.FormatInt(r.Audience, 10), nil
	}
	return strconv.FormatInt(r.Audience, 10) + " so far", nil
}

// drillPushStorm: two instances send a campaign while WeChat pushes half
// of the sent events four times, each copy up to 2 s late (duplicates,
// out of order), 2 % of them reporting a failure.
func drillPushStorm(ctx context.Context, c drillConfig) (*drillReport, error) {
	f := sandbox.Faults{PushRepeatRate: 0.5, PushRepeats: 3, PushJitter: 2 * time.Second, SentEventFailRate: 0.02}
	e, runID, t0, err := drillCampaignEnv(ctx, c, "push-storm", sandbox.Options{}, f, 2)
	if err != nil {
		return nil, err
	}
	defer e.close()
	rep := &drillReport{Users: c.users, Logs: e.logDir, Injected: []string{
		fmt.Sprintf("2 serve, %s latency; half of the pushes sent 3 more times, every push up to 2 s late; 2 %% of sent events report failure 10005", c.latency)}}
	if err := e.settleAndCount(ctx, c, rep, runID, t0); err != nil {
		return nil, err
	}
	var rows, msgids int64
	if err := e.db.WithContext(ctx).Model(&models.SentEvent{}).Count(&rows).Error; err != nil {
		return nil, err
	}
	if err := e.db.WithContext(ctx).Model(&models.SentEvent{}).Distinct("msgid").Count(&msgids).Error; err != nil {
		return nil, err
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("%d pushes (%d repeats) became %d stored sent events for %d msgids",
		rep.Sandbox.PushesSent, rep.Sandbox.PushesRepeated, rows, msgids))
	return rep, nil
}
