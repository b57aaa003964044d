package models

import (
	"context"
	"errors"

	"gorm.io/gorm"
)

// ErrNegativeCredits is returned when an adjustment would leave fewer than 0 credits.
var ErrNegativeCredits = errors.New("credits would drop below 0")

// AdjustCredits changes a user's credits for a one-time template by delta
// (a staff decision: c.Source is SourceStaff, c.StaffID who, note why),
// recorded as an "adjust" event. It returns the credits left.
func AdjustCredits(ctx context.Context, db *gorm.DB, c CreditChange, delta int, note string) (int, error) {
	left := 0
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
		if s.Credits+delta < 0 {
			return ErrNegativeCredits
		}
		ev := SubscriptionEvent{AppID: c.AppID, UserID: c.UserID, TemplateID: &c.TemplateID, WxTemplateID: c.WxTemplateID,
			Kind: SubEventAdjust, Delta: delta, Source: c.Source, StaffID: c.StaffID, Note: note, CreatedAt: now}
		if err := tx.Create(&ev).Error; err != nil {
			return translate(err)
		}
		left = s.Credits + delta
		return tx.Exec("UPDATE subscriptions SET credits = credits + ?, updated_at = ? WHERE id = ?", delta, now, s.ID).Error
	})
	return left, err
}

// SubEventAdjust is a manual change of credits by staff.
const SubEventAdjust = "adjust"
