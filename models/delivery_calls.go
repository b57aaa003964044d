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
		if err := tx.Exec(`UPDATE deliveries SET lease_until = ? WHERE id IN `+inList(renew)+` AND lease_owner = ? AND status = ?`,
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

// markCalled sets called_at and the lease of the chunk's rows still held
// by owner; all tells whether every row was.
func markCalled(db *gorm.DB, owner string, chunk []int64, now, leaseUntil time.Time) (held []int64, all bool, err error) {
	r := db.Exec(`UPDATE deliveries SET called_at = ?, lease_until = ? WHERE id IN `+inList(chunk)+` AND lease_owner = ? AND status = ?`,
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
