package models

import (
	"context"

	"gorm.io/gorm"
)

// Overview is the handful of counts the dashboard shows.
type Overview struct {
	Apps, Templates, Campaigns, Staff int64
}

// CountOverview counts the main objects.
func CountOverview(ctx context.Context, db *gorm.DB) (Overview, error) {
	var o Overview
	err := db.WithContext(ctx).Raw(`SELECT
		(SELECT COUNT(*) FROM apps) AS apps,
		(SELECT COUNT(*) FROM templates WHERE status <> 'deleted') AS templates,
		(SELECT COUNT(*) FROM campaigns) AS campaigns,
		(SELECT COUNT(*) FROM staff) AS staff`).Scan(&o).Error
	return o, err
}
