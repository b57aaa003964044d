package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// resendableSQL picks the failures a "resend to failed" repeats (d is the
// failed delivery): transient errors until attempts ran out; outcomes
// reported failed by WeChat's sent event, except a user's block ("fail:user
// block": they refuse the account's messages, a resend fails the same way
// and spends a credit); and 43101 (no subscription left at the time), for
// the users who have tapped allow since (the reach check below sees their
// new credit). Other refusals are permanent and not repeated.
const resendableSQL = `((d.reason IN ('` + ReasonMaxAttempts + `', '` + ReasonSentEvent + `') AND d.errmsg NOT LIKE '%user block%')
	OR (d.reason = '` + ReasonWeChat + `' AND d.errcode = 43101))`

func reachSQL(longTerm bool) string {
	if longTerm {
		return "s.long_term = 1 AND s.status = 'accept'"
	}
	return "s.credits > 0"
}

// resendBatch reads the next recipients of a resend run: users of the run
// it repeats whose delivery failed for a transient reason (or unknown, then
// failed) and who can be reached now.
func resendBatch(tx *gorm.DB, c *Campaign, fromRun int64, longTerm bool, after int64, limit int) ([]Member, int64, error) {
	var rows []Member
	err := tx.Raw(`SELECT d.user_id, u.openid, u.attributes, u.tags, 1 AS reachable
		FROM deliveries d
		JOIN users u ON u.id = d.user_id
		JOIN subscriptions s ON s.user_id = d.user_id AND s.template_id = ?
		WHERE d.run_id = ? AND d.status = ? AND `+resendableSQL+` AND d.user_id > ? AND `+reachSQL(longTerm)+`
		ORDER BY d.user_id LIMIT ?`, c.TemplateID, fromRun, DeliveryFailed, after, limit).Scan(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, after, err
	}
	return rows, rows[len(rows)-1].UserID, nil
}

// ResendCandidates counts who a "resend to failed" of run would message now.
func ResendCandidates(ctx context.Context, db *gorm.DB, r *CampaignRun, t *Template) (int64, error) {
	var n int64
	err := db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM deliveries d
		JOIN subscriptions s ON s.user_id = d.user_id AND s.template_id = ?
		WHERE d.run_id = ? AND d.status = ? AND `+resendableSQL+` AND `+reachSQL(t.LongTerm()),
		t.ID, r.ID, DeliveryFailed).Scan(&n).Error
	return n, err
}

// StartResend starts a run of the campaign that repeats run's transient
// failures (see resendableSQL) to users who can still be reached. The run
// must be over and the campaign have no other run going.
func StartResend(ctx context.Context, db *gorm.DB, c *Campaign, from *CampaignRun, now time.Time) (*CampaignRun, error) {
	if from.CampaignID != c.ID || (from.Status != RunCompleted && from.Status != RunCanceled) {
		return nil, ErrNotStartable
	}
	id := from.ID
	return StartCampaignRun(ctx, db, StartRun{CampaignID: c.ID, ScheduledFor: now, Now: now, Next: c.NextRunAt, ResendOf: &id,
		From: []string{CampaignCompleted, CampaignScheduled}})
}
