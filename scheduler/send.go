package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat"
)

// pass claims and sends one batch for each app with due work; it tells
// whether anything was done.
func (e *Engine) pass(i int, p *pipeline) bool {
	ctx := e.hard
	e.state.refresh(ctx, false)
	worked := false
	for _, st := range e.state.active(i, e.now()) {
		if !e.claiming() {
			return worked
		}
		n, err := e.claimAndSend(ctx, st, p)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("claiming deliveries failed; will retry", "appid", st.app.AppID, "err", err)
				e.state.setIdle(st.app.ID, e.now().Add(e.cfg.PollInterval))
			}
			continue
		}
		worked = worked || n > 0
	}
	return worked
}

// claimAndSend claims one batch of the app and hands it to the worker's
// pipeline, which sends it and records the answers once the batch before
// it is recorded. It returns how many deliveries it handled.
func (e *Engine) claimAndSend(ctx context.Context, st *appState, p *pipeline) (int, error) {
	g, err := e.take(ctx, st, e.cfg.BatchSize)
	if err != nil || g.n == 0 {
		return 0, err
	}
	var reserved []int64
	decide := func(rows []models.Delivery, attrs map[int64]string) []models.Decision {
		e.state.releaseUsers(reserved) // a repeated transaction decides again
		reserved = reserved[:0]
		return e.decide(rows, attrs, &reserved)
	}
	claimedAt := e.now()
	res, err := models.ClaimDeliveries(ctx, e.db, models.ClaimRequest{AppID: st.app.ID, Owner: e.cfg.InstanceID,
		Limit: g.n, Now: claimedAt, LeaseFor: e.cfg.LeaseFor, Decide: decide})
	if err != nil {
		e.state.releaseUsers(reserved)
		e.giveBack(g, g.n)
		return 0, err
	}
	sending := make(map[int64]bool, len(res.Send))
	for i := range res.Send {
		sending[res.Send[i].UserID] = true
	}
	var notSent []int64
	for _, u := range reserved {
		if !sending[u] {
			notSent = append(notSent, u)
		}
	}
	e.state.releaseUsers(notSent)
	e.giveBack(g, g.n-len(res.Send))
	for reason, n := range res.Skipped {
		e.m.sends.WithLabelValues(st.app.AppID, "", "skipped_"+reason, "").Add(float64(n))
	}
	handled := len(res.Send) + res.Deferred
	for _, n := range res.Skipped {
		handled += n
	}
	if handled == 0 {
		e.state.setIdle(st.app.ID, e.now().Add(e.cfg.PollInterval))
		return 0, nil
	}
	if len(res.Send) > 0 {
		e.m.claimed.Observe(float64(len(res.Send)))
		p.send(st, res.Send, claimedAt)
	}
	return handled, nil
}

// decide renders and checks each claimed delivery (inside the claim's
// transaction: no database access here).
func (e *Engine) decide(rows []models.Delivery, attrs map[int64]string, reserved *[]int64) []models.Decision {
	out := make([]models.Decision, len(rows))
	now := e.now()
	for i := range rows {
		d := &rows[i]
		if q, held := e.quietDecision(d, now); held { // quiet hours (campaigns only): scheduler/quiet.go
			out[i] = q
			continue
		}
		t := e.state.template(d.TemplateID)
		switch {
		case t == nil:
			// Created after the last refresh, or gone: look again soon.
			out[i] = models.Decision{Action: models.ActDefer, Until: now.Add(e.cfg.AppRefresh)}
			continue
		case !t.active:
			out[i] = models.Decision{Action: models.ActSkip, Reason: models.ReasonTemplateDeleted}
			continue
		case t.kwErr != nil:
			out[i] = models.Decision{Action: models.ActSkip, Reason: models.ReasonTemplateBroken}
			continue
		}
		data, err := d.DataMap()
		if err != nil {
			out[i] = models.Decision{Action: models.ActSkip, Reason: models.ReasonBadData}
			continue
		}
		rendered := ""
		if strings.Contains(d.Data, "{{") {
			if missing := render(data, attrs[d.UserID]); missing != "" {
				out[i] = models.Decision{Action: models.ActSkip, Reason: models.ReasonMissingAttr, Detail: missing}
				continue
			}
			b, _ := json.Marshal(data)
			rendered = string(b)
		}
		if err := e.cfg.Rules.CheckData(t.kws, data); err != nil {
			out[i] = models.Decision{Action: models.ActSkip, Reason: models.ReasonInvalidValue, Detail: failingKeys(err)}
			continue
		}
		if !e.state.reserveUser(d.UserID) {
			out[i] = models.Decision{Action: models.ActDefer, Until: now.Add(jitter(e.cfg.UserBusyDelay / 4))}
			continue
		}
		*reserved = append(*reserved, d.UserID)
		out[i] = models.Decision{Action: models.ActSend, LongTerm: t.longTerm, Data: rendered}
	}
	return out
}

// sendBatch sends claimed deliveries concurrently and records the answers.
// Rows go out in chunks of Concurrency: before a chunk starts, MarkCalled
// records it as called and renews the batch's lease, so after a crash only
// rows of started chunks can be unknown (the rest go back to the queue),
// and a batch slower than its lease is not taken over mid-send.
func (e *Engine) sendBatch(st *appState, rows []models.Delivery, claimedAt time.Time) {
	outs := make([]models.Outcome, len(rows))
	sent := make([]bool, len(rows))
	lost := make([]bool, len(rows))
	batch := make([]int64, len(rows))
	for i := range rows {
		batch[i] = rows[i].ID
	}
	sem := make(chan struct{}, e.cfg.Concurrency)
	var wg sync.WaitGroup
	renewed := claimedAt // the claim set the lease
	for start := 0; start < len(rows); start += e.cfg.Concurrency {
		end := min(start+e.cfg.Concurrency, len(rows))
		if e.sendCtx.Err() != nil {
			break // stopping: unstarted rows go back to the queue below
		}
		now := e.now()
		var renew []int64
		if now.Sub(renewed) > e.cfg.LeaseFor/3 {
			renew, renewed = batch[end:], now // the rows still waiting for their turn
		}
		held, err := models.MarkCalled(e.hard, e.db, e.cfg.InstanceID, renew, batch[start:end], now, now.Add(e.cfg.LeaseFor))
		if err != nil {
			e.log.Error("marking deliveries as called failed: not sending them now", "count", end-start, "err", err)
			break
		}
		own := make(map[int64]bool, len(held))
		for _, id := range held {
			own[id] = true
		}
		for i := start; i < end; i++ {
			if !own[rows[i].ID] {
				lost[i] = true // our lease was lost: another instance has it now
				continue
			}
			sent[i] = true
			sem <- struct{}{}
			wg.Add(1)
			go func(i int) {
				defer func() { <-sem; wg.Done() }()
				outs[i] = e.sendOne(st, &rows[i])
			}(i)
		}
	}
	wg.Wait()
	// Rows never started (stopping, or marking failed) go back to the queue
	// as they were: no request left for them.
	now0 := e.now()
	kept := outs[:0]
	for i := range rows {
		switch {
		case lost[i]:
			continue // not ours to record
		case !sent[i]:
			outs[i] = models.Outcome{D: &rows[i], Status: models.DeliveryQueued, Reason: models.ReasonRetry, Uncount: true, NextAttemptAt: now0}
		}
		kept = append(kept, outs[i])
	}
	outs = kept

	// Record with a context of its own: an abrupt stop still records what
	// is known (a cut request that was written becomes unknown, one that
	// never left goes back to the queue).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.hard), 30*time.Second)
	defer cancel()
	now := e.now()
	err := e.recordOutcomes(ctx, now, outs)
	users := make([]int64, len(rows))
	for i := range rows {
		users[i] = rows[i].UserID
	}
	e.state.releaseUsers(users)
	if err != nil {
		// Tried for 30 s: the rows stay sending under our lease; when it
		// expires they turn unknown and the sent events settle them.
		// Nothing is resent.
		e.log.Error("recording WeChat's answers failed for 30 s: the deliveries will turn unknown and be settled by sent events", "count", len(rows), "err", err)
		return
	}
	// The calls that sent a delivery back to the queue, for the delivery
	// page (models/delivery_calls.go); nothing when every call ended its delivery.
	if err := models.LogRetriedCalls(ctx, e.db, now, outs); err != nil {
		e.log.Warn("logging retried WeChat calls failed", "err", err)
	}
	var quotaUntil time.Time
	for i := range outs {
		o := &outs[i]
		if o.Status == models.DeliverySent {
			e.sent.Add(1)
		}
		if o.Status == models.DeliveryQueued && o.Reason == models.ReasonQuota {
			quotaUntil = o.NextAttemptAt
		}
	}
	if !quotaUntil.IsZero() {
		e.pauseApp(e.hard, &st.app, quotaUntil, models.PauseWeChatQuota)
	}
}

// sendOne makes the one WeChat call of an attempt and turns its answer into
// an outcome.
func (e *Engine) sendOne(st *appState, d *models.Delivery) models.Outcome {
	t := e.state.template(d.TemplateID)
	data, _ := d.DataMap()
	mpState, lang := models.SendSettings(d, &st.app) // the message's own, else the account's
	req := wechat.SendRequest{ToUser: d.OpenID, TemplateID: t.wxID, Page: d.Page, Data: data,
		MiniprogramState: mpState, Lang: lang}
	start := time.Now()
	msgID, err := st.client.Send(e.sendCtx, req)
	e.m.latency.WithLabelValues(st.app.AppID).Observe(time.Since(start).Seconds())
	o := e.outcome(st, d, msgID, err)
	code := ""
	if o.ErrCode != 0 {
		code = strconv.Itoa(o.ErrCode)
	}
	result := o.Status
	if o.Status == models.DeliveryQueued {
		result = "retry_" + o.Reason
		e.m.retries.WithLabelValues(st.app.AppID, o.Reason).Inc()
	}
	e.m.sends.WithLabelValues(st.app.AppID, t.wxID, result, code).Inc()
	return o
}

func (e *Engine) outcome(st *appState, d *models.Delivery, msgID int64, err error) models.Outcome {
	o := models.Outcome{D: d}
	if err == nil {
		o.Status, o.MsgID = models.DeliverySent, msgID
		return o
	}
	now := e.now()
	o.ErrMsg = err.Error()
	var we *wechat.Error
	if errors.As(err, &we) {
		o.ErrCode, o.ErrMsg = we.Code, we.Msg
	}
	class, _ := wechat.Classify(err)
	retry := func(reason string) models.Outcome {
		if d.Attempts >= e.cfg.MaxAttempts {
			o.Status, o.Reason, o.Refund = models.DeliveryFailed, models.ReasonMaxAttempts, true
			return o
		}
		o.Status, o.Reason = models.DeliveryQueued, reason
		o.NextAttemptAt = now.Add(e.backoff(d.Attempts))
		return o
	}
	switch {
	case errors.Is(err, wechat.ErrNotSent) && e.sendCtx.Err() != nil:
		// Shutting down before the request left: back to the queue as is.
		o.Status, o.Reason, o.Uncount, o.NextAttemptAt = models.DeliveryQueued, models.ReasonRetry, true, now
		return o
	case class == wechat.ClassOutcomeUnknown:
		o.Status, o.Reason = models.DeliveryUnknown, models.ReasonOutcomeUnknown
		return o
	case class == wechat.ClassQuota:
		o.Status, o.Reason, o.Uncount = models.DeliveryQueued, models.ReasonQuota, true
		o.NextAttemptAt = models.NextChinaMidnight(now)
		return o
	case class == wechat.ClassUserConcurrency:
		o.Status, o.Reason, o.Uncount = models.DeliveryQueued, models.ReasonUserBusy, true
		o.NextAttemptAt = now.Add(jitter(e.cfg.UserBusyDelay))
		return o
	case isTokenFailure(err) && class == wechat.ClassConfig:
		// No token: the app's credentials are wrong. Every send would fail
		// the same way: wait for an admin instead of burning attempts.
		o.Status, o.Reason, o.Uncount = models.DeliveryQueued, models.ReasonNoToken, true
		o.NextAttemptAt = now.Add(time.Minute)
		e.pauseApp(e.hard, &st.app, o.NextAttemptAt, models.PauseNoToken)
		return o
	case class == wechat.ClassTransient || class == wechat.ClassToken:
		return retry(models.ReasonRetry)
	}
	// Permanent, bug or configuration errors from the send itself: WeChat
	// refused it, nothing was delivered.
	o.Status, o.Reason, o.Refund = models.DeliveryFailed, models.ReasonWeChat, true
	if o.ErrCode == wechat.CodeUserRefused {
		o.ZeroCredits = true
	}
	return o
}

func isTokenFailure(err error) bool {
	var te *wechat.TokenError
	return errors.As(err, &te)
}

// backoff is exponential in the attempts made, with full jitter in
// [d/2, d).
func (e *Engine) backoff(attempts int) time.Duration {
	d := e.cfg.RetryBase
	for i := 1; i < attempts && d < e.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, e.cfg.RetryMax)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

// render replaces {{name}} in every value with the user's attribute name.
// It returns the first attribute missing ("" when all were found).
func render(data map[string]string, attrsJSON string) string {
	attrs := map[string]any{}
	if attrsJSON != "" {
		_ = json.Unmarshal([]byte(attrsJSON), &attrs)
	}
	for k, v := range data {
		out, missing := models.RenderValue(v, attrs)
		if missing != "" {
			return missing
		}
		data[k] = out
	}
	return ""
}

// newClient builds the WeChat client of an app as NewClient does, on the
// engine's clock, counting token refreshes.
func (e *Engine) newClient(a *models.App) (*wechat.Client, error) {
	appID := a.AppID
	return newClient(e.db, e.cfg.Sealer, a, e.cfg.HTTPClient, e.cfg.Now, func() {
		e.m.tokenRefreshes.WithLabelValues(appID).Inc()
	})
}

// newClient builds the WeChat client of an app as the console does
// (models.WeChatClient), on the engine's clock, counting token refreshes.
func newClient(db *gorm.DB, sealer *models.Sealer, a *models.App, hc *http.Client, now func() time.Time, onRefresh func()) (*wechat.Client, error) {
	return models.WeChatClient(db, sealer, a, hc, func(c *wechat.Config) {
		c.Now = now
		if onRefresh != nil {
			c.Store = countingStore{c.Store, onRefresh}
		}
	})
}

type countingStore struct {
	wechat.TokenStore
	onPut func()
}

func (c countingStore) Put(ctx context.Context, appID string, t wechat.Token) error {
	c.onPut()
	return c.TokenStore.Put(ctx, appID, t)
}

// failingKeys lists the keywords whose values broke their rule, comma
// separated, for the delivery's errmsg: the console re-checks the stored
// values to say in the reader's language what is wrong with each.
func failingKeys(err error) string {
	var ves wechat.ValueErrors
	if !errors.As(err, &ves) {
		return ""
	}
	keys := make([]string, len(ves))
	for i, ve := range ves {
		keys[i] = ve.Key
	}
	return strings.Join(keys, ",")
}

// recordOutcomes writes WeChat's answers for a batch, trying again with
// growing pauses (50 ms doubling to 2 s) while the database refuses, until
// ctx ends. models.ApplyOutcomes already retries a deadlock a few times
// within milliseconds, but a loaded MariaDB (a campaign expanding beside
// the senders) can refuse for longer than that; a batch whose answers are
// never written stays sending until its lease expires and then turns
// unknown, and with it the answers that prove a message was not delivered
// (-1, 45009, 43108), for which no sent event will ever come: those users
// would be lost (the faults drill found 124 of 100,000). ApplyOutcomes is
// one transaction, so a failed try wrote nothing and trying again is safe.
func (e *Engine) recordOutcomes(ctx context.Context, now time.Time, outs []models.Outcome) error {
	pause := 50 * time.Millisecond
	for {
		err := models.ApplyOutcomes(ctx, e.db, e.cfg.InstanceID, now, e.cfg.SettleWindow, outs)
		if err == nil || ctx.Err() != nil {
			return err
		}
		e.log.Warn("recording WeChat's answers failed; trying again", "count", len(outs), "err", err, "pause", pause)
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		pause = min(2*pause, 2*time.Second)
	}
}
