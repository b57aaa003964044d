package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

// drillReport is what one scenario injected and counted at its end.
type drillReport struct {
	Name     string   `json:"name"`
	Users    int      `json:"users"`
	Injected []string `json:"injected"` // what was done to the system, in order
	Killed   bool     `json:"killed"`   // an instance was killed (a request may have died with it)
	Notes    []string `json:"notes"`    // what was seen along the way (takeover, pause, ...)

	PerUser          [3]int64         `json:"per_user_0_1_2"` // users WeChat accepted 0, 1, 2+ messages for
	Duplicates       int64            `json:"duplicates"`
	Lost             int64            `json:"lost"`
	Spent            int64            `json:"credits_spent"`
	Refunded         int64            `json:"credits_refunded"`
	Left             int64            `json:"credits_left"`
	LedgerOK         bool             `json:"ledger_consistent"`
	Statuses         map[string]int64 `json:"statuses"`
	AcceptedUnsettle int64            `json:"accepted_unknown_or_sent"`
	PushLost         int64            `json:"accepted_unsettled_push_given_up"` // of them, whose sent event WeChat gave up pushing
	UnknownNotSent   int64            `json:"unknown_never_at_wechat"`          // unknown rows WeChat has no message for (the request died with its instance)
	EventsGivenUp    int64            `json:"events_given_up"`
	Sandbox          sandbox.Stats    `json:"sandbox"`

	// Campaign scenarios: the run, its counters against its rows.
	RunID       int64            `json:"run_id,omitempty"`
	Runs        int64            `json:"runs,omitempty"` // runs of the campaign (one firing: must be 1)
	RunStatus   string           `json:"run_status,omitempty"`
	Audience    int64            `json:"audience,omitempty"`
	RunCounters map[string]int64 `json:"run_counters,omitempty"`
	RunRows     map[string]int64 `json:"run_rows,omitempty"`
	CountersOK  bool             `json:"run_counters_match_rows"`

	SendSeconds   float64 `json:"send_seconds"`   // start → last message accepted by WeChat
	SettleSeconds float64 `json:"settle_seconds"` // last message accepted → every delivery settled (or the wait ended)
	Settled       bool    `json:"settled"`
	Logs          string  `json:"logs"`
}

func (r *drillReport) ok() bool {
	// Unknown rows WeChat never saw are requests that died with a killed
	// instance; with none killed they are messages lost.
	ok := r.Duplicates == 0 && r.Lost == 0 && r.LedgerOK && r.AcceptedUnsettle == r.PushLost && (r.Killed || r.UnknownNotSent == 0)
	if r.RunID != 0 {
		ok = ok && r.CountersOK && r.Runs == 1 && r.RunStatus == models.RunCompleted
	}
	return ok
}

// settleAndCount waits for the end (nothing queued, sending or sent,
// WeChat's pushes drained, no accepted message unsettled, the run, if
// any, completed) or for c.wait after the last accepted message, then
// counts into rep.
func (e *drillEnv) settleAndCount(ctx context.Context, c drillConfig, rep *drillReport, runID int64, t0 time.Time) error {
	var lastAccepted time.Time
	prev := int64(-1)
	for {
		if a := e.sb.TotalAccepted(); a != prev {
			prev, lastAccepted = a, time.Now()
		}
		done, err := e.settled(ctx, runID)
		if err != nil {
			return err
		}
		if done {
			rep.Settled = true
			break
		}
		if time.Since(lastAccepted) > c.wait {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(500 * time.Millisecond)
	}
	rep.SendSeconds = lastAccepted.Sub(t0).Seconds()
	rep.SettleSeconds = time.Since(lastAccepted).Seconds()
	e.say("settled %v; counting", rep.Settled)
	if err := drillCount(ctx, e.db, e.sb, e.tpl, rep); err != nil {
		return err
	}
	if runID != 0 {
		return drillCountRun(ctx, e.db, runID, rep)
	}
	return nil
}

func (e *drillEnv) settled(ctx context.Context, runID int64) (bool, error) {
	st, err := models.CountDeliveriesByStatus(ctx, e.db, 0)
	if err != nil {
		return false, err
	}
	if st[models.DeliveryQueued]+st[models.DeliverySending]+st[models.DeliveryPaused] > 0 || e.sb.Stats().PushesPending > 0 {
		return false, nil
	}
	if runID != 0 {
		r, err := models.GetRun(ctx, e.db, runID)
		if err != nil || r.Status != models.RunCompleted {
			return false, err
		}
	}
	o, err := drillOpenRows(ctx, e.db, e.sb)
	return o.Accepted == o.PushLost, err
}

// drillOpen describes the deliveries left unknown or sent whose user
// WeChat accepted a message for (support would read "outcome unknown" or
// "sent" for a message the user received).
type drillOpen struct {
	Accepted int64 // unknown or sent, accepted by WeChat
	Unknown  int64 // of them, unknown
	// PushLost: of them, those whose sent event WeChat gave up pushing (3
	// tries while no instance answered): nothing can settle them.
	PushLost int64
}

func drillOpenRows(ctx context.Context, db *gorm.DB, sb *sandbox.Server) (drillOpen, error) {
	counts := map[string]int64{}
	for _, c := range sb.Counts(benchAppID) {
		counts[c.OpenID] += c.Accepted
	}
	lost := map[string]bool{}
	for _, ev := range sb.LostPushes(benchAppID) {
		if ev.Event == wechat.EventSent {
			lost[ev.FromUserName] = true
		}
	}
	var rows []struct {
		OpenID string `gorm:"column:openid"`
		Status string
	}
	var o drillOpen
	if err := db.WithContext(ctx).Model(&models.Delivery{}).Select("openid, status").
		Where("status IN ?", []string{models.DeliveryUnknown, models.DeliverySent}).Scan(&rows).Error; err != nil {
		return o, err
	}
	for _, r := range rows {
		if counts[r.OpenID] == 0 {
			continue
		}
		o.Accepted++
		if r.Status == models.DeliveryUnknown {
			o.Unknown++
		}
		if lost[r.OpenID] {
			o.PushLost++
		}
	}
	return o, nil
}

// drillCount counts messages per user at WeChat (duplicates), lost
// deliveries and the credits against the ledger.
func drillCount(ctx context.Context, db *gorm.DB, sb *sandbox.Server, tpl *models.Template, rep *drillReport) error {
	counts := map[string]int64{}
	for _, c := range sb.Counts(benchAppID) {
		counts[c.OpenID] += c.Accepted
	}
	var accepted int64
	for i := range rep.Users {
		c := counts[benchOpenID(i)]
		accepted += c
		switch {
		case c == 0:
			rep.PerUser[0]++
		case c == 1:
			rep.PerUser[1]++
		default:
			rep.PerUser[2]++
			rep.Duplicates += c - 1
		}
	}
	var err error
	if rep.Statuses, err = models.CountDeliveriesByStatus(ctx, db, 0); err != nil {
		return err
	}
	// Lost: still waiting at the end, skipped (every user holds a credit
	// and every value is valid, so nothing may be skipped), or recorded as
	// delivered or sent while WeChat has no message for the user; campaign
	// scenarios add the users the run has no delivery for.
	rep.Lost = rep.Statuses[models.DeliveryQueued] + rep.Statuses[models.DeliverySending] + rep.Statuses[models.DeliveryPaused] +
		rep.Statuses[models.DeliverySkipped]
	var done []string
	if err := db.WithContext(ctx).Model(&models.Delivery{}).Where("status IN ?", []string{models.DeliveryDelivered, models.DeliverySent}).
		Pluck("openid", &done).Error; err != nil {
		return err
	}
	for _, o := range done {
		if counts[o] == 0 {
			rep.Lost++
		}
	}
	open, err := drillOpenRows(ctx, db, sb)
	if err != nil {
		return err
	}
	rep.AcceptedUnsettle, rep.PushLost = open.Accepted, open.PushLost
	rep.UnknownNotSent = rep.Statuses[models.DeliveryUnknown] - open.Unknown
	tot, err := models.SumCreditEvents(ctx, db, tpl.ID)
	if err != nil {
		return err
	}
	rep.Spent, rep.Refunded = tot.Spent, tot.Refunded
	if err := db.WithContext(ctx).Model(&models.Subscription{}).Where("template_id = ?", tpl.ID).
		Select("COALESCE(SUM(credits), 0)").Scan(&rep.Left).Error; err != nil {
		return err
	}
	// Each user was granted one credit: what is left is what the ledger
	// says, and what is spent and not refunded is what WeChat accepted plus
	// what is unknown and never reached WeChat (an unknown send keeps its
	// credit until a sent event or staff settle it).
	rep.LedgerOK = int64(rep.Users)-rep.Spent+rep.Refunded == rep.Left &&
		rep.Spent-rep.Refunded == accepted+rep.Statuses[models.DeliveryUnknown]-open.Unknown
	if err := db.WithContext(ctx).Model(&models.SentEvent{}).Where("delivery_id = 0").Count(&rep.EventsGivenUp).Error; err != nil {
		return err
	}
	rep.Sandbox = sb.Stats()
	return nil
}

// drillCountRun compares the run's counters with its rows, and counts the
// campaign's runs.
func drillCountRun(ctx context.Context, db *gorm.DB, runID int64, rep *drillReport) error {
	r, err := models.GetRun(ctx, db, runID)
	if err != nil {
		return err
	}
	rep.RunID, rep.RunStatus, rep.Audience = r.ID, r.Status, r.Audience
	if err := db.WithContext(ctx).Model(&models.CampaignRun{}).Where("campaign_id = ?", r.CampaignID).Count(&rep.Runs).Error; err != nil {
		return err
	}
	rep.RunCounters = map[string]int64{
		models.DeliveryQueued: r.Queued, models.DeliverySending: r.Sending, models.DeliverySent: r.Sent,
		models.DeliveryDelivered: r.Delivered, models.DeliveryFailed: r.Failed, models.DeliverySkipped: r.Skipped,
		models.DeliveryUnknown: r.Unknown, models.DeliveryPaused: r.Paused,
	}
	var rows []struct {
		Status string
		N      int64
	}
	if err := db.WithContext(ctx).Model(&models.Delivery{}).Select("status, COUNT(*) AS n").Where("run_id = ?", runID).
		Group("status").Scan(&rows).Error; err != nil {
		return err
	}
	rep.RunRows = map[string]int64{}
	var total int64
	for _, row := range rows {
		rep.RunRows[row.Status] = row.N
		total += row.N
	}
	if missing := int64(rep.Users) - total; missing > 0 {
		rep.Lost += missing // users of the audience the run never made a delivery for
	}
	rep.CountersOK = total == r.Audience && total == int64(rep.Users)
	for s, n := range rep.RunCounters {
		rep.CountersOK = rep.CountersOK && n == rep.RunRows[s]
	}
	for s, n := range rep.RunRows {
		if _, ok := rep.RunCounters[s]; !ok && n > 0 {
			rep.CountersOK = false // a status with no counter
		}
	}
	return nil
}

func printDrill(w io.Writer, r *drillReport) {
	verdict := "PASS"
	if !r.ok() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "scenario                  %s (%d users) — %s\n", r.Name, r.Users, verdict)
	for _, k := range r.Injected {
		fmt.Fprintf(w, "injected                  %s\n", k)
	}
	for _, k := range r.Notes {
		fmt.Fprintf(w, "seen                      %s\n", k)
	}
	fmt.Fprintf(w, "users with 0/1/2+ msgs    %d / %d / %d\n", r.PerUser[0], r.PerUser[1], r.PerUser[2])
	fmt.Fprintf(w, "duplicates                %d\n", r.Duplicates)
	fmt.Fprintf(w, "lost                      %d\n", r.Lost)
	fmt.Fprintf(w, "unknown, never at WeChat  %d (not resent, credit held; allowed only when an instance was killed)\n", r.UnknownNotSent)
	fmt.Fprintf(w, "credits                   spent %d, refunded %d, left %d — consistent with the ledger and WeChat: %v\n", r.Spent, r.Refunded, r.Left, r.LedgerOK)
	fmt.Fprintf(w, "statuses                  %s\n", formatCounts(r.Statuses))
	if r.RunID != 0 {
		fmt.Fprintf(w, "run                       #%d %s, %d run(s) of the campaign, audience %d\n", r.RunID, r.RunStatus, r.Runs, r.Audience)
		fmt.Fprintf(w, "run counters / rows       %s / %s — equal: %v\n", formatCounts(r.RunCounters), formatCounts(r.RunRows), r.CountersOK)
	}
	fmt.Fprintf(w, "accepted, unknown or sent %d (of which %d whose sent event WeChat gave up pushing)\n", r.AcceptedUnsettle, r.PushLost)
	fmt.Fprintf(w, "sent events given up      %d\n", r.EventsGivenUp)
	s := r.Sandbox
	fmt.Fprintf(w, "WeChat (sandbox)          accepted %d; answered -1 %d, cut after counting %d, 45009 %d, 40001/42001 %d; pushes %d delivered, %d repeated, %d dropped, %d given up\n",
		s.Accepted, s.ErrorsInjected, s.TimeoutsInjected, s.QuotaRefused, s.TokenRefused, s.PushesSent, s.PushesRepeated, s.PushesDropped, s.PushesFailed)
	fmt.Fprintf(w, "timings                   last accepted %.1f s after the start; settled %v %.1f s after it\n", r.SendSeconds, r.Settled, r.SettleSeconds)
	fmt.Fprintf(w, "logs                      %s\n\n", r.Logs)
}

// printDrillSummary prints one Markdown row per scenario: what was
// injected against what was counted.
func printDrillSummary(w io.Writer, reps []*drillReport) {
	if len(reps) == 0 {
		return
	}
	fmt.Fprintf(w, "| scenario | injected | users 0 / 1 / 2+ msgs | duplicates | lost | unknown, never at WeChat | accepted, unsettled (sent event given up by WeChat) | credits spent / refunded / left | run counters = rows | statuses | seen | verdict |\n")
	fmt.Fprintf(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range reps {
		verdict := "PASS"
		if !r.ok() {
			verdict = "FAIL"
		}
		counters := "—"
		if r.RunID != 0 {
			counters = fmt.Sprintf("%v (%s, %d run)", r.CountersOK, r.RunStatus, r.Runs)
		}
		ledger := "consistent"
		if !r.LedgerOK {
			ledger = "INCONSISTENT"
		}
		fmt.Fprintf(w, "| %s | %s | %d / %d / %d | %d | %d | %d | %d (%d) | %d / %d / %d (%s) | %s | %s | %s | %s |\n",
			r.Name, strings.Join(r.Injected, "; "), r.PerUser[0], r.PerUser[1], r.PerUser[2], r.Duplicates, r.Lost,
			r.UnknownNotSent, r.AcceptedUnsettle, r.PushLost,
			r.Spent, r.Refunded, r.Left, ledger, counters, formatCounts(r.Statuses), strings.Join(r.Notes, "; "), verdict)
	}
}

func formatCounts(m map[string]int64) string {
	var parts []string
	for _, s := range []string{models.DeliveryDelivered, models.DeliverySent, models.DeliveryFailed, models.DeliveryUnknown,
		models.DeliverySkipped, models.DeliveryQueued, models.DeliverySending, models.DeliveryPaused} {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, m[s]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
