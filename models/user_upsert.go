package models

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// UserInput is what the business backend (API, CSV import) says about one
// user. Nil fields are left as they are.
type UserInput struct {
	OpenID     string
	UnionID    *string
	BusinessID *string
	Attributes map[string]any // nil: keep; {} clears
	Tags       []string       // nil: keep; empty clears
}

// UpsertUsers creates or updates the given users of an app in one
// transaction and keeps their tags indexed. It returns how many were
// created (the rest were updated).
func UpsertUsers(ctx context.Context, db *gorm.DB, appID int64, in []UserInput) (created int, err error) {
	if len(in) == 0 {
		return 0, nil
	}
	now := time.Now().UTC()
	err = retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
		created = 0
		for i := range in {
			c, err := upsertUserTx(tx, appID, &in[i], now)
			if err != nil {
				return err
			}
			if c {
				created++
			}
		}
		return nil
	})
	return created, err
}

func upsertUserTx(tx *gorm.DB, appID int64, u *UserInput, now time.Time) (bool, error) {
	row := &User{AppID: appID, OpenID: u.OpenID, Attributes: "{}", Tags: "[]", CreatedAt: now, UpdatedAt: now}
	res := insertIgnore(tx).Create(row)
	if res.Error != nil {
		return false, translate(res.Error)
	}
	created := res.RowsAffected == 1
	var id int64
	if err := tx.Raw("SELECT id FROM users WHERE app_id = ? AND openid = ?", appID, u.OpenID).Scan(&id).Error; err != nil {
		return false, err
	}
	if id == 0 {
		return false, errors.New("upsert user: row vanished")
	}
	set := map[string]any{"updated_at": now}
	if u.UnionID != nil {
		set["unionid"] = *u.UnionID
	}
	if u.BusinessID != nil {
		set["business_id"] = *u.BusinessID
	}
	if u.Attributes != nil {
		b, err := json.Marshal(u.Attributes)
		if err != nil {
			return false, err
		}
		set["attributes"] = string(b)
	}
	if u.Tags != nil {
		tags := uniqueStrings(u.Tags)
		b, _ := json.Marshal(tags)
		set["tags"] = string(b)
		if err := tx.Exec("DELETE FROM user_tags WHERE user_id = ?", id).Error; err != nil {
			return false, err
		}
		if len(tags) > 0 {
			rows := make([]userTag, len(tags))
			for i, t := range tags {
				rows[i] = userTag{AppID: appID, Tag: t, UserID: id}
			}
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error; err != nil {
				return false, translate(err)
			}
		}
	}
	return created, tx.Model(&User{}).Where("id = ?", id).Updates(set).Error
}

type userTag struct {
	AppID  int64 `gorm:"column:app_id"`
	Tag    string
	UserID int64
}

func (userTag) TableName() string { return "user_tags" }

func uniqueStrings(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// TagList decodes the user's tags.
func (u *User) TagList() []string {
	var out []string
	if u.Tags != "" {
		_ = json.Unmarshal([]byte(u.Tags), &out)
	}
	return out
}

// ErrAmbiguous is returned when a lookup that must find one row finds several.
var ErrAmbiguous = errors.New("more than one match")

// GetUserByBusinessID loads an app's user by business user id; several
// users with the id is ErrAmbiguous.
func GetUserByBusinessID(ctx context.Context, db *gorm.DB, appID int64, businessID string) (*User, error) {
	var us []User
	if err := db.WithContext(ctx).Where("app_id = ? AND business_id = ?", appID, businessID).Limit(2).Find(&us).Error; err != nil {
		return nil, err
	}
	switch len(us) {
	case 0:
		return nil, ErrNotFound
	case 1:
		return &us[0], nil
	}
	return nil, ErrAmbiguous
}
