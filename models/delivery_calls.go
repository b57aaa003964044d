package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// MarkCalled is written just before a chunk of claimed deliveries is sent:
// it sets their called_at (so a crash can tell the rows whose request may
// have left from the ones never started) and moves their lease to
// leaseUntil, as it does for every row of renew (the rest of the batch,
// when its lease is getting old; nil: none), so a long batch does not
// outlive its lease. It returns the ids of chunk still held by owner: a
// row whose lease was lost to recovery must not be sent.
//
// Usually it is one statement on its own (no renewal, every row still
// ours): no transaction around it, so one round trip and one commit.
func MarkCalled(ctx context.Context, db *gorm.DB, owner string, renew, chunk []int64, now, leaseUntil time.Time) ([]int64, error) {
	if len(chunk) == 0 {
		return nil, nil
	}
	db = db.WithContext(ctx)
	if len(renew) == 0 {
		held, all, err := markCalled(db, owner, chunk, now, leaseUntil)
		if err != nil || all {
			return held, err
		}
		return heldBy(db, owner, chunk)
	}
	var held []int64
	err := db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(updateDeliveriesByID(tx)+`lease_until = ? WHERE id IN `+inList(renew)+` AND lease_owner = ? AND status = ?`,
			leaseUntil.UTC(), owner, DeliverySending).Error; err != nil {
			return err
		}
		var all bool
		var err error
		if held, all, err = markCalled(tx, owner, chunk, now, leaseUntil); err != nil || all {
			return err
		}
		held, err = heldBy(tx, owner, chunk)
		return err
	})
	return held, err
}

// DeliveryCall is one WeChat call for a delivery that did not end it: a
// transient error retried later (-1, 45011, a connection cut before the
// answer, a token refused), WeChat's daily quota (45009: retried after
// midnight), another send to the user in flight (43108) or no access
// token. The call that ended the delivery is the delivery row itself
// (errcode, errmsg, called_at, sent_at): a message sent at the first try
// writes nothing here. Migration 11.
type DeliveryCall struct {
	ID         int64
	DeliveryID int64
	Attempt    int    // the delivery's attempt this call was (as claimed)
	ErrCode    int    `gorm:"column:errcode"`
	ErrMsg     string `gorm:"column:errmsg"`
	// Reason is what followed: ReasonRetry, ReasonQuota, ReasonUserBusy
	// or ReasonNoToken.
	Reason        string
	NextAttemptAt *time.Time
	// AnsweredAt is when the answer was recorded.
	AnsweredAt time.Time
}

// TableName pins the table name.
func (DeliveryCall) TableName() string { return "delivery_calls" }

// LogRetriedCalls keeps, of the outcomes just recorded, the calls that
// sent their delivery back to the queue. Outcomes of rows that never went
// out (stopping before the request left) are not calls and are skipped.
func LogRetriedCalls(ctx context.Context, db *gorm.DB, now time.Time, outs []Outcome) error {
	var rows []DeliveryCall
	for i := range outs {
		o := &outs[i]
		if o.Status != DeliveryQueued || (o.Uncount && o.Reason == ReasonRetry) || o.D == nil {
			continue
		}
		c := DeliveryCall{DeliveryID: o.D.ID, Attempt: o.D.Attempts, ErrCode: o.ErrCode, ErrMsg: truncate(o.ErrMsg, 190),
			Reason: o.Reason, AnsweredAt: now.UTC()}
		if !o.NextAttemptAt.IsZero() {
			next := o.NextAttemptAt.UTC()
			c.NextAttemptAt = &next
		}
		rows = append(rows, c)
	}
	if len(rows) == 0 {
		return nil
	}
	return db.WithContext(ctx).Create(&rows).Error
}

// ListDeliveryCalls returns a delivery's logged calls, oldest first (a
// delivery makes at most a few: MaxAttempts bounds the retries).
func ListDeliveryCalls(ctx context.Context, db *gorm.DB, deliveryID int64) ([]DeliveryCall, error) {
	var out []DeliveryCall
	err := db.WithContext(ctx).Where("delivery_id = ?", deliveryID).Order("id").Limit(500).Find(&out).Error
	return out, err
}

// markCalled sets called_at and the lease of the chunk's rows still held
// by owner; all tells whether every row was.
func markCalled(db *gorm.DB, owner string, chunk []int64, now, leaseUntil time.Time) (held []int64, all bool, err error) {
	r := db.Exec(updateDeliveriesByID(db)+`called_at = ?, lease_until = ? WHERE id IN `+inList(chunk)+` AND lease_owner = ? AND status = ?`,
		now.UTC(), leaseUntil.UTC(), owner, DeliverySending)
	if r.Error != nil {
		return nil, false, r.Error
	}
	return chunk, r.RowsAffected == int64(len(chunk)), nil
}

// heldBy asks which rows of ids owner still holds in sending (some were
// lost, or MySQL counted a row it did not change).
func heldBy(db *gorm.DB, owner string, ids []int64) ([]int64, error) {
	var held []int64
	err := db.Model(&Delivery{}).Where("id IN "+inList(ids)+" AND lease_owner = ? AND status = ?", owner, DeliverySending).
		Pluck("id", &held).Error
	return held, err
}
