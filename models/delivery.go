package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Delivery statuses. A delivery moves queued → sending → sent → delivered
// (or failed), or ends skipped (no call made), failed (WeChat refused, or
// attempts used up) or unknown (the call may have reached WeChat but no
// answer came back; only a subscribe_msg_sent_event or staff settle it).
const (
	DeliveryQueued    = "queued"
	DeliverySending   = "sending"
	DeliverySent      = "sent"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
	DeliverySkipped   = "skipped"
	DeliveryUnknown   = "unknown"
)

// Reasons stored in deliveries.reason (and as the detail of skip counters).
const (
	ReasonNoSubscription  = "no_subscription"  // skipped: no credit / no long-term subscription
	ReasonInvalidValue    = "invalid_value"    // skipped: a keyword value breaks its rule
	ReasonTemplateDeleted = "template_deleted" // skipped: the template is gone or unknown
	ReasonAppDisabled     = "app_disabled"     // skipped: the app was disabled
	ReasonWeChat          = "wechat"           // failed: WeChat refused (errcode says why)
	ReasonMaxAttempts     = "max_attempts"     // failed: transient errors until attempts ran out
	ReasonSentEvent       = "sent_event"       // settled by subscribe_msg_sent_event
	ReasonOutcomeUnknown  = "outcome_unknown"  // unknown: no answer after the request left
	ReasonLeaseExpired    = "lease_expired"    // unknown: the sending instance vanished mid-send
	ReasonRetry           = "retry"            // queued again after a transient error
	ReasonUserBusy        = "user_busy"        // queued again: another send to the user was in flight (43108)
	ReasonQuota           = "quota"            // queued again: the app's daily quota is used up (45009)
	ReasonNoToken         = "no_token"         // queued again: no access token could be had
)

// Delivery is one message to one user: its whole story.
type Delivery struct {
	ID             int64
	AppID          int64 `gorm:"column:app_id"`
	RunID          *int64
	UserID         int64
	TemplateID     int64
	APIKeyID       *int64 `gorm:"column:api_key_id"`
	IdempotencyKey *string
	OpenID         string `gorm:"column:openid"`
	Page           string
	Data           string // JSON object: keyword key → value (may hold {{attr}} placeholders until sent)
	Status         string
	Reason         string
	Attempts       int
	NextAttemptAt  time.Time
	LeaseOwner     string
	LeaseUntil     *time.Time
	CreditSpent    bool
	ErrCode        int    `gorm:"column:errcode"`
	ErrMsg         string `gorm:"column:errmsg"`
	MsgID          *int64 `gorm:"column:msgid"`
	QueuedAt       time.Time
	CalledAt       *time.Time
	SentAt         *time.Time
	SettledAt      *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// DataMap decodes the keyword values.
func (d *Delivery) DataMap() (map[string]string, error) {
	m := map[string]string{}
	if d.Data == "" {
		return m, nil
	}
	err := json.Unmarshal([]byte(d.Data), &m)
	return m, err
}

// Final tells whether the delivery will change no more by itself.
func (d *Delivery) Final() bool {
	switch d.Status {
	case DeliveryQueued, DeliverySending, DeliverySent:
		return false
	}
	return true
}

// NewDelivery is a message to enqueue.
type NewDelivery struct {
	AppID      int64
	UserID     int64
	TemplateID int64
	// OpenID is looked up from UserID when empty.
	OpenID   string
	RunID    *int64
	APIKeyID *int64
	// IdempotencyKey makes a retried API request return the first delivery
	// instead of queueing a second (unique per app). Empty: none.
	IdempotencyKey string
	Page           string
	// Data maps keyword keys to values; "{{name}}" in a value is replaced by
	// the user's attribute name when the message is sent.
	Data map[string]string
	// NotBefore delays the first attempt; zero: now.
	NotBefore time.Time
}

func (nd *NewDelivery) row(now time.Time) (*Delivery, error) {
	data := nd.Data
	if data == nil {
		data = map[string]string{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	next := nd.NotBefore.UTC()
	if next.IsZero() || next.Before(now) {
		next = now
	}
	d := &Delivery{AppID: nd.AppID, RunID: nd.RunID, UserID: nd.UserID, TemplateID: nd.TemplateID, APIKeyID: nd.APIKeyID,
		OpenID: nd.OpenID, Page: nd.Page, Data: string(b), Status: DeliveryQueued, NextAttemptAt: next,
		QueuedAt: now, CreatedAt: now, UpdatedAt: now}
	if nd.IdempotencyKey != "" {
		k := nd.IdempotencyKey
		d.IdempotencyKey = &k
	}
	return d, nil
}

// EnqueueDelivery queues one message (a transactional send, a console test
// send). With an idempotency key already used for the app, the existing
// delivery is returned with created false.
func EnqueueDelivery(ctx context.Context, db *gorm.DB, nd NewDelivery) (*Delivery, bool, error) {
	db = db.WithContext(ctx)
	if nd.IdempotencyKey != "" {
		if d, err := GetDeliveryByIdempotencyKey(ctx, db, nd.AppID, nd.IdempotencyKey); err == nil {
			return d, false, nil
		}
	}
	if nd.OpenID == "" {
		u, err := GetUser(ctx, db, nd.UserID)
		if err != nil {
			return nil, false, fmt.Errorf("delivery to user %d: %w", nd.UserID, err)
		}
		nd.OpenID = u.OpenID
	}
	d, err := nd.row(time.Now().UTC())
	if err != nil {
		return nil, false, err
	}
	err = retryTx(ctx, db, func(tx *gorm.DB) error {
		if err := tx.Create(d).Error; err != nil {
			return translate(err)
		}
		st := StatDeltas{}
		st.Add(d.AppID, d.RunID, DeliveryQueued, "", 1)
		return applyStats(tx, st)
	})
	if errors.Is(err, ErrDuplicate) && nd.IdempotencyKey != "" {
		existing, gerr := GetDeliveryByIdempotencyKey(ctx, db, nd.AppID, nd.IdempotencyKey)
		if gerr == nil {
			return existing, false, nil
		}
	}
	if err != nil {
		return nil, false, err
	}
	return d, true, nil
}

// EnqueueDeliveries queues many messages of one app and run (a run's
// audience, the bench) in batched inserts. A user already in the run is
// skipped. It returns how many were queued.
func EnqueueDeliveries(ctx context.Context, db *gorm.DB, nds []NewDelivery) (int64, error) {
	if len(nds) == 0 {
		return 0, nil
	}
	now := time.Now().UTC()
	rows := make([]*Delivery, 0, len(nds))
	for i := range nds {
		nd := &nds[i]
		if nd.AppID != nds[0].AppID || !sameRun(nd.RunID, nds[0].RunID) {
			return 0, errors.New("EnqueueDeliveries: every delivery of a call must be of one app and run")
		}
		if nd.OpenID == "" {
			return 0, errors.New("EnqueueDeliveries: OpenID is required")
		}
		d, err := nd.row(now)
		if err != nil {
			return 0, err
		}
		rows = append(rows, d)
	}
	var n int64
	err := retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
		n = 0
		// SQLite's driver binds arguments in time quadratic in their
		// number: smaller statements there (all in one transaction).
		chunk := 500
		if !IsMySQL(tx) {
			chunk = 50
		}
		for start := 0; start < len(rows); start += chunk {
			end := min(start+chunk, len(rows))
			res := insertIgnore(tx).Create(rows[start:end])
			if res.Error != nil {
				return translate(res.Error)
			}
			n += res.RowsAffected
		}
		st := StatDeltas{}
		st.Add(nds[0].AppID, nds[0].RunID, DeliveryQueued, "", n)
		return applyStats(tx, st)
	})
	return n, err
}

func sameRun(a, b *int64) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// GetDelivery loads a delivery.
func GetDelivery(ctx context.Context, db *gorm.DB, id int64) (*Delivery, error) {
	var d Delivery
	if err := db.WithContext(ctx).First(&d, id).Error; err != nil {
		return nil, translate(err)
	}
	return &d, nil
}

// GetDeliveryByIdempotencyKey loads an app's delivery by its API key.
func GetDeliveryByIdempotencyKey(ctx context.Context, db *gorm.DB, appID int64, key string) (*Delivery, error) {
	var d Delivery
	err := db.WithContext(ctx).Where("app_id = ? AND idempotency_key = ?", appID, key).First(&d).Error
	if err != nil {
		return nil, translate(err)
	}
	return &d, nil
}

// ListUserDeliveries returns a user's deliveries, newest first, before
// beforeID (0: from the newest), at most limit (keyset pagination).
func ListUserDeliveries(ctx context.Context, db *gorm.DB, userID, beforeID int64, limit int) ([]Delivery, error) {
	q := db.WithContext(ctx).Where("user_id = ?", userID)
	if beforeID > 0 {
		q = q.Where("id < ?", beforeID)
	}
	var out []Delivery
	err := q.Order("id DESC").Limit(limit).Find(&out).Error
	return out, err
}

// CountDeliveriesByStatus counts an app's deliveries per status (0: every
// app) straight from the deliveries table.
func CountDeliveriesByStatus(ctx context.Context, db *gorm.DB, appID int64) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	q := db.WithContext(ctx).Model(&Delivery{}).Select("status, COUNT(*) AS n")
	if appID != 0 {
		q = q.Where("app_id = ?", appID)
	}
	err := q.Group("status").Scan(&rows).Error
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, err
}

// QueueDepth counts queued deliveries per app (for the queue-depth gauge).
func QueueDepth(ctx context.Context, db *gorm.DB) (map[int64]int64, error) {
	var rows []struct {
		AppID int64 `gorm:"column:app_id"`
		N     int64
	}
	err := db.WithContext(ctx).Model(&Delivery{}).Select("app_id, COUNT(*) AS n").
		Where("status = ?", DeliveryQueued).Group("app_id").Scan(&rows).Error
	out := map[int64]int64{}
	for _, r := range rows {
		out[r.AppID] = r.N
	}
	return out, err
}

// ---- claiming ----

// Action is what the engine decided for a claimed delivery.
type Action int

const (
	// ActSend: spend the credit (one-time) or check the long-term
	// subscription, and mark the delivery sending under the claim's lease.
	ActSend Action = iota
	// ActSkip: end the delivery as skipped with Reason and Msg; no call.
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
	// Reason and Msg (ActSkip): why, for the ledger and for people.
	Reason, Msg string
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
	q := tx.Where("status = ? AND app_id = ? AND next_attempt_at <= ?", DeliveryQueued, req.AppID, now).
		Order("next_attempt_at").Limit(req.Limit)
	if IsMySQL(tx) {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked})
	}
	var rows []Delivery
	if err := q.Find(&rows).Error; err != nil {
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
				dec = Decision{Action: ActSkip, Reason: ReasonNoSubscription,
					Msg: "the user holds no subscription for this template: they must tap allow again (no WeChat call was made)"}
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
			g := skipGroup{dec.Reason, truncate(dec.Msg, 190)}
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
		if err := tx.Exec("UPDATE deliveries SET "+set+" WHERE id IN "+inList(sendIDs), args...).Error; err != nil {
			return nil, err
		}
	}
	for g, ids := range skips {
		if err := tx.Exec(`UPDATE deliveries SET status = ?, reason = ?, errmsg = ?, settled_at = ?, updated_at = ? WHERE id IN `+inList(ids),
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
		if err := tx.Exec("UPDATE deliveries SET credit_spent = ? WHERE id = ?", false, d.ID).Error; err != nil {
			return nil, err
		}
	}
	for until, ids := range defers {
		if err := tx.Exec("UPDATE deliveries SET next_attempt_at = ?, updated_at = ? WHERE id IN "+inList(ids), until, now).Error; err != nil {
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

// ---- outcomes ----

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
		r := tx.Exec("UPDATE deliveries SET "+sql+" WHERE id IN "+inList(ids)+" AND status = ? AND lease_owner = ?", args...)
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
		return tx.Exec("UPDATE deliveries SET credit_spent = ? WHERE id IN "+inList(unspent), false).Error
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
			if _, err := matchSentEventTx(tx, &evs[i], now, window); err != nil {
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
	if err := tx.Exec("UPDATE deliveries SET "+sql+" WHERE id = ? AND status = ?", args...).Error; err != nil {
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

// ---- leases ----

// RecoverExpiredLeases handles deliveries left sending past their lease
// (the instance died or hung mid-send): those whose call had started become
// unknown (the call may have reached WeChat, so they are never resent
// blindly; a sent event or staff settle them); those still waiting for
// their turn go back to the queue. owner, when not empty, limits it to
// that instance's rows whatever their lease (used at shutdown). It returns
// how many it changed.
func RecoverExpiredLeases(ctx context.Context, db *gorm.DB, now time.Time, owner string, limit int) (int, error) {
	n := 0
	now = now.UTC()
	err := retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
		q := tx.Select("id, app_id, run_id, called_at").Where("status = ?", DeliverySending)
		if owner != "" {
			q = q.Where("lease_owner = ?", owner)
		} else {
			q = q.Where("lease_until < ?", now)
		}
		q = q.Order("id").Limit(limit)
		if IsMySQL(tx) {
			q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked})
		}
		var rows []Delivery
		if err := q.Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			n = 0
			return nil
		}
		// Rows whose request had started (called_at set) may have reached
		// WeChat: unknown, never resent. Rows still waiting for their turn
		// (called_at NULL) provably were not sent: back to the queue, their
		// credit stays spent for the next attempt.
		var called, waiting []int64
		st := StatDeltas{}
		for i := range rows {
			if rows[i].CalledAt != nil {
				called = append(called, rows[i].ID)
				st.Move(rows[i].AppID, rows[i].RunID, DeliverySending, DeliveryUnknown, "")
			} else {
				waiting = append(waiting, rows[i].ID)
				st.Move(rows[i].AppID, rows[i].RunID, DeliverySending, DeliveryQueued, "")
			}
		}
		var changed int64
		if len(called) > 0 {
			r := tx.Exec(`UPDATE deliveries SET status = ?, reason = ?, errmsg = ?, lease_owner = '', lease_until = NULL, updated_at = ?
				WHERE id IN ? AND status = ?`, DeliveryUnknown, ReasonLeaseExpired,
				"the instance sending it stopped before WeChat answered: it is not resent; subscribe_msg_sent_event or staff settle it",
				now, called, DeliverySending)
			if r.Error != nil {
				return r.Error
			}
			changed += r.RowsAffected
		}
		if len(waiting) > 0 {
			r := tx.Exec(`UPDATE deliveries SET status = ?, reason = ?, lease_owner = '', lease_until = NULL, next_attempt_at = ?,
				attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = ? WHERE id IN ? AND status = ?`,
				DeliveryQueued, ReasonRetry, now, now, waiting, DeliverySending)
			if r.Error != nil {
				return r.Error
			}
			changed += r.RowsAffected
		}
		if changed != int64(len(rows)) {
			return errLeaseLost
		}
		n = len(rows)
		return applyStats(tx, st)
	})
	return n, err
}

// ---- settlement by subscribe_msg_sent_event ----

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
// retries pushes). It is all the push handler has to do: the engine's
// settler matches stored events to their deliveries in batches
// (SettlePendingSentEvents). duplicate is true when it was stored before.
func StoreSentEvent(ctx context.Context, db *gorm.DB, ev SentEvent, now time.Time) (duplicate bool, err error) {
	e := ev
	e.ID, e.DeliveryID, e.CreatedAt, e.EventTime = 0, nil, now.UTC(), ev.EventTime.UTC()
	r := insertIgnore(db.WithContext(ctx)).Create(&e)
	if r.Error != nil {
		return false, translate(r.Error)
	}
	return r.RowsAffected == 0, nil
}

// SettlePendingSentEvents matches stored sent events (received since since)
// to their deliveries, up to limit events in one transaction: by msgid in
// one batch; events older than byWindowAfter that found no msgid are tried
// one by one against unknown deliveries (user + template within window).
// It returns how many deliveries it settled and how many events it looked
// at.
func SettlePendingSentEvents(ctx context.Context, db *gorm.DB, p SettlePass) (settled, seen int, lastID int64, err error) {
	since, byWindowAfter, now, window, limit := p.Since, p.ByWindowAfter, p.Now, p.Window, p.Limit
	err = retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
		settled, seen, lastID = 0, 0, p.AfterID
		var giveUp []int64
		q := tx.Where("delivery_id IS NULL AND created_at >= ? AND id > ?", since.UTC(), p.AfterID).Order("id").Limit(limit)
		if IsMySQL(tx) {
			q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked})
		}
		var evs []SentEvent
		if err := q.Find(&evs).Error; err != nil {
			return err
		}
		seen = len(evs)
		if len(evs) == 0 {
			return nil
		}
		lastID = evs[len(evs)-1].ID
		byApp := map[int64][]int64{}
		for _, e := range evs {
			byApp[e.AppID] = append(byApp[e.AppID], e.MsgID)
		}
		type key struct{ app, msg int64 }
		found := map[key]*Delivery{}
		for appID, ids := range byApp {
			dq := tx.Where("app_id = ? AND msgid IN ?", appID, ids).Order("id")
			if IsMySQL(tx) {
				dq = dq.Clauses(lockingClause())
			}
			var ds []Delivery
			if err := dq.Find(&ds).Error; err != nil {
				return err
			}
			for i := range ds {
				found[key{appID, *ds[i].MsgID}] = &ds[i]
			}
		}
		st := StatDeltas{}
		var okIDs, evIDs, evDeliv []int64
		for i := range evs {
			e := &evs[i]
			d := found[key{e.AppID, e.MsgID}]
			if d == nil {
				if e.CreatedAt.Before(byWindowAfter) {
					m, err := matchSentEventTx(tx, e, now, window)
					if err != nil {
						return err
					}
					if m != nil {
						settled++
					} else if e.CreatedAt.Before(p.GiveUpBefore) {
						giveUp = append(giveUp, e.ID)
					}
				}
				continue
			}
			evIDs, evDeliv = append(evIDs, e.ID), append(evDeliv, d.ID)
			if d.Status != DeliverySent && d.Status != DeliveryUnknown {
				continue
			}
			if e.ErrorCode == 0 && d.Status == DeliverySent {
				okIDs = append(okIDs, d.ID)
				st.Move(d.AppID, d.RunID, DeliverySent, DeliveryDelivered, "")
				d.Status = DeliveryDelivered
				settled++
				continue
			}
			// Failures and unknown rows one by one (rare).
			e.DeliveryID = nil
			if _, err := matchSentEventTx(tx, e, now, 0); err != nil {
				return err
			}
			settled++
			evIDs, evDeliv = evIDs[:len(evIDs)-1], evDeliv[:len(evDeliv)-1]
		}
		if len(okIDs) > 0 {
			r := tx.Exec(`UPDATE deliveries SET status = ?, reason = ?, settled_at = ?, updated_at = ? WHERE id IN `+inList(okIDs)+` AND status = ?`,
				DeliveryDelivered, ReasonSentEvent, now, now, DeliverySent)
			if r.Error != nil {
				return r.Error
			}
			if r.RowsAffected != int64(len(okIDs)) {
				return errSettleRace
			}
		}
		if len(evIDs) > 0 {
			if err := tx.Exec("UPDATE sent_events SET delivery_id = " + caseIntSQL(evIDs, evDeliv) + " WHERE id IN " + inList(evIDs)).Error; err != nil {
				return err
			}
		}
		if len(giveUp) > 0 {
			// No delivery of ours will ever match these (sent by someone
			// else, or long settled): delivery_id 0 takes them out of the
			// pending set, kept for support.
			if err := tx.Exec("UPDATE sent_events SET delivery_id = 0 WHERE id IN " + inList(giveUp)).Error; err != nil {
				return err
			}
		}
		return applyStats(tx, st)
	})
	return settled, seen, lastID, err
}

// SettlePass is one page of SettlePendingSentEvents.
type SettlePass struct {
	// Since: events received before it are no longer looked at.
	Since time.Time
	// ByWindowAfter: events received before it that match no msgid are
	// tried against unknown deliveries (user + template within Window).
	ByWindowAfter time.Time
	// GiveUpBefore: events received before it that still match nothing are
	// marked unmatched (delivery_id 0) and not looked at again.
	GiveUpBefore time.Time
	Now          time.Time
	Window       time.Duration
	// AfterID and Limit page through the pending events by id.
	AfterID int64
	Limit   int
}

// matchSentEventTx finds and settles the delivery of a stored event. window
// 0 matches by msgid only.
func matchSentEventTx(tx *gorm.DB, e *SentEvent, now time.Time, window time.Duration) (*Delivery, error) {
	lock := func(q *gorm.DB) *gorm.DB {
		if IsMySQL(tx) {
			return q.Clauses(lockingClause())
		}
		return q
	}
	var ds []Delivery
	if err := lock(tx.Where("app_id = ? AND msgid = ?", e.AppID, e.MsgID)).Limit(1).Find(&ds).Error; err != nil {
		return nil, err
	}
	if len(ds) == 0 && window > 0 {
		var u User
		var t Template
		if err := tx.Select("id").Where("app_id = ? AND openid = ?", e.AppID, e.OpenID).Limit(1).Find(&u).Error; err != nil {
			return nil, err
		}
		if err := tx.Select("id").Where("app_id = ? AND template_id = ?", e.AppID, e.WxTemplateID).Limit(1).Find(&t).Error; err != nil {
			return nil, err
		}
		if u.ID == 0 || t.ID == 0 {
			return nil, nil
		}
		var inFlight int64
		if err := tx.Model(&Delivery{}).Where("user_id = ? AND template_id = ? AND status = ?", u.ID, t.ID, DeliverySending).
			Count(&inFlight).Error; err != nil {
			return nil, err
		}
		if inFlight > 0 {
			return nil, nil // that send may own this msgid: wait for its answer
		}
		err := lock(tx.Where(`user_id = ? AND template_id = ? AND status = ? AND msgid IS NULL AND called_at >= ? AND called_at <= ?`,
			u.ID, t.ID, DeliveryUnknown, e.EventTime.Add(-window), e.EventTime.Add(time.Minute))).
			Order("called_at, id").Limit(1).Find(&ds).Error
		if err != nil {
			return nil, err
		}
	}
	if len(ds) == 0 {
		return nil, nil
	}
	d := &ds[0]
	if err := tx.Model(&SentEvent{}).Where("id = ?", e.ID).Update("delivery_id", d.ID).Error; err != nil {
		return nil, err
	}
	if d.Status != DeliverySent && d.Status != DeliveryUnknown {
		return d, nil // already final
	}
	to, reason, code, msg := DeliveryDelivered, ReasonSentEvent, 0, ""
	if e.ErrorCode != 0 {
		to, code, msg = DeliveryFailed, e.ErrorCode, truncate("WeChat could not deliver it: "+e.ErrorStatus, 190)
	}
	set := map[string]any{"status": to, "reason": reason, "errcode": code, "errmsg": msg, "settled_at": now,
		"msgid": e.MsgID, "updated_at": now, "lease_owner": "", "lease_until": nil}
	if d.SentAt == nil {
		set["sent_at"] = e.EventTime
	}
	if err := tx.Model(&Delivery{}).Where("id = ? AND status = ?", d.ID, d.Status).Updates(set).Error; err != nil {
		return nil, err
	}
	st := StatDeltas{}
	detail := ""
	if to == DeliveryFailed {
		detail = strconv.Itoa(code)
	}
	st.Move(d.AppID, d.RunID, d.Status, to, detail)
	if err := applyStats(tx, st); err != nil {
		return nil, err
	}
	d.Status, d.Reason, d.ErrCode, d.ErrMsg = to, reason, code, msg
	msgid := e.MsgID
	d.MsgID = &msgid
	return d, nil
}

// ---- helpers ----

// Statements over a batch write its ids (and other integers the engine
// made) as literals: it keeps the arguments to the strings and times.
// Fewer placeholders is cheaper on both databases, and on SQLite it avoids
// the driver's binding, which is quadratic in the number of arguments.

// inList returns "(1,2,3)" ("(NULL)" when empty: matches nothing).
func inList(ids []int64) string {
	if len(ids) == 0 {
		return "(NULL)"
	}
	b := make([]byte, 0, 2+8*len(ids))
	b = append(b, '(')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ')'))
}

// caseSQL returns "CASE id WHEN 1 THEN ? ... END" and its arguments.
func caseSQL(col string, ids []int64, vals []any) (string, []any) {
	var sb strings.Builder
	args := make([]any, 0, len(ids))
	sb.WriteString("CASE id")
	for i, id := range ids {
		sb.WriteString(" WHEN ")
		sb.WriteString(strconv.FormatInt(id, 10))
		sb.WriteString(" THEN ?")
		args = append(args, vals[i])
	}
	sb.WriteString(" ELSE " + col + " END")
	return sb.String(), args
}

// caseIntSQL returns "CASE id WHEN 1 THEN 10 ... END" (integers only).
func caseIntSQL(ids, vals []int64) string {
	b := make([]byte, 0, 16+40*len(ids))
	b = append(b, "CASE id"...)
	for i, id := range ids {
		b = append(b, " WHEN "...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, " THEN "...)
		b = strconv.AppendInt(b, vals[i], 10)
	}
	return string(append(b, " END"...))
}

// insertSpendEvents writes the ledger's spend events of a claim in
// multi-row INSERTs: integers and the engine's own constant words as
// literals, the time as an argument.
func insertSpendEvents(tx *gorm.DB, events []SubscriptionEvent) error {
	const chunk = 500
	for start := 0; start < len(events); start += chunk {
		evs := events[start:min(start+chunk, len(events))]
		b := make([]byte, 0, 128+96*len(evs))
		b = append(b, "INSERT INTO subscription_events (app_id, user_id, template_id, kind, delta, source, delivery_id, dedup_key, created_at) VALUES "...)
		args := make([]any, 0, len(evs))
		for i := range evs {
			e := &evs[i]
			if e.TemplateID == nil || e.DeliveryID == nil || e.DedupKey == nil || !plainWord(e.Kind) || !plainWord(e.Source) || !plainWord(*e.DedupKey) {
				return fmt.Errorf("insertSpendEvents: event %d is not an engine spend", i)
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '(')
			b = strconv.AppendInt(b, e.AppID, 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, e.UserID, 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, *e.TemplateID, 10)
			b = append(b, ",'"...)
			b = append(b, e.Kind...)
			b = append(b, "',"...)
			b = strconv.AppendInt(b, int64(e.Delta), 10)
			b = append(b, ",'"...)
			b = append(b, e.Source...)
			b = append(b, "',"...)
			b = strconv.AppendInt(b, *e.DeliveryID, 10)
			b = append(b, ",'"...)
			b = append(b, *e.DedupKey...)
			b = append(b, "',?)"...)
			args = append(args, e.CreatedAt)
		}
		if err := tx.Exec(string(b), args...).Error; err != nil {
			return err
		}
	}
	return nil
}

// plainWord tells whether s is safe to write as a literal: letters,
// digits, '_' and ':' only.
func plainWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':') {
			return false
		}
	}
	return s != ""
}

func uniq(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// retryTx runs fn in a transaction, again when MySQL chose it as a deadlock
// victim or a lock wait timed out (both are safe to repeat whole).
func retryTx(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		err = db.Transaction(fn)
		if err == nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
	return err
}

func retryable(err error) bool {
	if errors.Is(err, errCreditRace) || errors.Is(err, errSettleRace) {
		return true
	}
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	return strings.Contains(err.Error(), "database is locked") || strings.Contains(err.Error(), "SQLITE_BUSY")
}
