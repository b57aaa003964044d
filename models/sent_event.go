package models

import (
	"context"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Settlement by subscribe_msg_sent_event: WeChat's word on whether a
// message it accepted reached the user.

// SentEvent is one subscribe_msg_sent_event item as received.
type SentEvent struct {
	ID           int64
	AppID        int64  `gorm:"column:app_id"`
	MsgID        int64  `gorm:"column:msgid"`
	OpenID       string `gorm:"column:openid"`
	WxTemplateID string
	ErrorCode    int
	ErrorStatus  string
	EventTime    time.Time
	DeliveryID   *int64
	CreatedAt    time.Time
}

// StoreSentEvent stores a sent event, deduplicated by app and msgid (WeChat
// retries pushes), for the engine's settler, which matches stored events to
// their deliveries in batches (SettlePendingSentEvents). It is the push
// handler's path without a SentEventWriter (which also settles the plain
// case on arrival). duplicate is true when it was stored before.
func StoreSentEvent(ctx context.Context, db *gorm.DB, ev SentEvent, now time.Time) (duplicate bool, err error) {
	e := ev
	e.ID, e.DeliveryID, e.CreatedAt, e.EventTime = 0, nil, now.UTC(), ev.EventTime.UTC()
	r := insertIgnore(db.WithContext(ctx)).Create(&e)
	if r.Error != nil {
		return false, translate(r.Error)
	}
	return r.RowsAffected == 0, nil
}

// SettlePendingSentEvents matches stored sent events to their deliveries,
// up to Limit events in one short transaction: by msgid in one batch;
// events older than ByWindowAfter that found no msgid are tried one by one
// against unknown deliveries (user + template within Window). An event is
// given up on only when nothing of ours can still match it: never while a
// delivery of its user and template is being sent (its answer, with the
// msgid, may not be recorded yet, or its instance died and recovery will
// declare it unknown).
//
// It locks the events it takes (SKIP LOCKED: several instances share the
// work) and the deliveries it settles, nothing else: deliveries are looked
// up by (app_id, msgid) without a lock and settled with an UPDATE that
// re-checks their status (a row that changed meanwhile retries the pass).
func SettlePendingSentEvents(ctx context.Context, db *gorm.DB, p SettlePass) (SettleResult, error) {
	var res SettleResult
	err := retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
		res = SettleResult{LastID: p.AfterID}
		evs, err := takePendingSentEvents(tx, p.AfterID, p.Limit)
		if err != nil || len(evs) == 0 {
			return err
		}
		res.Seen, res.LastID = len(evs), evs[len(evs)-1].ID
		found, err := deliveriesByMsgID(tx, evs)
		if err != nil {
			return err
		}
		open, err := openSendsOf(tx, evs, found, p.ByWindowAfter)
		if err != nil {
			return err
		}
		st := StatDeltas{}
		var okIDs, evIDs, evDeliv, giveUp []int64
		for i := range evs {
			e := &evs[i]
			d := found[msgKey{e.AppID, e.MsgID}]
			if d == nil {
				if !e.CreatedAt.Before(p.ByWindowAfter) {
					continue // its send's answer may still be on its way
				}
				o := open[userTpl{e.AppID, e.OpenID, e.WxTemplateID}]
				if o.sending {
					continue // that send may own this msgid: wait for its answer
				}
				if !o.unknown {
					if e.CreatedAt.Before(p.GiveUpBefore) {
						giveUp = append(giveUp, e.ID)
					}
					continue
				}
				m, wait, err := matchSentEventTx(tx, e, p.Now, p.Window)
				if err != nil {
					return err
				}
				if m != nil {
					res.Settled++
				} else if !wait && e.CreatedAt.Before(p.GiveUpBefore) {
					giveUp = append(giveUp, e.ID)
				}
				continue
			}
			switch {
			case d.Status != DeliverySent && d.Status != DeliveryUnknown:
				evIDs, evDeliv = append(evIDs, e.ID), append(evDeliv, d.ID) // already final: just link it
			case e.ErrorCode == 0 && d.Status == DeliverySent:
				evIDs, evDeliv = append(evIDs, e.ID), append(evDeliv, d.ID)
				okIDs = append(okIDs, d.ID)
				st.Move(d.AppID, d.RunID, DeliverySent, DeliveryDelivered, "")
				res.Settled++
			default:
				// Failures and unknown rows one by one (rare).
				if _, _, err := matchSentEventTx(tx, e, p.Now, 0); err != nil {
					return err
				}
				res.Settled++
			}
		}
		if err := markDelivered(tx, okIDs, p.Now); err != nil {
			return err
		}
		if err := linkSentEvents(tx, evIDs, evDeliv, giveUp); err != nil {
			return err
		}
		if err := applyStats(tx, st); err != nil {
			return err
		}
		res.RowsLocked, err = rowsLocked(tx)
		return err
	})
	return res, err
}

// SettleResult is what one settle pass did.
type SettleResult struct {
	Settled int   // deliveries settled
	Seen    int   // pending events looked at
	LastID  int64 // the last event's id: the next page starts after it
	// RowsLocked is how many rows the pass's transaction held locked just
	// before it committed (MySQL: information_schema.innodb_trx; 0 on
	// SQLite, which locks the whole database for a write).
	RowsLocked int64
}

type msgKey struct{ app, msg int64 }

// takePendingSentEvents locks up to limit pending events after afterID,
// skipping those another instance holds.
func takePendingSentEvents(tx *gorm.DB, afterID int64, limit int) ([]SentEvent, error) {
	q := tx.Where("delivery_id IS NULL AND id > ?", afterID).Order("id").Limit(limit)
	if IsMySQL(tx) {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked})
	}
	var evs []SentEvent
	err := q.Find(&evs).Error
	return evs, err
}

// deliveriesByMsgID looks the events' deliveries up by (app_id, msgid)
// through ix_deliveries_msgid, without locking them; the rows hold only
// id, app_id, run_id, status and msgid.
func deliveriesByMsgID(tx *gorm.DB, evs []SentEvent) (map[msgKey]*Delivery, error) {
	byApp := map[int64][]int64{}
	for _, e := range evs {
		byApp[e.AppID] = append(byApp[e.AppID], e.MsgID)
	}
	found := make(map[msgKey]*Delivery, len(evs))
	for appID, ids := range byApp {
		q := tx // a new statement for each app: conditions must not carry over
		if IsMySQL(tx) {
			// Named: the msgids are written after the rows were counted, so
			// MariaDB's statistics can still say the index holds one value
			// (NULL) and it reads the whole table instead (the bench saw a
			// full scan of 100,000 rows on about one settle pass in two).
			q = tx.Table("deliveries FORCE INDEX (ix_deliveries_msgid)")
		}
		var ds []Delivery
		// Only what settling reads: not the values, the openid or the texts.
		if err := q.Select("id, app_id, run_id, status, msgid").Where("app_id = ? AND msgid IN "+inList(uniq(ids)), appID).Find(&ds).Error; err != nil {
			return nil, err
		}
		for i := range ds {
			found[msgKey{appID, *ds[i].MsgID}] = &ds[i]
		}
	}
	return found, nil
}

type userTpl struct {
	app           int64
	openid, wxTpl string
}

type openSends struct{ sending, unknown bool }

// openSendsOf finds, for the events older than windowAfter that matched no
// msgid, whether their user has a send of their template in flight or
// unknown: three queries per app for the whole page, where looking event
// by event took four each, inside the transaction, on every pass.
func openSendsOf(tx *gorm.DB, evs []SentEvent, found map[msgKey]*Delivery, windowAfter time.Time) (map[userTpl]openSends, error) {
	type appWant struct {
		openids, tpls map[string]bool
	}
	want := map[int64]*appWant{}
	for _, e := range evs {
		if found[msgKey{e.AppID, e.MsgID}] != nil || !e.CreatedAt.Before(windowAfter) {
			continue
		}
		w := want[e.AppID]
		if w == nil {
			w = &appWant{openids: map[string]bool{}, tpls: map[string]bool{}}
			want[e.AppID] = w
		}
		w.openids[e.OpenID], w.tpls[e.WxTemplateID] = true, true
	}
	out := map[userTpl]openSends{}
	for appID, w := range want {
		var users []User
		if err := tx.Select("id, openid").Where("app_id = ? AND openid IN ?", appID, keys(w.openids)).Find(&users).Error; err != nil {
			return nil, err
		}
		var tpls []Template
		if err := tx.Select("id, template_id").Where("app_id = ? AND template_id IN ?", appID, keys(w.tpls)).Find(&tpls).Error; err != nil {
			return nil, err
		}
		if len(users) == 0 || len(tpls) == 0 {
			continue
		}
		openid := make(map[int64]string, len(users))
		ids := make([]int64, len(users))
		for i, u := range users {
			openid[u.ID], ids[i] = u.OpenID, u.ID
		}
		wxTpl := make(map[int64]string, len(tpls))
		for _, t := range tpls {
			wxTpl[t.ID] = t.TemplateID
		}
		var rows []Delivery
		if err := tx.Select("user_id, template_id, status").Where("user_id IN "+inList(ids)+" AND status IN ?",
			[]string{DeliverySending, DeliveryUnknown}).Find(&rows).Error; err != nil {
			return nil, err
		}
		for _, d := range rows {
			k := userTpl{appID, openid[d.UserID], wxTpl[d.TemplateID]}
			if k.wxTpl == "" {
				continue // another template
			}
			o := out[k]
			if d.Status == DeliverySending {
				o.sending = true
			} else {
				o.unknown = true
			}
			out[k] = o
		}
	}
	return out, nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// markDelivered settles sent deliveries as delivered; a row that is no
// longer sent (another pass or a late answer won) retries the pass.
func markDelivered(tx *gorm.DB, ids []int64, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	r := tx.Exec(updateDeliveriesByID(tx)+`status = ?, reason = ?, settled_at = ?, updated_at = ? WHERE id IN `+inList(ids)+` AND status = ?`,
		DeliveryDelivered, ReasonSentEvent, now, now, DeliverySent)
	if r.Error != nil {
		return r.Error
	}
	if r.RowsAffected != int64(len(ids)) {
		return errSettleRace
	}
	return nil
}

// linkSentEvents records which delivery each event settled, and marks
// those no delivery of ours will ever match (sent by someone else, or long
// settled) with delivery_id 0: out of the pending set, kept for support.
func linkSentEvents(tx *gorm.DB, evIDs, deliveryIDs, giveUp []int64) error {
	if len(evIDs) > 0 {
		if err := tx.Exec("UPDATE sent_events SET delivery_id = " + caseIntSQL(evIDs, deliveryIDs) + " WHERE id IN " + inList(evIDs)).Error; err != nil {
			return err
		}
	}
	if len(giveUp) > 0 {
		return tx.Exec("UPDATE sent_events SET delivery_id = 0 WHERE id IN " + inList(giveUp)).Error
	}
	return nil
}

// rowsLocked is how many rows the current MySQL transaction holds locked.
func rowsLocked(tx *gorm.DB) (int64, error) {
	if !IsMySQL(tx) {
		return 0, nil
	}
	var n int64
	err := tx.Raw("SELECT trx_rows_locked FROM information_schema.innodb_trx WHERE trx_mysql_thread_id = CONNECTION_ID()").Scan(&n).Error
	return n, err
}

// SettlePass is one page of SettlePendingSentEvents.
type SettlePass struct {
	// ByWindowAfter: events received before it that match no msgid are
	// tried against unknown deliveries (user + template within Window).
	ByWindowAfter time.Time
	// GiveUpBefore: events received before it that still match nothing, and
	// whose user has no send of their template in flight, are marked
	// unmatched (delivery_id 0) and not looked at again. Received is read
	// on the clock the push handler stamped them with (ApplyPushEvent).
	GiveUpBefore time.Time
	Now          time.Time
	Window       time.Duration
	// AfterID and Limit page through the pending events by id.
	AfterID int64
	Limit   int
}

// matchSentEventTx finds and settles the delivery of a stored event. window
// 0 matches by msgid only. wait is true when nothing matched yet but a send
// of the event's user and template is in flight: it may own the msgid, so
// the event must be kept.
func matchSentEventTx(tx *gorm.DB, e *SentEvent, now time.Time, window time.Duration) (_ *Delivery, wait bool, err error) {
	lock := func(q *gorm.DB) *gorm.DB {
		if IsMySQL(tx) {
			return q.Clauses(lockingClause())
		}
		return q
	}
	var ds []Delivery
	if err := lock(tx.Where("app_id = ? AND msgid = ?", e.AppID, e.MsgID)).Limit(1).Find(&ds).Error; err != nil {
		return nil, false, err
	}
	if len(ds) == 0 && window > 0 {
		var u User
		var t Template
		if err := tx.Select("id").Where("app_id = ? AND openid = ?", e.AppID, e.OpenID).Limit(1).Find(&u).Error; err != nil {
			return nil, false, err
		}
		if err := tx.Select("id").Where("app_id = ? AND template_id = ?", e.AppID, e.WxTemplateID).Limit(1).Find(&t).Error; err != nil {
			return nil, false, err
		}
		if u.ID == 0 || t.ID == 0 {
			return nil, false, nil
		}
		var inFlight int64
		if err := tx.Model(&Delivery{}).Where("user_id = ? AND template_id = ? AND status = ?", u.ID, t.ID, DeliverySending).
			Count(&inFlight).Error; err != nil {
			return nil, false, err
		}
		if inFlight > 0 {
			return nil, true, nil // that send may own this msgid: wait for its answer
		}
		err := lock(tx.Where(`user_id = ? AND template_id = ? AND status = ? AND msgid IS NULL AND called_at >= ? AND called_at <= ?`,
			u.ID, t.ID, DeliveryUnknown, e.EventTime.Add(-window), e.EventTime.Add(time.Minute))).
			Order("called_at, id").Limit(1).Find(&ds).Error
		if err != nil {
			return nil, false, err
		}
	}
	if len(ds) == 0 {
		return nil, false, nil
	}
	d := &ds[0]
	if err := tx.Model(&SentEvent{}).Where("id = ?", e.ID).Update("delivery_id", d.ID).Error; err != nil {
		return nil, false, err
	}
	if d.Status != DeliverySent && d.Status != DeliveryUnknown {
		return d, false, nil // already final
	}
	to, reason, code, msg := DeliveryDelivered, ReasonSentEvent, 0, ""
	if e.ErrorCode != 0 {
		to, code, msg = DeliveryFailed, e.ErrorCode, truncate(e.ErrorStatus, 190)
	}
	set := map[string]any{"status": to, "reason": reason, "errcode": code, "errmsg": msg, "settled_at": now,
		"msgid": e.MsgID, "updated_at": now, "lease_owner": "", "lease_until": nil}
	if d.SentAt == nil {
		set["sent_at"] = e.EventTime
	}
	if err := tx.Model(&Delivery{}).Where("id = ? AND status = ?", d.ID, d.Status).Updates(set).Error; err != nil {
		return nil, false, err
	}
	st := StatDeltas{}
	detail := ""
	if to == DeliveryFailed {
		detail = strconv.Itoa(code)
	}
	st.Move(d.AppID, d.RunID, d.Status, to, detail)
	if err := applyStats(tx, st); err != nil {
		return nil, false, err
	}
	d.Status, d.Reason, d.ErrCode, d.ErrMsg = to, reason, code, msg
	msgid := e.MsgID
	d.MsgID = &msgid
	return d, false, nil
}
