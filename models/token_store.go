package models

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/minipush/minipush/wechat"
)

// AccessToken is the shared cache of one app's WeChat access token. The
// token is sealed at rest; token_hash allows compare-and-swap without
// decrypting.
type AccessToken struct {
	AppID     string `gorm:"column:app_id;primaryKey"`
	TokenEnc  string
	TokenHash string
	ExpiresAt time.Time
	UpdatedAt time.Time
}

// TokenStore implements wechat.TokenStore on the access_tokens table, so
// every instance shares one token per app.
type TokenStore struct {
	DB     *gorm.DB
	Sealer *Sealer
}

var _ wechat.TokenStore = (*TokenStore)(nil)

// Get implements wechat.TokenStore.
func (s *TokenStore) Get(ctx context.Context, appID string) (wechat.Token, bool, error) {
	var row AccessToken
	err := s.DB.WithContext(ctx).Where("app_id = ?", appID).First(&row).Error
	if err != nil {
		if translate(err) == ErrNotFound {
			return wechat.Token{}, false, nil
		}
		return wechat.Token{}, false, err
	}
	v, err := s.Sealer.Open(row.TokenEnc)
	if err != nil {
		// A token sealed under another key is as good as none.
		return wechat.Token{}, false, nil
	}
	return wechat.Token{Value: v, ExpiresAt: row.ExpiresAt.UTC()}, true, nil
}

// Put implements wechat.TokenStore.
func (s *TokenStore) Put(ctx context.Context, appID string, t wechat.Token) error {
	row := AccessToken{AppID: appID, TokenEnc: s.Sealer.Seal(t.Value), TokenHash: HashToken(t.Value),
		ExpiresAt: t.ExpiresAt.UTC(), UpdatedAt: time.Now().UTC()}
	return s.DB.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "app_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"token_enc", "token_hash", "expires_at", "updated_at"}),
	}).Create(&row).Error
}

// Invalidate implements wechat.TokenStore: it deletes the row only while it
// still holds value.
func (s *TokenStore) Invalidate(ctx context.Context, appID, value string) error {
	return s.DB.WithContext(ctx).Where("app_id = ? AND token_hash = ?", appID, HashToken(value)).Delete(&AccessToken{}).Error
}

// Drop forgets an app's cached token whatever it is (after its secret changed).
func (s *TokenStore) Drop(ctx context.Context, appID string) error {
	return s.DB.WithContext(ctx).Where("app_id = ?", appID).Delete(&AccessToken{}).Error
}
