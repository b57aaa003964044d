package models

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Outcomes: recording WeChat's answers to a batch of sends.

// Outcome is what became of one send.
type Outcome struct {
	// D is the delivery as claimed.
	D *Delivery
	// Status: DeliverySent (MsgID set), DeliveryFailed, DeliveryQueued (retry
	// at NextAttemptAt) or DeliveryUnknown.
	Status string
	Reason string
	// ErrCode and ErrMsg are WeChat's answer (or the error, for people).
	ErrCode int
	ErrMsg  string
	MsgID   int64
	// NextAttemptAt (DeliveryQueued).
	NextAttemptAt time.Time
	// Uncount (DeliveryQueued): the attempt does not count toward the limit
	// (quota pause, 43108, no token).
	Uncount bool
	// Refund gives the spent credit back (WeChat delivered nothing).
	Refund bool
	// ZeroCredits sets the user's credits for the template to 0 (43101).
	ZeroCredits bool
}

func (o *Outcome) detail() string {
	switch o.Status {
	case DeliveryFailed:
		if o.ErrCode != 0 {
			return strconv.Itoa(o.ErrCode)
		}
		return o.Reason
	case DeliverySkipped:
		return o.Reason
	}
	return ""
}

var errLeaseLost = errors.New("a delivery's lease was lost")

var errSettleRace = errors.New("a delivery changed while its sent event was settled; retrying")

// ApplyOutcomes records the answers of a batch of sends in one transaction:
// statuses, WeChat's codes and msgids, retries, refunds, 43101 zeroing and
// counters. A sent delivery whose subscribe_msg_sent_event already arrived
// is settled at once. Rows whose lease another instance took over (they
// became unknown) are handled one by one: the answer is still the truth.
//
// window is the settle window for unknown outcomes (see RecordSentEvent).
func ApplyOutcomes(ctx context.Context, db *gorm.DB, owner string, now time.Time, window time.Duration, outs []Outcome) error {
	if len(outs) == 0 {
		return nil
	}
	db = db.WithContext(ctx)
	now = now.UTC()
	err := retryTx(ctx, db, func(tx *gorm.DB) error { return applyOutcomesTx(tx, owner, now, window, outs) })
	if !errors.Is(err, errLeaseLost) {
		return err
	}
	var errs []error
	for i := range outs {
		o := outs[i]
		if err := retryTx(ctx, db, func(tx *gorm.DB) error { return applyOneOutcomeTx(tx, now, window, &o) }); err != nil {
			errs = append(errs, fmt.Errorf("delivery %d: %w", o.D.ID, err))
		}
	}
	return errors.Join(errs...)
}

type outGroup struct {
	status, reason string
	uncount        bool
}

func applyOutcomesTx(tx *gorm.DB, owner string, now time.Time, window time.Duration, outs []Outcome) error {
	groups := map[outGroup][]*Outcome{}
	var order []outGroup
	for i := range outs {
		o := &outs[i]
		g := outGroup{o.Status, o.Reason, o.Uncount && o.Status == DeliveryQueued}
		if groups[g] == nil {
			order = append(order, g)
		}
		groups[g] = append(groups[g], o)
	}
	st := StatDeltas{}
	for _, g := range order {
		os := groups[g]
		sort.Slice(os, func(i, j int) bool { return os[i].D.ID < os[j].D.ID })
		ids := make([]int64, len(os))
		for i, o := range os {
			ids[i] = o.D.ID
		}
		sql, args := outcomeSet(g, os, now)
		args = append(args, DeliverySending, owner)
		r := tx.Exec(updateDeliveriesByID(tx)+sql+" WHERE id IN "+inList(ids)+" AND status = ? AND lease_owner = ?", args...)
		if r.Error != nil {
			return r.Error
		}
		if r.RowsAffected != int64(len(ids)) {
			return errLeaseLost
		}
		for _, o := range os {
			st.Move(o.D.AppID, o.D.RunID, DeliverySending, o.Status, o.detail())
		}
	}
	if err := outcomeSideEffects(tx, now, outs); err != nil {
		return err
	}
	if err := applyStats(tx, st); err != nil {
		return err
	}
	return settleArrivedEvents(tx, now, window, outs)
}

// outcomeSet builds the SET clause of one group of outcomes.
func outcomeSet(g outGroup, os []*Outcome, now time.Time) (string, []any) {
	ids := make([]int64, len(os))
	for i, o := range os {
		ids[i] = o.D.ID
	}
	var sb strings.Builder
	args := []any{}
	sb.WriteString("status = ?, reason = ?, lease_owner = '', lease_until = NULL, updated_at = ?")
	args = append(args, g.status, g.reason, now)
	codes := make([]any, len(os))
	msgs := make([]any, len(os))
	for i, o := range os {
		codes[i] = o.ErrCode
		msgs[i] = truncate(o.ErrMsg, 190)
	}
	addCase := func(col string, vals []any) {
		s, a := caseSQL(col, ids, vals)
		sb.WriteString(", " + col + " = " + s)
		args = append(args, a...)
	}
	switch g.status {
	case DeliverySent:
		ms := make([]int64, len(os))
		for i, o := range os {
			ms[i] = o.MsgID
		}
		sb.WriteString(", msgid = " + caseIntSQL(ids, ms))
		sb.WriteString(", errcode = 0, errmsg = '', sent_at = ?")
		args = append(args, now)
	case DeliveryFailed:
		addCase("errcode", codes)
		addCase("errmsg", msgs)
		sb.WriteString(", settled_at = ?")
		args = append(args, now)
	case DeliveryQueued:
		addCase("errcode", codes)
		addCase("errmsg", msgs)
		next := make([]any, len(os))
		for i, o := range os {
			next[i] = o.NextAttemptAt.UTC()
		}
		addCase("next_attempt_at", next)
		if g.uncount {
			sb.WriteString(", attempts = attempts - 1")
		}
	case DeliveryUnknown:
		addCase("errcode", codes)
		addCase("errmsg", msgs)
	}
	return sb.String(), args
}

// outcomeSideEffects refunds and zeroes credits.
func outcomeSideEffects(tx *gorm.DB, now time.Time, outs []Outcome) error {
	var unspent []int64
	for i := range outs {
		o := &outs[i]
		d := o.D
		tplID, delivID := d.TemplateID, d.ID
		c := CreditChange{AppID: d.AppID, UserID: d.UserID, TemplateID: tplID, Source: SourceEngine, DeliveryID: &delivID, Now: now}
		if o.Refund && d.CreditSpent {
			c.DedupKey = dedupKey("refund", d.ID)
			if _, err := refundTx(tx, &c); err != nil {
				return err
			}
			unspent = append(unspent, d.ID)
		}
		if o.ZeroCredits {
			c.DedupKey = dedupKey("zero", d.ID)
			if _, err := zeroTx(tx, &c); err != nil {
				return err
			}
		}
	}
	if len(unspent) > 0 {
		return tx.Exec(updateDeliveriesByID(tx)+"credit_spent = ? WHERE id IN "+inList(unspent), false).Error
	}
	return nil
}

// settleArrivedEvents settles unknown deliveries whose sent event came
// before the send gave up waiting (user + template within window). Sent
// ones are settled in batches by the engine's settler.
func settleArrivedEvents(tx *gorm.DB, now time.Time, window time.Duration, outs []Outcome) error {
	unknownByApp := map[int64][]string{}
	for i := range outs {
		if outs[i].Status == DeliveryUnknown {
			unknownByApp[outs[i].D.AppID] = append(unknownByApp[outs[i].D.AppID], outs[i].D.OpenID)
		}
	}
	for appID, openids := range unknownByApp {
		var evs []SentEvent
		if err := tx.Where("app_id = ? AND openid IN ? AND delivery_id IS NULL", appID, openids).Order("id").Find(&evs).Error; err != nil {
			return err
		}
		for i := range evs {
			if _, _, err := matchSentEventTx(tx, &evs[i], now, window); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyOneOutcomeTx records one answer whatever the row's state: a row
// another instance turned unknown (lease expired) still gets the truth.
func applyOneOutcomeTx(tx *gorm.DB, now time.Time, window time.Duration, o *Outcome) error {
	var d Delivery
	q := tx.Where("id = ?", o.D.ID)
	if IsMySQL(tx) {
		q = q.Clauses(lockingClause())
	}
	if err := q.First(&d).Error; err != nil {
		return translate(err)
	}
	if d.Status != DeliverySending && d.Status != DeliveryUnknown {
		return nil // settled meanwhile (sent event, staff): keep it
	}
	// A row another instance declared unknown (its lease ran out while our
	// call was slow) takes our answer: sent, failed, or queued again when
	// WeChat's answer proves nothing was delivered (-1, 43108, 45009, not
	// sent) — we were its only caller, so a retry is no blind resend.
	g := outGroup{o.Status, o.Reason, o.Uncount && o.Status == DeliveryQueued}
	sql, args := outcomeSet(g, []*Outcome{o}, now)
	args = append(args, d.ID, d.Status)
	if err := tx.Exec(updateDeliveriesByID(tx)+sql+" WHERE id = ? AND status = ?", args...).Error; err != nil {
		return err
	}
	st := StatDeltas{}
	st.Move(d.AppID, d.RunID, d.Status, o.Status, o.detail())
	one := []Outcome{*o}
	one[0].D = &d
	if err := outcomeSideEffects(tx, now, one); err != nil {
		return err
	}
	if err := applyStats(tx, st); err != nil {
		return err
	}
	return settleArrivedEvents(tx, now, window, one)
}
