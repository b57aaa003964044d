package models

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// User is one mini program user (an openid of one app).
type User struct {
	ID         int64
	AppID      int64  `gorm:"column:app_id"`
	OpenID     string `gorm:"column:openid"`
	UnionID    string `gorm:"column:unionid"`
	BusinessID string
	Attributes string // JSON object used to personalise messages
	Tags       string // JSON array of strings
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Attrs decodes the attributes.
func (u *User) Attrs() map[string]any {
	m := map[string]any{}
	if u.Attributes != "" {
		_ = json.Unmarshal([]byte(u.Attributes), &m)
	}
	return m
}

// GetUser loads a user by row id.
func GetUser(ctx context.Context, db *gorm.DB, id int64) (*User, error) {
	var u User
	if err := db.WithContext(ctx).First(&u, id).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// GetUserByOpenID loads an app's user by openid.
func GetUserByOpenID(ctx context.Context, db *gorm.DB, appID int64, openid string) (*User, error) {
	var u User
	if err := db.WithContext(ctx).Where("app_id = ? AND openid = ?", appID, openid).First(&u).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// EnsureUser returns the app's user with openid, creating a bare one when
// unknown (WeChat pushes events for users the business has not told us of).
func EnsureUser(ctx context.Context, db *gorm.DB, appID int64, openid string) (*User, error) {
	now := time.Now().UTC()
	u := &User{AppID: appID, OpenID: openid, Attributes: "{}", Tags: "[]", CreatedAt: now, UpdatedAt: now}
	err := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(u).Error
	if err != nil {
		return nil, translate(err)
	}
	return GetUserByOpenID(ctx, db, appID, openid)
}

// HasHiddenChars tells whether s holds control characters or invisible
// format characters (text-direction marks such as U+202E and U+061C,
// zero-width spaces and joiners, U+FEFF): an id holding them shows as
// something it is not, and cannot be typed to find it.
func HasHiddenChars(s string) bool {
	return strings.ContainsFunc(s, hiddenChar)
}

func hiddenChar(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Bidi_Control, r)
}

// SearchText is what a support search looks for when given s: without the
// hidden characters no stored id holds (a zero-width space pasted along),
// surrounding spaces (and ideographic ones) dropped.
func SearchText(s string) string {
	s = strings.Map(func(r rune) rune {
		if hiddenChar(r) {
			return -1
		}
		return r
	}, s)
	return strings.TrimFunc(s, unicode.IsSpace)
}

// FoldWidth reads full-width letters, digits and signs as their ASCII
// forms ("ｃｕｓｔ－１" is "cust-1") and the ideographic space as a space:
// a search that finds nothing as typed tries this form (an IME left on).
func FoldWidth(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '！' && r <= '～': // the full-width forms of ASCII 0x21–0x7E
			return r - '！' + '!'
		case r == '\u3000':
			return ' '
		}
		return r
	}, s)
}
