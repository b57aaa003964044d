package models

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Claiming: the engine takes a batch of due deliveries of one app in one
// transaction, decides each, spends credits and marks them sending.

// Action is what the engine decided for a claimed delivery.
type Action int

const (
	// ActSend: spend the credit (one-time) or check the long-term
	// subscription, and mark the delivery sending under the claim's lease.
	ActSend Action = iota
	// ActSkip: end the delivery as skipped with Reason and Detail; no call.
	ActSkip
	// ActDefer: leave it queued until Until (e.g. another send to the same
	// user is in flight).
	ActDefer
)

// Decision is the engine's verdict on one claimed delivery.
type Decision struct {
	Action Action
	// LongTerm (ActSend): the template is long-term: no credit is spent but
	// the user must hold an active long-term subscription.
	LongTerm bool
	// Data (ActSend): the rendered values to store and send; "" keeps Data.
	Data string
	// Reason (ActSkip): why, a stable code (Reason* constants) that the
	// console puts into words; Detail: what it refers to (an attribute
	// name, keyword keys), stored as the delivery's errmsg.
	Reason, Detail string
	// Until (ActDefer): the next attempt.
	Until time.Time
}

// ClaimRequest claims due deliveries of one app.
type ClaimRequest struct {
	AppID    int64
	Owner    string // the claiming instance; stored as lease_owner
	Limit    int
	Now      time.Time
	LeaseFor time.Duration
	// Decide is called inside the claiming transaction with the claimed rows
	// and the attributes (JSON) of the users of rows whose data holds a
	// {{placeholder}}; it returns one Decision per row, in order. It must
	// not touch the database.
	Decide func(rows []Delivery, attrs map[int64]string) []Decision
}

// ClaimResult is what a claim did.
type ClaimResult struct {
	// Send are the deliveries now sending under the lease (Data rendered),
	// with CreditSpent set when a credit is held for them.
	Send []Delivery
	// Skipped counts deliveries ended as skipped, by reason.
	Skipped map[string]int
	// Deferred counts deliveries left queued for later.
	Deferred int
}

// ClaimDeliveries claims up to Limit due deliveries of an app in one
// transaction: rows are locked with FOR UPDATE SKIP LOCKED on MySQL (SQLite
// has a single writer), each is decided, credits of one-time templates are
// spent with one conditional UPDATE (credits > 0) and logged, users without
// credit are skipped with reason no_subscription, and the rest are marked
// sending with a lease and one more attempt (called_at is set by MarkCalled
// just before each request leaves).
func ClaimDeliveries(ctx context.Context, db *gorm.DB, req ClaimRequest) (*ClaimResult, error) {
	var res *ClaimResult
	err := retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
		var err error
		res, err = claimTx(tx, &req)
		return err
	})
	return res, err
}

type subKey struct{ user, tpl int64 }

func claimTx(tx *gorm.DB, req *ClaimRequest) (*ClaimResult, error) {
	now := req.Now.UTC()
	res := &ClaimResult{Skipped: map[string]int{}}
	rows, err := claimDue(tx, req.AppID, now, req.Limit)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return res, nil
	}
	var attrUsers []int64
	for i := range rows {
		if strings.Contains(rows[i].Data, "{{") {
			attrUsers = append(attrUsers, rows[i].UserID)
		}
	}
	attrs := map[int64]string{}
	if len(attrUsers) > 0 {
		var us []struct {
			ID         int64
			Attributes string
		}
		if err := tx.Model(&User{}).Select("id, attributes").Where("id IN " + inList(uniq(attrUsers))).Scan(&us).Error; err != nil {
			return nil, err
		}
		for _, u := range us {
			attrs[u.ID] = u.Attributes
		}
	}
	decisions := req.Decide(rows, attrs)
	if len(decisions) != len(rows) {
		return nil, fmt.Errorf("claim: %d decisions for %d rows", len(decisions), len(rows))
	}

	// Subscriptions of the rows to send.
	var userIDs, tplIDs []int64
	for i, dec := range decisions {
		if dec.Action == ActSend && (dec.LongTerm || !rows[i].CreditSpent) {
			userIDs = append(userIDs, rows[i].UserID)
			tplIDs = append(tplIDs, rows[i].TemplateID)
		}
	}
	subs := map[subKey]*Subscription{}
	if len(userIDs) > 0 {
		var list []Subscription
		sq := tx.Where("user_id IN " + inList(uniq(userIDs)) + " AND template_id IN " + inList(uniq(tplIDs)))
		if IsMySQL(tx) {
			sq = sq.Clauses(lockingClause())
		}
		if err := sq.Find(&list).Error; err != nil {
			return nil, err
		}
		for i := range list {
			subs[subKey{list[i].UserID, list[i].TemplateID}] = &list[i]
		}
	}

	st := StatDeltas{}
	var sendIDs, spendSubIDs, newlySpent []int64
	var events []SubscriptionEvent
	type skipGroup struct{ reason, msg string }
	skips := map[skipGroup][]int64{}
	defers := map[time.Time][]int64{}
	var renderedIDs []int64
	var renderedData []any
	var refundSkipped []*Delivery
	spendCount := map[int64]int{}
	for i := range rows {
		d := &rows[i]
		dec := decisions[i]
		if dec.Action == ActSend {
			ok := true
			if dec.LongTerm {
				s := subs[subKey{d.UserID, d.TemplateID}]
				ok = s != nil && s.CanReceive(true)
			} else if !d.CreditSpent {
				s := subs[subKey{d.UserID, d.TemplateID}]
				if s == nil || s.Credits-spendCount[s.ID] <= 0 {
					ok = false
				} else {
					spendCount[s.ID]++
					spendSubIDs = append(spendSubIDs, s.ID)
					newlySpent = append(newlySpent, d.ID)
					d.CreditSpent = true
					tplID, delivID := d.TemplateID, d.ID
					key := dedupKey("spend", d.ID)
					events = append(events, SubscriptionEvent{AppID: d.AppID, UserID: d.UserID, TemplateID: &tplID,
						Kind: SubEventSpend, Delta: -1, Source: SourceEngine, DeliveryID: &delivID, DedupKey: &key, CreatedAt: now})
				}
			}
			if !ok {
				dec = Decision{Action: ActSkip, Reason: ReasonNoSubscription}
			}
		}
		switch dec.Action {
		case ActSend:
			sendIDs = append(sendIDs, d.ID)
			if dec.Data != "" && dec.Data != d.Data {
				d.Data = dec.Data
				renderedIDs = append(renderedIDs, d.ID)
				renderedData = append(renderedData, dec.Data)
			}
			st.Move(d.AppID, d.RunID, DeliveryQueued, DeliverySending, "")
		case ActSkip:
			g := skipGroup{dec.Reason, truncate(dec.Detail, 190)}
			skips[g] = append(skips[g], d.ID)
			if d.CreditSpent {
				// Spent by an earlier attempt that WeChat did not deliver:
				// skipped now, so no call will use it. Give it back.
				refundSkipped = append(refundSkipped, d)
			}
			res.Skipped[dec.Reason]++
			st.Move(d.AppID, d.RunID, DeliveryQueued, DeliverySkipped, dec.Reason)
		case ActDefer:
			until := dec.Until.UTC()
			defers[until] = append(defers[until], d.ID)
			res.Deferred++
		}
	}

	// Spend: one conditional UPDATE for the batch (a user appears at most
	// once per template in a batch unless the engine let it; then per count).
	if len(spendSubIDs) > 0 {
		var once []int64
		for id, n := range spendCount {
			if n == 1 {
				once = append(once, id)
				continue
			}
			r := tx.Exec("UPDATE subscriptions SET credits = credits - ?, updated_at = ? WHERE id = ? AND credits >= ?", n, now, id, n)
			if r.Error != nil {
				return nil, r.Error
			}
			if r.RowsAffected != 1 {
				return nil, errCreditRace
			}
		}
		if len(once) > 0 {
			sort.Slice(once, func(i, j int) bool { return once[i] < once[j] })
			r := tx.Exec("UPDATE subscriptions SET credits = credits - 1, updated_at = ? WHERE id IN "+inList(once)+" AND credits > 0", now)
			if r.Error != nil {
				return nil, r.Error
			}
			if r.RowsAffected != int64(len(once)) {
				return nil, errCreditRace
			}
		}
		if err := insertSpendEvents(tx, events); err != nil {
			return nil, translate(err)
		}
	}
	if len(sendIDs) > 0 {
		// One UPDATE marks the batch sending, sets credit_spent on the rows
		// whose credit was spent now (all of them, usually) and stores the
		// rendered values.
		leaseUntil := now.Add(req.LeaseFor)
		// called_at is cleared: MarkCalled sets it just before the request
		// leaves, so lease recovery can tell started rows from waiting ones.
		set := "status = ?, reason = '', lease_owner = ?, lease_until = ?, called_at = NULL, attempts = attempts + 1, updated_at = ?"
		args := []any{DeliverySending, req.Owner, leaseUntil, now}
		switch {
		case len(newlySpent) == 0:
		case len(newlySpent) == len(sendIDs):
			set += ", credit_spent = ?"
			args = append(args, true)
		default:
			set += ", credit_spent = CASE WHEN id IN " + inList(newlySpent) + " THEN ? ELSE credit_spent END"
			args = append(args, true)
		}
		if len(renderedIDs) > 0 {
			sql, cargs := caseSQL("data", renderedIDs, renderedData)
			set += ", data = " + sql
			args = append(args, cargs...)
		}
		if err := tx.Exec(updateDeliveriesByID(tx)+set+" WHERE id IN "+inList(sendIDs), args...).Error; err != nil {
			return nil, err
		}
	}
	for g, ids := range skips {
		if err := tx.Exec(updateDeliveriesByID(tx)+`status = ?, reason = ?, errmsg = ?, settled_at = ?, updated_at = ? WHERE id IN `+inList(ids),
			DeliverySkipped, g.reason, g.msg, now, now).Error; err != nil {
			return nil, err
		}
	}
	for _, d := range refundSkipped {
		tplID, delivID := d.TemplateID, d.ID
		c := CreditChange{AppID: d.AppID, UserID: d.UserID, TemplateID: tplID, Source: SourceEngine, DeliveryID: &delivID,
			DedupKey: dedupKey("refund", d.ID), Now: now}
		if _, err := refundTx(tx, &c); err != nil {
			return nil, err
		}
		if err := tx.Exec(updateDeliveriesByID(tx)+"credit_spent = ? WHERE id = ?", false, d.ID).Error; err != nil {
			return nil, err
		}
	}
	for until, ids := range defers {
		if err := tx.Exec(updateDeliveriesByID(tx)+"next_attempt_at = ?, updated_at = ? WHERE id IN "+inList(ids), until, now).Error; err != nil {
			return nil, err
		}
	}
	if err := applyStats(tx, st); err != nil {
		return nil, err
	}
	leaseUntil := now.Add(req.LeaseFor)
	sendSet := make(map[int64]bool, len(sendIDs))
	for _, id := range sendIDs {
		sendSet[id] = true
	}
	for i := range rows {
		if sendSet[rows[i].ID] {
			d := rows[i]
			d.Status, d.Reason, d.LeaseOwner, d.LeaseUntil, d.CalledAt = DeliverySending, "", req.Owner, &leaseUntil, nil
			d.Attempts++
			res.Send = append(res.Send, d)
		}
	}
	return res, nil
}

var errCreditRace = errors.New("claim: a credit changed under the claim; retrying")

// claimDue reads (and on MySQL locks, skipping rows another claim holds)
// up to limit due deliveries of an app, in two lanes: messages sent one
// at a time (API, test sends: bulk = 0) first, then campaign messages,
// each lane in due order. Each lane is one range of ix_deliveries_app_due
// (status, app_id, bulk, next_attempt_at) (migration 14).
func claimDue(tx *gorm.DB, appID int64, now time.Time, limit int) ([]Delivery, error) {
	var rows []Delivery
	for _, bulk := range []bool{false, true} {
		if len(rows) >= limit {
			break
		}
		q := tx.Where("status = ? AND app_id = ? AND bulk = ? AND next_attempt_at <= ?", DeliveryQueued, appID, bulk, now).
			Order("next_attempt_at").Limit(limit - len(rows))
		if IsMySQL(tx) {
			q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked})
		}
		var lane []Delivery
		if err := q.Find(&lane).Error; err != nil {
			return nil, err
		}
		rows = append(rows, lane...)
	}
	return rows, nil
}
