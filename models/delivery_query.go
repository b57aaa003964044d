package models

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"gorm.io/gorm"
)

// Delivery sources, as support filters them.
const (
	DeliverySourceCampaign = "campaign" // a campaign run
	DeliverySourceAPI      = "api"      // POST /api/v1/messages
	DeliverySourceTest     = "test"     // a console test send
)

// Source tells where a delivery came from.
func (d *Delivery) Source() string {
	switch {
	case d.RunID != nil:
		return DeliverySourceCampaign
	case d.APIKeyID != nil:
		return DeliverySourceAPI
	}
	return DeliverySourceTest
}

// DeliveryFilter narrows the deliveries list. Zero fields do not filter.
type DeliveryFilter struct {
	AppID      int64
	TemplateID int64
	Source     string // DeliverySource*
	RunID      int64
	APIKeyID   int64
	Status     string
	ErrCode    *int
	From, To   time.Time // queued_at in [From, To)
	Before     int64     // keyset: id < Before (0: newest)
	Limit      int       // 0: no limit (export)
}

func (f *DeliveryFilter) query(db *gorm.DB) (*gorm.DB, error) {
	q := db.Model(&Delivery{})
	order := "id DESC"
	if f.AppID != 0 {
		// Walk the account's matching deliveries newest first by the index
		// that leads with the most selective filter given, (app_id, X, id),
		// and stop at the page's last row (migration 11 has the indexes).
		// Named, MariaDB reads it as a range from the keyset bound down:
		// otherwise it reads by "ref" from the newest row even below the
		// bound (seconds deep in a large account) or intersects indexes and
		// sorts. The order names app_id and id only: with status in it,
		// MariaDB sorts every matching row (the connection's collation is
		// not the column's, so status = ? does not fix its order for it).
		if IsMySQL(db) {
			q = q.Table("deliveries FORCE INDEX (" + deliveryIndex(f) + ")")
		}
		q = q.Where("app_id = ?", f.AppID)
		order = "app_id DESC, id DESC"
	}
	if f.TemplateID != 0 {
		q = q.Where("template_id = ?", f.TemplateID)
	}
	switch f.Source {
	case DeliverySourceCampaign:
		q = q.Where("run_id IS NOT NULL")
	case DeliverySourceAPI:
		q = q.Where("api_key_id IS NOT NULL")
	case DeliverySourceTest:
		q = q.Where("run_id IS NULL AND api_key_id IS NULL")
	}
	if f.RunID != 0 {
		q = q.Where("run_id = ?", f.RunID)
	}
	if f.APIKeyID != 0 {
		q = q.Where("api_key_id = ?", f.APIKeyID)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.ErrCode != nil {
		q = q.Where("errcode = ?", *f.ErrCode)
	}
	// A time range is also turned into an id range (ids grow with
	// queued_at), so the scan is bounded at both ends.
	if !f.From.IsZero() {
		id, err := DeliveryIDAt(db, f.From)
		if err != nil {
			return nil, err
		}
		q = q.Where("queued_at >= ? AND id >= ?", f.From.UTC(), id-idSlack)
	}
	if !f.To.IsZero() {
		id, err := DeliveryIDAt(db, f.To)
		if err != nil {
			return nil, err
		}
		q = q.Where("queued_at < ? AND id < ?", f.To.UTC(), id+idSlack)
	}
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	return q.Order(order), nil
}

// deliveryIndex picks the index an account's filtered list is read by:
// an errcode is rarer than a status, a status than a template. The other
// filters are checked on the rows read; a list narrowed only by source or
// API key still reads the account's rows until its page is full.
func deliveryIndex(f *DeliveryFilter) string {
	switch {
	case f.ErrCode != nil:
		return "ix_deliveries_app_errcode"
	case f.Status != "":
		return "ix_deliveries_app_status"
	case f.TemplateID != 0:
		return "ix_deliveries_app_tpl"
	}
	return "ix_deliveries_app"
}

// idSlack widens id bounds found from times: rows queued in the same
// moment by concurrent writers may commit slightly out of order.
const idSlack = 10000

// DeliveryIDAt returns the first id whose queued_at is at or after t (one
// past the last id when none is), by searching the primary key: ids are
// given out in queueing order. Each step reads one row; the next id to
// read is guessed from the times at both ends of the interval left (ids
// grow about evenly with time), every other step halving it, so a search
// over 10 million rows takes a handful of reads rather than 24.
func DeliveryIDAt(db *gorm.DB, t time.Time) (int64, error) {
	var b struct{ Lo, Hi int64 }
	if err := db.Raw("SELECT COALESCE(MIN(id), 0) AS lo, COALESCE(MAX(id), 0) AS hi FROM deliveries").Scan(&b).Error; err != nil {
		return 0, err
	}
	lo, hi, ans := b.Lo, b.Hi, b.Hi+1
	t = t.UTC()
	// The times at the interval's ends, to guess from.
	var ends []struct {
		ID       int64
		QueuedAt time.Time
	}
	if err := db.Raw("SELECT id, queued_at FROM deliveries WHERE id IN (?, ?) ORDER BY id", lo, hi).Scan(&ends).Error; err != nil {
		return 0, err
	}
	var tLo, tHi time.Time
	if len(ends) > 0 {
		first, last := ends[0], ends[len(ends)-1]
		switch {
		case !first.QueuedAt.Before(t):
			return first.ID, nil
		case last.QueuedAt.Before(t):
			return last.ID + 1, nil
		}
		lo, tLo = first.ID+1, first.QueuedAt
		ans, hi, tHi = last.ID, last.ID-1, last.QueuedAt
	}
	for step := 0; lo <= hi; step++ {
		mid := lo + (hi-lo)/2
		if step%2 == 0 && !tLo.IsZero() && !tHi.IsZero() && tHi.After(tLo) {
			frac := float64(t.Sub(tLo)) / float64(tHi.Sub(tLo))
			mid = lo + int64(frac*float64(hi-lo))
			mid = min(max(mid, lo), hi)
		}
		var row struct {
			ID       int64
			QueuedAt time.Time
		}
		if err := db.Raw("SELECT id, queued_at FROM deliveries WHERE id >= ? ORDER BY id LIMIT 1", mid).Scan(&row).Error; err != nil {
			return 0, err
		}
		switch {
		case row.ID == 0 || row.ID > hi:
			hi = mid - 1
		case row.QueuedAt.Before(t):
			lo, tLo = row.ID+1, row.QueuedAt
		default:
			ans, hi, tHi = row.ID, mid-1, row.QueuedAt
		}
	}
	return ans, nil
}

// ListDeliveries returns deliveries newest first (keyset pagination).
func ListDeliveries(ctx context.Context, db *gorm.DB, f DeliveryFilter) ([]Delivery, error) {
	var out []Delivery
	db = db.WithContext(ctx)
	q, err := f.query(db)
	if err != nil {
		return nil, err
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
		if f.pageByIndexOnly(db) {
			// Find the page's ids in the index alone, then read those rows.
			err = db.Table("deliveries").Select("deliveries.*").
				Joins("JOIN (?) AS page ON page.id = deliveries.id", q.Select("id")).Find(&out).Error
			slices.SortFunc(out, func(a, b Delivery) int { return cmp.Compare(b.ID, a.ID) })
			return out, err
		}
	}
	err = q.Find(&out).Error
	return out, err
}

// pageByIndexOnly tells whether a page of the list is better found in its
// index alone before any row is read: on MySQL/MariaDB, for a time range
// whose every condition is a column of the index read (migration 13 put
// queued_at in each). A time range is read as an id range widened by
// idSlack at both ends, and the slack rows fail the queued_at check:
// MariaDB does not push that check into a descending index scan, so
// reading rows it looked up each of them (10,000 for any range ending in
// the past: 15 ms on 10M rows), where the index alone drops them in about
// a millisecond and then only the page's rows are read.
func (f *DeliveryFilter) pageByIndexOnly(db *gorm.DB) bool {
	if !IsMySQL(db) || f.AppID == 0 || (f.From.IsZero() && f.To.IsZero()) ||
		f.Source != "" || f.RunID != 0 || f.APIKeyID != 0 {
		return false
	}
	n := 0 // the index holds one of errcode, status and template_id
	for _, set := range []bool{f.ErrCode != nil, f.Status != "", f.TemplateID != 0} {
		if set {
			n++
		}
	}
	return n <= 1
}

// EachDelivery streams the filtered deliveries to fn in pages of 1,000 by
// keyset, so memory stays flat whatever the count. fn's error stops it.
func EachDelivery(ctx context.Context, db *gorm.DB, f DeliveryFilter, fn func(*Delivery) error) error {
	f.Limit = 1000
	for {
		page, err := ListDeliveries(ctx, db, f)
		if err != nil {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if len(page) < f.Limit {
			return nil
		}
		f.Before = page[len(page)-1].ID
	}
}

// DeliveryLedger is what the delivery page shows beside the row: the sent
// event that settled it and the credit moves it caused.
type DeliveryLedger struct {
	SentEvents []SentEvent
	Credits    []SubscriptionEvent
}

// GetDeliveryLedger loads a delivery's sent events and credit events.
func GetDeliveryLedger(ctx context.Context, db *gorm.DB, d *Delivery) (DeliveryLedger, error) {
	var l DeliveryLedger
	db = db.WithContext(ctx)
	if err := db.Where("delivery_id = ?", d.ID).Order("id").Find(&l.SentEvents).Error; err != nil {
		return l, err
	}
	err := db.Where("user_id = ? AND delivery_id = ?", d.UserID, d.ID).Order("id").Find(&l.Credits).Error
	return l, err
}

// ErrNotUnknown is returned when settling a delivery whose outcome is known.
var ErrNotUnknown = errors.New("the delivery's outcome is not unknown")

// Staff settle reasons (deliveries.reason).
const (
	ReasonStaffDelivered = "staff_delivered"
	ReasonStaffFailed    = "staff_failed"
)

// SettleUnknown records staff's verdict on a delivery whose outcome is
// unknown: delivered, or failed (the credit spent on it is given back).
// Only an unknown delivery can be settled; anything else is ErrNotUnknown.
func SettleUnknown(ctx context.Context, db *gorm.DB, id int64, delivered bool, staffID int64, now time.Time) (*Delivery, error) {
	var out *Delivery
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var d Delivery
		q := tx.Where("id = ?", id)
		if IsMySQL(tx) {
			q = q.Clauses(lockingClause())
		}
		if err := q.First(&d).Error; err != nil {
			return translate(err)
		}
		if d.Status != DeliveryUnknown {
			return ErrNotUnknown
		}
		to, reason := DeliveryDelivered, ReasonStaffDelivered
		if !delivered {
			to, reason = DeliveryFailed, ReasonStaffFailed
		}
		res := tx.Model(&Delivery{}).Where("id = ? AND status = ?", id, DeliveryUnknown).
			Updates(map[string]any{"status": to, "reason": reason, "settled_at": now.UTC(), "updated_at": now.UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrNotUnknown
		}
		st := StatDeltas{}
		detail := ""
		if !delivered {
			detail = reason
		}
		st.Move(d.AppID, d.RunID, DeliveryUnknown, to, detail)
		if err := applyStats(tx, st); err != nil {
			return err
		}
		if !delivered && d.CreditSpent {
			sid := staffID
			c := CreditChange{AppID: d.AppID, UserID: d.UserID, TemplateID: d.TemplateID, Source: SourceStaff,
				DedupKey: dedupKey("refund", d.ID), DeliveryID: &d.ID, StaffID: &sid, Now: now}
			if _, err := refundTx(tx, &c); err != nil {
				return err
			}
		}
		d.Status, d.Reason = to, reason
		out = &d
		return nil
	})
	return out, err
}
