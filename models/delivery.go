package models

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
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

// MaxPageLen is the longest page (in characters) a message may open: the
// column holds 191 on MySQL; every form and the API refuse longer ones.
const MaxPageLen = 180

// Reasons stored in deliveries.reason (and as the detail of skip counters).
const (
	ReasonNoSubscription  = "no_subscription"     // skipped: no credit / no long-term subscription
	ReasonInvalidValue    = "invalid_value"       // skipped: a keyword value breaks its rule (errmsg: the keys)
	ReasonMissingAttr     = "missing_attribute"   // skipped: a {{placeholder}} names an attribute the user lacks (errmsg: its name)
	ReasonBadData         = "bad_data"            // skipped: the stored data is not a JSON object of strings
	ReasonTemplateBroken  = "template_unreadable" // skipped: the template's stored keywords cannot be read
	ReasonTemplateDeleted = "template_deleted"    // skipped: the template is gone or unknown
	ReasonAppDisabled     = "app_disabled"        // skipped: the app was disabled
	ReasonWeChat          = "wechat"              // failed: WeChat refused (errcode says why)
	ReasonMaxAttempts     = "max_attempts"        // failed: transient errors until attempts ran out
	ReasonSentEvent       = "sent_event"          // settled by subscribe_msg_sent_event
	ReasonOutcomeUnknown  = "outcome_unknown"     // unknown: no answer after the request left
	ReasonLeaseExpired    = "lease_expired"       // unknown: the sending instance vanished mid-send
	ReasonRetry           = "retry"               // queued again after a transient error
	ReasonUserBusy        = "user_busy"           // queued again: another send to the user was in flight (43108)
	ReasonQuota           = "quota"               // queued again: the app's daily quota is used up (45009)
	ReasonNoToken         = "no_token"            // queued again: no access token could be had
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

	// MPState and Lang are the message's own miniprogram_state and lang
	// (migration 11; "": the account's, see SendSettings).
	MPState string `gorm:"column:mp_state"`
	Lang    string
	// values is Data decoded by the first DataMap: the engine decodes a
	// delivery's values once, to check them when it claims and to send them.
	values map[string]string
}

// DataMap decodes the keyword values, once: later calls (on the row or a
// copy of it) return the same map, so a change made to it (the engine
// renders {{placeholders}} in place) is what later callers see.
func (d *Delivery) DataMap() (map[string]string, error) {
	if d.values != nil {
		return d.values, nil
	}
	m := map[string]string{}
	if d.Data == "" {
		d.values = m
		return m, nil
	}
	if err := json.Unmarshal([]byte(d.Data), &m); err != nil {
		return m, err
	}
	d.values = m
	return m, nil
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
	// MPState and Lang override the account's miniprogram_state and lang
	// for this message ("": the account's).
	MPState, Lang string
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
		OpenID: nd.OpenID, Page: nd.Page, Data: string(b), MPState: nd.MPState, Lang: nd.Lang, Status: DeliveryQueued, NextAttemptAt: next,
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
	// A used idempotency key is found by the unique index refusing the
	// insert (below): no look-up first, the API has made it already.
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
		return addQueuedSharded(tx, d.AppID, d.RunID, 1) // models/stat_shards.go
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

// CountedStatuses is CountDeliveriesByStatus (every app) read from the
// counters (delivery_stats) instead of the rows: a few rows read where a
// count reads every delivery, for whoever polls progress often.
func CountedStatuses(ctx context.Context, db *gorm.DB) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	err := db.WithContext(ctx).Raw(`SELECT status, SUM(n) AS n FROM delivery_stats GROUP BY status`).Scan(&rows).Error
	out := map[string]int64{}
	for _, r := range rows {
		if r.N != 0 {
			out[r.Status] = r.N
		}
	}
	return out, err
}

// CounterDrift compares the status counters (CountedStatuses) with a count
// of the rows (CountDeliveriesByStatus, every app), both read in one
// transaction: one snapshot, as every status change moves its counter in
// its own transaction (read apart, a change committing between the two
// reads looks like drift). It returns the statuses where they differ, as
// status → {counted, rows}; empty when the counters are exact.
func CounterDrift(ctx context.Context, db *gorm.DB) (map[string][2]int64, error) {
	var opts []*sql.TxOptions
	if IsMySQL(db) { // whatever the server's default; SQLite's transactions are snapshots
		opts = append(opts, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	}
	var counted, rows map[string]int64
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if counted, err = CountedStatuses(ctx, tx); err != nil {
			return err
		}
		rows, err = CountDeliveriesByStatus(ctx, tx, 0)
		return err
	}, opts...)
	if err != nil {
		return nil, err
	}
	out := map[string][2]int64{}
	for st, n := range rows {
		if counted[st] != n {
			out[st] = [2]int64{counted[st], n}
		}
	}
	for st, n := range counted {
		if _, ok := rows[st]; !ok {
			out[st] = [2]int64{n, 0}
		}
	}
	return out, nil
}

// QueueDepth counts queued deliveries per app (for the queue-depth gauge)
// from the counters every status change keeps (delivery_stats, summed over
// runs and shards), not from the deliveries: counting the queued rows every
// few seconds read the whole queue each time (at 1,000,000 queued, most of
// the rows MariaDB read while the engine drained it).
func QueueDepth(ctx context.Context, db *gorm.DB) (map[int64]int64, error) {
	var rows []struct {
		AppID int64 `gorm:"column:app_id"`
		N     int64
	}
	err := db.WithContext(ctx).Raw(`SELECT app_id, SUM(n) AS n FROM delivery_stats WHERE status = ? GROUP BY app_id`,
		DeliveryQueued).Scan(&rows).Error
	out := map[int64]int64{}
	for _, r := range rows {
		if r.N != 0 {
			out[r.AppID] = r.N
		}
	}
	return out, err
}
