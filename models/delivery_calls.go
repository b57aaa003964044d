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
func MarkCalled(ctx context.Context, db *gorm.DB, owner string, renew, chunk []int64, now, leaseUntil time.Time) ([]int64, error) {
	if len(chunk) == 0 {
		return nil, nil
	}
	held := chunk
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if len(renew) > 0 {
			if err := tx.Exec(`UPDATE deliveries SET lease_until = ? WHERE id IN ? AND lease_owner = ? AND status = ?`,
				leaseUntil.UTC(), renew, owner, DeliverySending).Error; err != nil {
				return err
			}
		}
		r := tx.Exec(`UPDATE deliveries SET called_at = ?, lease_until = ? WHERE id IN ? AND lease_owner = ? AND status = ?`,
			now.UTC(), leaseUntil.UTC(), chunk, owner, DeliverySending)
		if r.Error != nil {
			return r.Error
		}
		if r.RowsAffected == int64(len(chunk)) {
			return nil
		}
		// Some rows are no longer ours (or MySQL counted an unchanged row):
		// ask which are.
		held = nil
		return tx.Model(&Delivery{}).Where("id IN ? AND lease_owner = ? AND status = ?", chunk, owner, DeliverySending).
			Pluck("id", &held).Error
	})
	return held, err
}
