package models

import (
	"context"

	"gorm.io/gorm"
)

// User search fields.
const (
	UserByAny        = ""            // openid, unionid or business id, exactly
	UserByOpenID     = "openid"      //
	UserByUnionID    = "unionid"     //
	UserByBusinessID = "business_id" //
	UserByTag        = "tag"         //
)

// UserSearch narrows the users of one account; exact matches only, so
// each is an index lookup on millions of users.
type UserSearch struct {
	AppID  int64
	Field  string // one of the UserBy constants
	Q      string // "" lists the newest users
	Before int64  // keyset: users with id < Before (0: newest)
	Limit  int
}

// SearchUsers returns matching users, newest first.
func SearchUsers(ctx context.Context, db *gorm.DB, f UserSearch) ([]User, error) {
	q := db.WithContext(ctx).Model(&User{}).Where("users.app_id = ?", f.AppID)
	if f.Q != "" {
		switch f.Field {
		case UserByOpenID:
			q = q.Where("users.openid = ?", f.Q)
		case UserByUnionID:
			q = q.Where("users.unionid = ?", f.Q)
		case UserByBusinessID:
			q = q.Where("users.business_id = ?", f.Q)
		case UserByTag:
			q = q.Joins("JOIN user_tags ut ON ut.user_id = users.id AND ut.app_id = ? AND ut.tag = ?", f.AppID, f.Q)
		default:
			q = q.Where("(users.openid = ? OR users.unionid = ? OR users.business_id = ?)", f.Q, f.Q, f.Q)
		}
	}
	if f.Before > 0 {
		q = q.Where("users.id < ?", f.Before)
	}
	var out []User
	err := q.Select("users.*").Order("users.id DESC").Limit(f.Limit).Find(&out).Error
	return out, err
}
