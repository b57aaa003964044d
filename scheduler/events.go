package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat"
)

// EventResult says what a pushed event changed.
type EventResult struct {
	Granted, Rejected int // popup/change items applied
	Stored            int // sent-event items stored for the engine's settler
	Duplicates        int // items seen before (WeChat retried the push)
	Ignored           int // items of unknown templates or other events
}

// ApplyEvent applies one decoded push event of app (what the /wx/push
// handler calls after verifying and decoding it):
//   - subscribe_msg_popup_event: accept → one credit (long-term: turned on);
//     reject → long-term off;
//   - subscribe_msg_change_event: reject → credits 0, long-term off;
//   - subscribe_msg_sent_event: stored (one insert, so the handler answers
//     WeChat fast); the engine's settler then settles the delivery in
//     batches: delivered, or failed with WeChat's code, matched by msgid,
//     or an unknown delivery by user + template within its settle window.
//
// Every item is deduplicated (msgid for sent events; openid + time + event
// + template for the others), so WeChat's retries change nothing.
func ApplyEvent(ctx context.Context, db *gorm.DB, app *models.App, ev *wechat.Event) (EventResult, error) {
	var res EventResult
	now := time.Now().UTC()
	switch ev.Event {
	case wechat.EventSent:
		for _, it := range ev.List {
			if it.MsgID == 0 {
				res.Ignored++
				continue
			}
			dup, err := models.StoreSentEvent(ctx, db, models.SentEvent{AppID: app.ID, MsgID: it.MsgID, OpenID: ev.FromUserName,
				WxTemplateID: it.TemplateID, ErrorCode: int(it.ErrorCode), ErrorStatus: it.ErrorStatus,
				EventTime: time.Unix(ev.CreateTime, 0)}, now)
			if err != nil {
				return res, fmt.Errorf("storing the sent event of msgid %d: %w", it.MsgID, err)
			}
			if dup {
				res.Duplicates++
			} else {
				res.Stored++
			}
		}
	case wechat.EventPopup, wechat.EventChange:
		if len(ev.List) == 0 {
			return res, nil
		}
		u, err := models.EnsureUser(ctx, db, app.ID, ev.FromUserName)
		if err != nil {
			return res, err
		}
		for i, it := range ev.List {
			t, err := models.GetTemplateByWxID(ctx, db, app.ID, it.TemplateID)
			if errors.Is(err, models.ErrNotFound) {
				res.Ignored++ // not synced yet: the sync will not invent credits either
				continue
			}
			if err != nil {
				return res, err
			}
			c := models.CreditChange{AppID: app.ID, UserID: u.ID, TemplateID: t.ID, WxTemplateID: t.TemplateID,
				LongTerm: t.LongTerm(), Source: models.SourceWeChat, DedupKey: "wx:" + app.AppID + ":" + ev.DedupKey(i), Now: now}
			var applied bool
			switch {
			case ev.Event == wechat.EventPopup && isAccept(it.SubscribeStatus):
				applied, err = models.GrantCredit(ctx, db, c)
				if applied {
					res.Granted++
				}
			case it.SubscribeStatus == wechat.StatusReject || (ev.Event == wechat.EventPopup && it.SubscribeStatus == "ban"):
				kind := models.SubEventReject
				switch {
				case ev.Event == wechat.EventChange:
					kind = models.SubEventChange
				case it.SubscribeStatus == "ban":
					kind = models.SubEventBan // the platform blocked the template for this user
				}
				applied, err = models.RecordReject(ctx, db, c, kind)
				if applied {
					res.Rejected++
				}
			default:
				res.Ignored++
				continue
			}
			if err != nil {
				return res, err
			}
			if !applied {
				res.Duplicates++
			}
		}
	default:
		res.Ignored += max(len(ev.List), 1)
	}
	return res, nil
}

// isAccept tells whether a popup answer grants a send: "accept", or an
// accept with a voice or alert reminder.
func isAccept(status string) bool {
	switch status {
	case wechat.StatusAccept, "acceptWithAudio", "acceptWithAlert":
		return true
	}
	return false
}

// HandleEvent applies a push event (see ApplyEvent), counts it in the
// metrics and wakes the workers on new credits and the settler on sent
// events.
func (e *Engine) HandleEvent(ctx context.Context, app *models.App, ev *wechat.Event) (EventResult, error) {
	res, err := ApplyEvent(ctx, e.db, app, ev)
	e.m.settled.WithLabelValues("stored").Add(float64(res.Stored))
	e.m.settled.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	if res.Granted > 0 {
		e.Notify()
	}
	return res, err
}

// Enqueue queues one message (API transactional send, console test send)
// and wakes the workers. With an idempotency key already used, the first
// delivery is returned and created is false.
func (e *Engine) Enqueue(ctx context.Context, nd models.NewDelivery) (*models.Delivery, bool, error) {
	d, created, err := models.EnqueueDelivery(ctx, e.db, nd)
	if err == nil && created {
		e.Notify()
	}
	return d, created, err
}

// SendAndWait queues one message and waits until WeChat has answered (sent,
// failed, skipped, unknown, or queued again for a retry) or ctx ends; it
// returns the delivery as it then is.
// The console's test send uses it to show WeChat's answer.
func (e *Engine) SendAndWait(ctx context.Context, nd models.NewDelivery) (*models.Delivery, error) {
	d, _, err := e.Enqueue(ctx, nd)
	if err != nil {
		return nil, err
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		cur, err := models.GetDelivery(ctx, e.db, d.ID)
		if err != nil {
			return nil, err
		}
		if cur.Status != models.DeliveryQueued && cur.Status != models.DeliverySending {
			return cur, nil
		}
		if cur.Status == models.DeliveryQueued && cur.Attempts > 0 {
			return cur, nil // WeChat answered with a retryable error; it will be retried
		}
		select {
		case <-ctx.Done():
			return cur, ctx.Err()
		case <-t.C:
		}
	}
}
