package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// More subscription event sources.
const (
	SourceClient = "client" // the mini program's backend reported wx.requestSubscribeMessage's result (API)
	SourceStaff  = "staff"  // a staff member adjusted credits by hand
)

// PairWindow is how far apart the two reports of one tap may arrive.
//
// One tap on "allow" reaches minipush twice: as WeChat's popup push
// (source "wechat") and as the mini program's own report through the API
// (source "client"). Each accept from one of these sources first looks for
// an accept of the same user and template from the other source, received
// within PairWindow and not yet paired; when it finds one, the two are
// paired (matched_id points each at the other) and the second grants
// nothing. Otherwise it grants a credit and waits to be paired. So one tap
// counts once whichever report comes first, two taps reported by both
// sources count twice, and a tap reported by only one source still counts.
// A report arriving more than PairWindow after its twin counts again.
const PairWindow = 10 * time.Minute

// GrantResult says what an accept did.
type GrantResult struct {
	Applied bool  // false: its dedup key was seen before (a retry)
	Paired  bool  // the other source had reported this tap already: no new credit
	EventID int64 // the ledger line written
}

func pairedSource(source string) string {
	switch source {
	case SourceWeChat:
		return SourceClient
	case SourceClient:
		return SourceWeChat
	}
	return ""
}

// GrantAccept records an accept like GrantCredit and tells whether it was
// paired with the other source's report of the same tap (see PairWindow).
func GrantAccept(ctx context.Context, db *gorm.DB, c CreditChange) (GrantResult, error) {
	var res GrantResult
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		res, err = grantTx(tx, &c)
		return err
	})
	return res, err
}

func grantTx(tx *gorm.DB, c *CreditChange) (GrantResult, error) {
	var res GrantResult
	now := c.now()
	if err := ensureSubscription(tx, c.UserID, c.TemplateID, now); err != nil {
		return res, err
	}
	// Lock the subscription so the two reports of one tap, arriving at
	// once, are looked at one after the other (SQLite transactions here
	// are immediate: the write lock is already held).
	if IsMySQL(tx) {
		var s Subscription
		if err := tx.Clauses(lockingClause()).Where("user_id = ? AND template_id = ?", c.UserID, c.TemplateID).First(&s).Error; err != nil {
			return res, translate(err)
		}
	}
	var twin int64
	if other := pairedSource(c.Source); other != "" {
		q := tx.Model(&SubscriptionEvent{}).Select("id").
			Where("user_id = ? AND template_id = ? AND kind = ? AND source = ? AND matched_id IS NULL AND created_at >= ?",
				c.UserID, c.TemplateID, SubEventAccept, other, now.Add(-PairWindow)).
			Order("id").Limit(1)
		var ids []int64
		if err := q.Pluck("id", &ids).Error; err != nil {
			return res, err
		}
		if len(ids) == 1 {
			twin = ids[0]
		}
	}
	delta := boolInt(!c.LongTerm)
	if twin != 0 {
		delta = 0
	}
	ev := SubscriptionEvent{AppID: c.AppID, UserID: c.UserID, TemplateID: &c.TemplateID, WxTemplateID: c.WxTemplateID,
		Kind: SubEventAccept, Delta: delta, Source: c.Source, DeliveryID: c.DeliveryID, StaffID: c.StaffID, CreatedAt: now}
	if twin != 0 {
		ev.MatchedID = &twin
	}
	if c.DedupKey != "" {
		k := c.DedupKey
		ev.DedupKey = &k
		r := insertIgnore(tx).Create(&ev)
		if r.Error != nil {
			return res, translate(r.Error)
		}
		if r.RowsAffected == 0 {
			return res, nil
		}
	} else if err := tx.Create(&ev).Error; err != nil {
		return res, translate(err)
	}
	res = GrantResult{Applied: true, Paired: twin != 0, EventID: ev.ID}
	set := map[string]any{"status": SubAccept, "updated_at": now}
	if twin != 0 {
		if err := tx.Exec("UPDATE subscription_events SET matched_id = ? WHERE id = ?", ev.ID, twin).Error; err != nil {
			return res, err
		}
	} else if c.LongTerm {
		set["long_term"] = true
	} else {
		set["credits"] = gorm.Expr("credits + 1")
	}
	return res, tx.Model(&Subscription{}).Where("user_id = ? AND template_id = ?", c.UserID, c.TemplateID).Updates(set).Error
}
