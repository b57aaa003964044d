package models

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"gorm.io/gorm"
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

// UpsertUsers creates or updates the given users of an app (each openid
// once) in one transaction and keeps their tags indexed, in a few
// statements whatever their number: users giving the same fields are
// written by one multi-row upsert (bulkUpsertUsersTx), so a batch of 1,000
// is one count, one upsert and, with tags, one tag replacement. It returns
// how many were created (the rest were updated).
func UpsertUsers(ctx context.Context, db *gorm.DB, appID int64, in []UserInput) (created int, err error) {
	if len(in) == 0 {
		return 0, nil
	}
	var order []importColumns // groups in order of first appearance
	groups := map[importColumns][]UserInput{}
	openids := make([]string, len(in))
	for i := range in {
		u := &in[i]
		openids[i] = u.OpenID
		k := importColumns{UnionID: u.UnionID != nil, BusinessID: u.BusinessID != nil, Attributes: u.Attributes != nil, Tags: u.Tags != nil}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], *u)
	}
	now := time.Now().UTC()
	err = retryTx(ctx, db.WithContext(ctx), func(tx *gorm.DB) error {
		var existing int64
		if err := tx.Model(&User{}).Where("app_id = ? AND openid IN ?", appID, openids).Count(&existing).Error; err != nil {
			return err
		}
		created = len(uniqueStrings(openids)) - int(existing)
		for _, k := range order {
			if err := bulkUpsertUsersTx(tx, appID, groups[k], k, now); err != nil {
				return err
			}
		}
		return nil
	})
	return created, err
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
