package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Subscription statuses (the user's last answer for a template).
const (
	SubAccept = "accept"
	SubReject = "reject"
	SubBan    = "ban"
)

// Subscription event kinds (subscription_events.kind).
const (
	SubEventAccept = "accept" // one credit granted (one-time) or long-term turned on
	SubEventReject = "reject" // popup reject: nothing granted, long-term turned off
	SubEventChange = "change" // turned off from a card's menu: credits to 0, long-term off
	SubEventBan    = "ban"    // the platform blocked the template for the user
	SubEventSpend  = "spend"  // a send spent one credit
	SubEventRefund = "refund" // the send did not happen: credit given back
	SubEventZero   = "zero"   // WeChat answered 43101: it holds no credit, so neither do we
)

// Subscription event sources.
const (
	SourceWeChat  = "wechat"  // an event WeChat pushed
	SourceAPI     = "api"     // the business backend reported it
	SourceConsole = "console" // a staff member did it
	SourceEngine  = "engine"  // the delivery engine (spend, refund, zero)
)

// Subscription is a user's standing for one template: one-time credits left,
// or a long-term subscription.
type Subscription struct {
	ID         int64
	UserID     int64
	TemplateID int64
	Credits    int
	LongTerm   bool
	Status     string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// CanReceive tells whether a send may go to this subscription.
func (s *Subscription) CanReceive(longTermTemplate bool) bool {
	if longTermTemplate {
		return s.LongTerm && s.Status == SubAccept
	}
	return s.Credits > 0
}

// SubscriptionEvent is one line of the append-only credits ledger.
type SubscriptionEvent struct {
	ID           int64
	AppID        int64 `gorm:"column:app_id"`
	UserID       int64
	TemplateID   *int64
	WxTemplateID string
	Kind         string
	Delta        int
	Source       string
	DeliveryID   *int64
	StaffID      *int64
	DedupKey     *string
	MatchedID    *int64 // the other source's report of the same tap (see PairWindow)
	Note         string // why staff made the change
	CreatedAt    time.Time
}

// GetSubscription loads a user's subscription to a template.
func GetSubscription(ctx context.Context, db *gorm.DB, userID, templateID int64) (*Subscription, error) {
	var s Subscription
	err := db.WithContext(ctx).Where("user_id = ? AND template_id = ?", userID, templateID).First(&s).Error
	if err != nil {
		return nil, translate(err)
	}
	return &s, nil
}

// ListUserSubscriptions returns a user's subscriptions, by template.
func ListUserSubscriptions(ctx context.Context, db *gorm.DB, userID int64) ([]Subscription, error) {
	var out []Subscription
	err := db.WithContext(ctx).Where("user_id = ?", userID).Order("template_id").Find(&out).Error
	return out, err
}

// ListSubscriptionEvents returns a user's ledger, newest first, before
// beforeID (0: from the newest), at most limit lines (keyset pagination).
func ListSubscriptionEvents(ctx context.Context, db *gorm.DB, userID, beforeID int64, limit int) ([]SubscriptionEvent, error) {
	q := db.WithContext(ctx).Where("user_id = ?", userID)
	if beforeID > 0 {
		q = q.Where("id < ?", beforeID)
	}
	var out []SubscriptionEvent
	err := q.Order("id DESC").Limit(limit).Find(&out).Error
	return out, err
}

// CreditChange names a change to one user's subscription to one template.
type CreditChange struct {
	AppID        int64
	UserID       int64
	TemplateID   int64
	WxTemplateID string
	// LongTerm is the template's kind: an accept of a long-term template
	// turns the subscription on instead of adding a credit.
	LongTerm bool
	Source   string
	// DedupKey makes the change idempotent: a second change with the same
	// key does nothing (WeChat retries pushes; the API may retry requests).
	// Empty: not deduplicated.
	DedupKey   string
	DeliveryID *int64
	StaffID    *int64
	Now        time.Time
}

func (c *CreditChange) now() time.Time {
	if c.Now.IsZero() {
		return time.Now().UTC()
	}
	return c.Now.UTC()
}

// logEvent appends the ledger line; false when its dedup key was seen.
func logEvent(tx *gorm.DB, c *CreditChange, kind string, delta int) (bool, error) {
	ev := SubscriptionEvent{AppID: c.AppID, UserID: c.UserID, TemplateID: &c.TemplateID, WxTemplateID: c.WxTemplateID,
		Kind: kind, Delta: delta, Source: c.Source, DeliveryID: c.DeliveryID, StaffID: c.StaffID, CreatedAt: c.now()}
	if c.DedupKey != "" {
		k := c.DedupKey
		ev.DedupKey = &k
		res := insertIgnore(tx).Create(&ev)
		if res.Error != nil {
			return false, translate(res.Error)
		}
		return res.RowsAffected == 1, nil
	}
	return true, translate(tx.Create(&ev).Error)
}

// ensureSubscription returns the subscription row id, creating an empty one.
func ensureSubscription(tx *gorm.DB, userID, templateID int64, now time.Time) error {
	s := Subscription{UserID: userID, TemplateID: templateID, Status: SubAccept, CreatedAt: now, UpdatedAt: now}
	return translate(tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&s).Error)
}

// GrantCredit records an accept: one more credit for a one-time template,
// or the long-term subscription turned on. It returns false when the dedup
// key was already applied. An accept from WeChat's popup push and one from
// the mini program's report of the same tap grant one credit together
// (see PairWindow and GrantAccept).
func GrantCredit(ctx context.Context, db *gorm.DB, c CreditChange) (bool, error) {
	res, err := GrantAccept(ctx, db, c)
	return res.Applied, err
}

// RecordReject records a reject. From a popup (kind SubEventReject) the
// one-time credits already held are kept and a long-term subscription is
// turned off; from the card's settings menu (SubEventChange) or a ban
// (SubEventBan) the credits drop to 0 as well.
func RecordReject(ctx context.Context, db *gorm.DB, c CreditChange, kind string) (bool, error) {
	switch kind {
	case SubEventReject, SubEventChange, SubEventBan:
	default:
		return false, fmt.Errorf("RecordReject: kind %q: want reject, change or ban", kind)
	}
	applied := false
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := c.now()
		if err := ensureSubscription(tx, c.UserID, c.TemplateID, now); err != nil {
			return err
		}
		var s Subscription
		q := tx.Where("user_id = ? AND template_id = ?", c.UserID, c.TemplateID)
		if IsMySQL(tx) {
			q = q.Clauses(lockingClause())
		}
		if err := q.First(&s).Error; err != nil {
			return translate(err)
		}
		delta := 0
		set := map[string]any{"long_term": false, "updated_at": now, "status": SubReject}
		if kind == SubEventBan {
			set["status"] = SubBan
		}
		if kind != SubEventReject {
			delta = -s.Credits
			set["credits"] = 0
		}
		ok, err := logEvent(tx, &c, kind, delta)
		if err != nil || !ok {
			return err
		}
		applied = true
		return tx.Model(&Subscription{}).Where("id = ?", s.ID).Updates(set).Error
	})
	return applied, err
}

// SpendCredit spends one credit of a one-time template with one conditional
// UPDATE (credits > 0) and logs it. It returns false, with no error, when
// the user has no credit left. The delivery engine spends in batches with
// the same statement (see ClaimDeliveries).
func SpendCredit(ctx context.Context, db *gorm.DB, c CreditChange) (bool, error) {
	spent := false
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec("UPDATE subscriptions SET credits = credits - 1, updated_at = ? WHERE user_id = ? AND template_id = ? AND credits > 0",
			c.now(), c.UserID, c.TemplateID)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		ok, err := logEvent(tx, &c, SubEventSpend, -1)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("credit spend %q was already logged: use a new dedup key per spend", c.DedupKey)
		}
		spent = true
		return nil
	})
	return spent, err
}

// RefundCredit gives back a credit spent for a send that did not happen.
// Idempotent per dedup key (the engine uses "refund:<delivery id>").
func RefundCredit(ctx context.Context, db *gorm.DB, c CreditChange) (bool, error) {
	applied := false
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		applied, err = refundTx(tx, &c)
		return err
	})
	return applied, err
}

func refundTx(tx *gorm.DB, c *CreditChange) (bool, error) {
	ok, err := logEvent(tx, c, SubEventRefund, 1)
	if err != nil || !ok {
		return false, err
	}
	now := c.now()
	if err := ensureSubscription(tx, c.UserID, c.TemplateID, now); err != nil {
		return false, err
	}
	return true, tx.Exec("UPDATE subscriptions SET credits = credits + 1, updated_at = ? WHERE user_id = ? AND template_id = ?",
		now, c.UserID, c.TemplateID).Error
}

// ZeroCredits sets the user's credits for the template to 0 because WeChat
// answered 43101 (it holds none). Idempotent per dedup key.
func ZeroCredits(ctx context.Context, db *gorm.DB, c CreditChange) (bool, error) {
	applied := false
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		applied, err = zeroTx(tx, &c)
		return err
	})
	return applied, err
}

func zeroTx(tx *gorm.DB, c *CreditChange) (bool, error) {
	var s Subscription
	q := tx.Where("user_id = ? AND template_id = ?", c.UserID, c.TemplateID)
	if IsMySQL(tx) {
		q = q.Clauses(lockingClause())
	}
	err := q.First(&s).Error
	if err != nil && translate(err) != ErrNotFound {
		return false, err
	}
	ok, err := logEvent(tx, c, SubEventZero, -s.Credits)
	if err != nil || !ok || s.ID == 0 {
		return ok, err
	}
	return true, tx.Model(&Subscription{}).Where("id = ?", s.ID).
		Updates(map[string]any{"credits": 0, "long_term": false, "updated_at": c.now()}).Error
}

// CreditTotals sums a template's ledger: what tests and the support page
// use to check that spent − refunded matches what WeChat accepted.
type CreditTotals struct {
	Spent, Refunded, Zeroed int64
}

// SumCreditEvents totals spend, refund and zero events of a template.
func SumCreditEvents(ctx context.Context, db *gorm.DB, templateID int64) (CreditTotals, error) {
	var rows []struct {
		Kind string
		N    int64
	}
	err := db.WithContext(ctx).Raw(`SELECT kind, COUNT(*) AS n FROM subscription_events
		WHERE template_id = ? AND kind IN (?, ?, ?) GROUP BY kind`, templateID, SubEventSpend, SubEventRefund, SubEventZero).Scan(&rows).Error
	var t CreditTotals
	for _, r := range rows {
		switch r.Kind {
		case SubEventSpend:
			t.Spent = r.N
		case SubEventRefund:
			t.Refunded = r.N
		case SubEventZero:
			t.Zeroed = r.N
		}
	}
	return t, err
}

// ReachableCount counts the users of a template who can receive a send now
// ("12,430 of 50,000 can receive this").
func ReachableCount(ctx context.Context, db *gorm.DB, templateID int64, longTerm bool) (int64, error) {
	var n int64
	q := db.WithContext(ctx).Model(&Subscription{}).Where("template_id = ?", templateID)
	if longTerm {
		q = q.Where("long_term = ? AND status = ?", true, SubAccept)
	} else {
		q = q.Where("credits > 0")
	}
	err := q.Count(&n).Error
	return n, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// insertIgnore makes the next Create skip rows that would break a unique
// key, with RowsAffected counting only the rows inserted (INSERT IGNORE on
// MySQL: its ON DUPLICATE KEY UPDATE form reports duplicates as affected).
func insertIgnore(tx *gorm.DB) *gorm.DB {
	if IsMySQL(tx) {
		return tx.Clauses(clause.Insert{Modifier: "IGNORE"})
	}
	return tx.Clauses(clause.OnConflict{DoNothing: true})
}

func dedupKey(prefix string, id int64) string { return prefix + ":" + strconv.FormatInt(id, 10) }

// SubscriptionEventByDedupKey loads the event recorded under a dedup key
// (ErrNotFound when none is).
func SubscriptionEventByDedupKey(ctx context.Context, db *gorm.DB, key string) (*SubscriptionEvent, error) {
	var e SubscriptionEvent
	err := db.WithContext(ctx).Where("dedup_key = ?", key).Take(&e).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &e, err
}
