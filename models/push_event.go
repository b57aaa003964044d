package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/wechat"
)

// PushResult says what a pushed event changed.
type PushResult struct {
	Granted, Rejected int // popup/change items applied
	Stored            int // sent-event items stored
	Settled           int // of those, items that settled their delivery on arrival (the rest: the engine's settle pass)
	Duplicates        int // items seen before (WeChat retried the push)
	Ignored           int // items of unknown templates or other events
}

// ApplyPushEvent applies one decoded push event of app (what the /wx/push
// handler calls after verifying and decoding it), at now: the clock the
// delivery engine's settler reads too, since a sent event's arrival time
// decides when it may be given up on:
//   - subscribe_msg_popup_event: accept → one credit (long-term: turned on);
//     reject → long-term off;
//   - subscribe_msg_change_event: reject → credits 0, long-term off;
//   - subscribe_msg_sent_event: stored (one insert, so the handler answers
//     WeChat fast); with a writer, an event without an error whose delivery
//     is sent settles it as delivered in the same transaction; the engine's
//     settler settles the rest in batches: delivered, or failed with
//     WeChat's code, matched by msgid, or an unknown delivery by user +
//     template within its settle window.
//
// Every item is deduplicated (msgid for sent events; openid + time + event
// + template for the others), so WeChat's retries change nothing.
//
// With a writer (w), sent events share its batched inserts and count as
// stored whether or not WeChat had pushed them before; without one, each
// is one insert and repeats count as duplicates.
func ApplyPushEvent(ctx context.Context, db *gorm.DB, w *SentEventWriter, app *App, ev *wechat.Event, now time.Time) (PushResult, error) {
	var res PushResult
	now = now.UTC()
	switch ev.Event {
	case wechat.EventSent:
		evs := make([]SentEvent, 0, len(ev.List))
		for _, it := range ev.List {
			if it.MsgID == 0 {
				res.Ignored++
				continue
			}
			evs = append(evs, SentEvent{AppID: app.ID, MsgID: it.MsgID, OpenID: ev.FromUserName,
				WxTemplateID: it.TemplateID, ErrorCode: int(it.ErrorCode), ErrorStatus: it.ErrorStatus,
				EventTime: time.Unix(ev.CreateTime, 0)})
		}
		if w != nil && len(evs) > 0 {
			settled, err := w.Store(ctx, evs, now)
			if err != nil {
				return res, fmt.Errorf("storing %d sent events: %w", len(evs), err)
			}
			res.Stored += len(evs)
			res.Settled += settled
			break
		}
		for _, e := range evs {
			dup, err := StoreSentEvent(ctx, db, e, now)
			if err != nil {
				return res, fmt.Errorf("storing the sent event of msgid %d: %w", e.MsgID, err)
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
		u, err := EnsureUser(ctx, db, app.ID, ev.FromUserName)
		if err != nil {
			return res, err
		}
		for i, it := range ev.List {
			t, err := GetTemplateByWxID(ctx, db, app.ID, it.TemplateID)
			if errors.Is(err, ErrNotFound) {
				res.Ignored++ // not synced yet: the sync will not invent credits either
				continue
			}
			if err != nil {
				return res, err
			}
			c := CreditChange{AppID: app.ID, UserID: u.ID, TemplateID: t.ID, WxTemplateID: t.TemplateID,
				LongTerm: t.LongTerm(), Source: SourceWeChat, DedupKey: "wx:" + app.AppID + ":" + ev.DedupKey(i), Now: now}
			var applied bool
			switch {
			case ev.Event == wechat.EventPopup && isAccept(it.SubscribeStatus):
				applied, err = GrantCredit(ctx, db, c)
				if applied {
					res.Granted++
				}
			case it.SubscribeStatus == wechat.StatusReject || (ev.Event == wechat.EventPopup && it.SubscribeStatus == "ban"):
				kind := SubEventReject
				switch {
				case ev.Event == wechat.EventChange:
					kind = SubEventChange
				case it.SubscribeStatus == "ban":
					kind = SubEventBan // the platform blocked the template for this user
				}
				applied, err = RecordReject(ctx, db, c, kind)
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
