package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"gorm.io/gorm"
)

// APIKeyPrefix starts every key, so a leaked one is recognisable in logs
// and by secret scanners.
const APIKeyPrefix = "mpk_"

// APIKey is a key of the JSON API, scoped to one account. Only the SHA-256
// of the key is stored; the key itself is shown once, when created.
type APIKey struct {
	ID         int64
	AppID      int64 `gorm:"column:app_id"`
	Name       string
	Prefix     string // the first characters of the key, to tell keys apart
	KeyHash    string
	CreatedBy  *int64
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	Calls      int64
	CreatedAt  time.Time
}

// TableName pins the table name.
func (APIKey) TableName() string { return "api_keys" }

// Active tells whether the key may still be used.
func (k *APIKey) Active() bool { return k.RevokedAt == nil }

func hashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// CreateAPIKey makes a new key for an app and returns it in clear text
// (the only time it exists outside the caller) with its stored row.
func CreateAPIKey(ctx context.Context, db *gorm.DB, appID int64, name string, createdBy *int64) (string, *APIKey, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	key := APIKeyPrefix + hex.EncodeToString(b[:])
	k := &APIKey{AppID: appID, Name: name, Prefix: key[:len(APIKeyPrefix)+8], KeyHash: hashAPIKey(key),
		CreatedBy: createdBy, CreatedAt: time.Now().UTC()}
	if err := db.WithContext(ctx).Create(k).Error; err != nil {
		return "", nil, translate(err)
	}
	return key, k, nil
}

// AuthenticateAPIKey finds the active key matching key. A revoked or
// unknown key is ErrNotFound.
func AuthenticateAPIKey(ctx context.Context, db *gorm.DB, key string) (*APIKey, error) {
	if !strings.HasPrefix(key, APIKeyPrefix) || len(key) > 200 {
		return nil, ErrNotFound
	}
	var k APIKey
	err := db.WithContext(ctx).Where("key_hash = ? AND revoked_at IS NULL", hashAPIKey(key)).First(&k).Error
	if err != nil {
		return nil, translate(err)
	}
	return &k, nil
}

// TouchAPIKey counts one call made with the key and records when.
func TouchAPIKey(ctx context.Context, db *gorm.DB, id int64, now time.Time) error {
	return db.WithContext(ctx).Exec("UPDATE api_keys SET calls = calls + 1, last_used_at = ? WHERE id = ?", now.UTC(), id).Error
}

// APIKeyRow is a key with its account and creator, for the admin list.
type APIKeyRow struct {
	APIKey
	AppName      string
	AppAppID     string `gorm:"column:app_appid"`
	CreatorEmail string `gorm:"column:creator"`
}

// ListAPIKeys returns every key, newest first (a short list: keys are made by hand).
func ListAPIKeys(ctx context.Context, db *gorm.DB) ([]APIKeyRow, error) {
	var out []APIKeyRow
	err := db.WithContext(ctx).Table("api_keys AS k").
		Select("k.*, a.name AS app_name, a.app_id AS app_appid, COALESCE(s.email, '') AS creator").
		Joins("JOIN apps a ON a.id = k.app_id").
		Joins("LEFT JOIN staff s ON s.id = k.created_by").
		Order("k.id DESC").Limit(1000).Scan(&out).Error
	return out, err
}

// GetAPIKey loads a key by row id.
func GetAPIKey(ctx context.Context, db *gorm.DB, id int64) (*APIKey, error) {
	var k APIKey
	if err := db.WithContext(ctx).First(&k, id).Error; err != nil {
		return nil, translate(err)
	}
	return &k, nil
}

// RevokeAPIKey stops a key from working; false when it was revoked already.
func RevokeAPIKey(ctx context.Context, db *gorm.DB, id int64, now time.Time) (bool, error) {
	res := db.WithContext(ctx).Exec("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", now.UTC(), id)
	return res.RowsAffected == 1, res.Error
}
