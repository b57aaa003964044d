package models

import (
	"context"
	"encoding/json"
	"maps"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// importColumns says which user fields a batch writes: every row writes
// the same fields (an empty unionid, business_id or tags cell writes an
// empty value). Attributes replace the user's attributes (the API), or,
// with MergeAttributes (a CSV import), are merged into them: the
// attributes a row names are set, the user's others kept.
type importColumns struct {
	UnionID, BusinessID, Tags, Attributes bool
	MergeAttributes                       bool
}

// mergeAttributesSQL is the upsert's assignment that merges the incoming
// attributes into the stored ones (a stored value that is not JSON is
// replaced).
func mergeAttributesSQL(tx *gorm.DB) clause.Expr {
	if IsMySQL(tx) {
		// JSON_VALID first: MySQL 8 raises an error on invalid JSON where
		// MariaDB answers NULL.
		return gorm.Expr("CASE WHEN JSON_VALID(attributes) THEN JSON_MERGE_PATCH(attributes, VALUES(attributes)) ELSE VALUES(attributes) END")
	}
	return gorm.Expr("json_patch(CASE WHEN json_valid(attributes) THEN attributes ELSE '{}' END, excluded.attributes)")
}

// bulkUpsertUsers writes a batch of users of one file in a few statements:
// one multi-row upsert, then, when the file has tags, the tag index of the
// batch's users replaced.
func bulkUpsertUsers(ctx context.Context, db *gorm.DB, appID int64, in []UserInput, cols importColumns) error {
	now := time.Now().UTC()
	return retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
		return bulkUpsertUsersTx(tx, appID, in, cols, now)
	})
}

// bulkUpsertUsersTx is bulkUpsertUsers inside a transaction: every user of
// in gives the fields cols names (and only those are written over an
// existing user's).
func bulkUpsertUsersTx(tx *gorm.DB, appID int64, in []UserInput, cols importColumns, now time.Time) error {
	// Last row wins when a file names an openid twice in one batch.
	pos := make(map[string]int, len(in))
	rows := make([]User, 0, len(in))
	for i := range in {
		u := &in[i]
		row := User{AppID: appID, OpenID: u.OpenID, Attributes: "{}", Tags: "[]", CreatedAt: now, UpdatedAt: now}
		if u.UnionID != nil {
			row.UnionID = *u.UnionID
		}
		if u.BusinessID != nil {
			row.BusinessID = *u.BusinessID
		}
		if u.Attributes != nil {
			b, err := json.Marshal(u.Attributes)
			if err != nil {
				return err
			}
			row.Attributes = string(b)
		}
		if u.Tags != nil {
			b, _ := json.Marshal(uniqueStrings(u.Tags))
			row.Tags = string(b)
		}
		if j, dup := pos[u.OpenID]; dup {
			if cols.MergeAttributes { // as two batches would: the later row's attributes over the earlier's
				var merged map[string]any
				_ = json.Unmarshal([]byte(rows[j].Attributes), &merged)
				maps.Copy(merged, u.Attributes)
				b, _ := json.Marshal(merged)
				row.Attributes = string(b)
			}
			rows[j] = row
			continue
		}
		pos[u.OpenID] = len(rows)
		rows = append(rows, row)
	}
	update := []string{"updated_at"}
	if cols.UnionID {
		update = append(update, "unionid")
	}
	if cols.BusinessID {
		update = append(update, "business_id")
	}
	if cols.Attributes && !cols.MergeAttributes {
		update = append(update, "attributes")
	}
	if cols.Tags {
		update = append(update, "tags")
	}
	set := clause.AssignmentColumns(update)
	if cols.Attributes && cols.MergeAttributes {
		set = append(set, clause.Assignment{Column: clause.Column{Name: "attributes"}, Value: mergeAttributesSQL(tx)})
	}
	// SQLite's driver binds arguments in time quadratic in their number:
	// smaller statements there.
	chunk := 1000
	if !IsMySQL(tx) {
		chunk = 200
	}
	for start := 0; start < len(rows); start += chunk {
		part := rows[start:min(start+chunk, len(rows))]
		err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "app_id"}, {Name: "openid"}},
			DoUpdates: set}).Omit("id").Create(&part).Error
		if err != nil {
			return translate(err)
		}
	}
	if !cols.Tags {
		return nil
	}
	return replaceTags(tx, appID, in, rows)
}

// replaceTags replaces the tag index (user_tags) of the users just
// written with the tags in gives them.
func replaceTags(tx *gorm.DB, appID int64, in []UserInput, rows []User) error {
	openids := make([]string, len(rows))
	for i := range rows {
		openids[i] = rows[i].OpenID
	}
	var ids []struct {
		ID     int64
		OpenID string `gorm:"column:openid"`
	}
	if err := tx.Raw("SELECT id, openid FROM users WHERE app_id = ? AND openid IN ?", appID, openids).Scan(&ids).Error; err != nil {
		return err
	}
	last := make(map[string]int, len(in)) // a file may name an openid twice: its last row wins
	for i := range in {
		last[in[i].OpenID] = i
	}
	userIDs := make([]int64, len(ids))
	var tags []userTag
	for i, r := range ids {
		userIDs[i] = r.ID
		for _, t := range uniqueStrings(in[last[r.OpenID]].Tags) {
			tags = append(tags, userTag{AppID: appID, Tag: t, UserID: r.ID})
		}
	}
	if err := tx.Exec("DELETE FROM user_tags WHERE user_id IN ?", userIDs).Error; err != nil {
		return err
	}
	if len(tags) == 0 {
		return nil
	}
	return translate(tx.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(&tags, 1000).Error)
}
