package models

import (
	"context"

	"gorm.io/gorm"
)

// Overview tells how far the console is set up: what the dashboard's
// getting-started list ticks. Every count is cheap: small tables are
// counted, the big ones (users, deliveries) only probed for a first row.
type Overview struct {
	Apps      int64 // accounts
	Templates int64 // templates not deleted
	Staff     int64 // staff members, the first admin included
	Campaigns int64
	APIKeys   int64
	HasUsers  bool
	HasSends  bool // any delivery, test sends included
}

// CountOverview counts the main objects.
func CountOverview(ctx context.Context, db *gorm.DB) (Overview, error) {
	var o Overview
	db = db.WithContext(ctx)
	err := db.Raw(`SELECT
		(SELECT COUNT(*) FROM apps) AS apps,
		(SELECT COUNT(*) FROM templates WHERE status <> 'deleted') AS templates,
		(SELECT COUNT(*) FROM campaigns) AS campaigns,
		(SELECT COUNT(*) FROM api_keys) AS api_keys,
		(SELECT COUNT(*) FROM staff) AS staff`).Scan(&o).Error
	if err != nil {
		return o, err
	}
	if o.HasUsers, err = anyRow(db, "users"); err != nil {
		return o, err
	}
	o.HasSends, err = anyRow(db, "deliveries")
	return o, err
}

// anyRow tells whether table has a row (reads one primary-key entry).
func anyRow(db *gorm.DB, table string) (bool, error) {
	var ids []int64
	err := db.Raw("SELECT id FROM " + table + " LIMIT 1").Scan(&ids).Error
	return len(ids) > 0, err
}
