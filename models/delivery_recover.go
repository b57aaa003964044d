package models

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Lease recovery: deliveries left sending by an instance that vanished.

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
			r := tx.Exec(updateDeliveriesByID(tx)+`status = ?, reason = ?, errmsg = ?, lease_owner = '', lease_until = NULL, updated_at = ?
				WHERE id IN ? AND status = ?`, DeliveryUnknown, ReasonLeaseExpired,
				"the instance sending it stopped before WeChat answered: it is not resent; subscribe_msg_sent_event or staff settle it",
				now, called, DeliverySending)
			if r.Error != nil {
				return r.Error
			}
			changed += r.RowsAffected
		}
		if len(waiting) > 0 {
			r := tx.Exec(updateDeliveriesByID(tx)+`status = ?, reason = ?, lease_owner = '', lease_until = NULL, next_attempt_at = ?,
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
