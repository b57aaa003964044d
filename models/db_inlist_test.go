package models_test

import (
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// On MariaDB every connection looks each value of a long IN list up
// instead of joining a table of them (in_predicate_conversion_threshold
// 0): a 1,200-id lookup reads the table alone, not a join with the list.
func TestLongInListsAreLookedUp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		if !models.IsMySQL(db) {
			t.Skip("MariaDB's IN-list conversion")
		}
		var version string
		db.Raw("SELECT VERSION()").Scan(&version)
		if !strings.Contains(version, "MariaDB") {
			t.Skip("not MariaDB: " + version)
		}
		var threshold int64 = -1
		if err := db.Raw("SELECT @@session.in_predicate_conversion_threshold").Scan(&threshold).Error; err != nil || threshold != 0 {
			t.Fatalf("in_predicate_conversion_threshold = %d (%v), want 0 on every connection", threshold, err)
		}
		ids := make([]string, 1200)
		for i := range ids {
			ids[i] = fmt.Sprint(i + 1)
		}
		var plan []map[string]any
		if err := db.Raw("EXPLAIN SELECT * FROM deliveries WHERE id IN (" + strings.Join(ids, ",") + ")").Scan(&plan).Error; err != nil {
			t.Fatal(err)
		}
		if len(plan) != 1 || fmt.Sprint(plan[0]["table"]) != "deliveries" {
			t.Fatalf("a 1,200-id lookup is planned as %v, want the table alone (no join with a table of the values)", plan)
		}
	})
}
