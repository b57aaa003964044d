package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/wechat/sandbox"
)

// seedCampaign runs one campaign to everyone who allowed "order shipped",
// through the campaigns job's code and the delivery engine, while the
// sandbox misbehaves as WeChat does on a bad day: 3 % of sends answer -1
// (retried), 2 % of accepted messages come back failed in the sent event,
// and a few users' credits were spent outside minipush (43101). Users who
// rejected or turned the template off are skipped without a call.
func (s *demoSeed) seedCampaign(ctx context.Context) error {
	tpl := s.Templates["order_shipped"]
	// Credits spent outside minipush (another backend sent with them):
	// WeChat holds none, minipush still counts one.
	for i, o := range s.withOrderCredit {
		if i%150 == 7 {
			if err := s.sb.Grant(demoAppID, o, tpl.TemplateID, -2); err != nil {
				return err
			}
		}
	}
	if err := s.sb.SetFaults(demoAppID, sandbox.Faults{ErrorRate: 0.03, SentEventFailRate: 0.02}); err != nil {
		return err
	}
	op := s.staff[models.RoleOperator]
	c := &models.Campaign{AppID: s.app.ID, TemplateID: tpl.ID, Name: demoCampaignName, Status: models.CampaignDraft,
		Page: "pages/order/detail", ScheduleKind: models.ScheduleNow, Timezone: "Asia/Shanghai", MisfirePolicy: models.MisfireSkip,
		MPState: string(models.MPFormal), Lang: "zh_CN", CreatedBy: &op.ID, AutoPausePct: 20}
	c.SetValues(map[string]models.Value{
		"thing1":            {Value: "{{product}}", Fallback: "您的订单商品"},
		"thing4":            {Value: "顺丰速运"},
		"character_string5": {Value: "SF1111202611"},
		"phrase9":           {Value: "已发货"},
	})
	c.SetAudience(models.Audience{Kind: models.AudienceSubscribed})
	if err := models.CreateCampaign(ctx, s.db, c); err != nil {
		return err
	}
	s.CampaignID = c.ID
	now := time.Now().UTC()
	if _, err := models.ScheduleCampaign(ctx, s.db, c, op.ID, now); err != nil {
		return err
	}
	id := strconv.FormatInt(c.ID, 10)
	if err := s.auditCampaign(ctx, id, "campaign.create", "campaign.schedule"); err != nil {
		return err
	}
	// The campaigns job's work, done here until the run completes.
	job := &scheduler.Campaigns{DB: s.db, Log: s.log, Notify: s.engine.Notify}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := job.Tick(ctx); err != nil {
			return err
		}
		runs, err := models.ListRuns(ctx, s.db, c.ID, 1)
		if err != nil {
			return err
		}
		if len(runs) == 1 && runs[0].Status == models.RunCompleted && runs[0].Sent == 0 {
			r := runs[0]
			s.RunID, s.RunDelivered, s.RunFailed, s.RunSkipped = r.ID, r.Delivered, r.Failed, r.Skipped
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the campaign did not finish in 2 minutes: %+v", runs)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	// WeChat has a better day afterwards; a few messages still bounce.
	return s.sb.SetFaults(demoAppID, sandbox.Faults{SentEventFailRate: 0.01})
}

func (s *demoSeed) auditCampaign(ctx context.Context, id string, actions ...string) error {
	for _, a := range actions {
		if err := models.Audit(ctx, s.db, s.actor(models.RoleOperator), a, "campaign", id, nil); err != nil {
			return err
		}
	}
	return nil
}

// seedRecurring schedules a weekly campaign: activity reminders every
// Friday at 20:00 China time, to users tagged vip.
func (s *demoSeed) seedRecurring(ctx context.Context) error {
	tpl := s.Templates["activity"]
	op := s.staff[models.RoleOperator]
	c := &models.Campaign{AppID: s.app.ID, TemplateID: tpl.ID, Name: demoRecurringName, Status: models.CampaignDraft,
		Page: "pages/activity/index", ScheduleKind: models.ScheduleCron, CronExpr: "0 20 * * 5", Timezone: "Asia/Shanghai",
		MisfirePolicy: models.MisfireRun, MPState: string(models.MPFormal), Lang: "zh_CN", CreatedBy: &op.ID, AutoPausePct: 10}
	c.SetValues(map[string]models.Value{
		"thing1": {Value: "周五会员专场"},
		"time2":  {Value: "20:00"},
		"thing3": {Value: "{{city}}门店及线上直播间", Fallback: "线上直播间"},
		"thing4": {Value: "{{nickname}}，会员券已放入卡包", Fallback: "会员券已放入卡包"},
	})
	c.SetAudience(models.Audience{Kind: models.AudienceTags, Tags: []string{"vip"}})
	if err := models.CreateCampaign(ctx, s.db, c); err != nil {
		return err
	}
	if _, err := models.ScheduleCampaign(ctx, s.db, c, op.ID, time.Now().UTC()); err != nil {
		return err
	}
	got, err := models.GetCampaign(ctx, s.db, c.ID)
	if err != nil {
		return err
	}
	if got.NextRunAt == nil {
		return fmt.Errorf("recurring campaign %d has no next firing", c.ID)
	}
	s.RecurringID, s.RecurringNext = c.ID, *got.NextRunAt
	return s.auditCampaign(ctx, strconv.FormatInt(c.ID, 10), "campaign.create", "campaign.schedule")
}

// seedAPIMessages sends payment receipts through the JSON API with the
// demo key (each with an Idempotency-Key) and waits for them to settle.
func (s *demoSeed) seedAPIMessages(ctx context.Context) error {
	r := rand.New(rand.NewPCG(2026, 13))
	n := min(40, len(s.withPayCredit))
	for i := range n {
		if err := s.sendPayment(ctx, r, s.withPayCredit[i], "demo-pay-"+strconv.Itoa(i)); err != nil {
			return err
		}
	}
	s.APIMessages = n
	return nil
}

// sendPayment sends one payment receipt through the API.
func (s *demoSeed) sendPayment(ctx context.Context, r *rand.Rand, openid, key string) error {
	tpl := s.Templates["payment"]
	now := time.Now().In(s.loc)
	body := map[string]any{"template_id": tpl.TemplateID, "openid": openid, "page": "pages/order/detail?id=" + key,
		"data": map[string]string{
			"amount1":           fmt.Sprintf("¥%d.%02d", 10+r.IntN(990), r.IntN(100)),
			"time2":             now.Format("2006-01-02 15:04"),
			"character_string3": fmt.Sprintf("PAY%s%04d", now.Format("20060102"), r.IntN(10000)),
			"thing4":            demoProducts[r.IntN(len(demoProducts))],
		}}
	var out struct {
		ID int64 `json:"id"`
	}
	return s.api(ctx, "POST", "/api/v1/messages", key, body, &out)
}
