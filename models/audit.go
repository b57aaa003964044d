package models

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"
)

// AuditEntry is one change a staff member made: who, what, which object,
// from where, when.
type AuditEntry struct {
	ID         int64
	StaffID    *int64
	StaffEmail string
	Action     string // e.g. "staff.role", "app.create"
	ObjectType string
	ObjectID   string
	Detail     string // JSON; never holds secrets
	IP         string
	CreatedAt  time.Time
}

// TableName pins the table name.
func (AuditEntry) TableName() string { return "audit_log" }

// Actor is who makes a change, for the audit log.
type Actor struct {
	StaffID int64
	Email   string
	IP      string
}

// Audit writes one audit row. detail is marshalled to JSON; pass nil for none.
func Audit(ctx context.Context, db *gorm.DB, who Actor, action, objectType, objectID string, detail any) error {
	d := "{}"
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return err
		}
		d = string(b)
	}
	e := AuditEntry{StaffEmail: who.Email, Action: action, ObjectType: objectType, ObjectID: objectID,
		Detail: d, IP: who.IP, CreatedAt: time.Now().UTC()}
	if who.StaffID != 0 {
		id := who.StaffID
		e.StaffID = &id
	}
	return db.WithContext(ctx).Create(&e).Error
}

// AuditFilter narrows the audit log.
type AuditFilter struct {
	StaffID    int64
	Action     string // prefix match, e.g. "staff."
	ObjectType string
	ObjectID   string
	From, To   time.Time // created at or after From, before To (zero: open)
	Before     int64     // keyset: rows with id < Before (0: newest)
	Limit      int
}

// ListAudit returns audit rows newest first, by keyset pagination.
func ListAudit(ctx context.Context, db *gorm.DB, f AuditFilter) ([]AuditEntry, error) {
	q := db.WithContext(ctx).Model(&AuditEntry{})
	if f.StaffID != 0 {
		q = q.Where("staff_id = ?", f.StaffID)
	}
	if f.Action != "" {
		// Prefix match without LIKE, so "_" and "%" in names mean themselves.
		q = q.Where("SUBSTR(action, 1, ?) = ?", len(f.Action), f.Action)
	}
	if f.ObjectType != "" {
		q = q.Where("object_type = ?", f.ObjectType)
	}
	if f.ObjectID != "" {
		q = q.Where("object_id = ?", f.ObjectID)
	}
	if !f.From.IsZero() {
		q = q.Where("created_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("created_at < ?", f.To.UTC())
	}
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	var out []AuditEntry
	err := q.Order("id DESC").Limit(f.Limit).Find(&out).Error
	return out, err
}
