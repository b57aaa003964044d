package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
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

// APIKeyNameTaken tells whether an app has a key in use (not revoked)
// with this name: two would be told apart by prefix only.
func APIKeyNameTaken(ctx context.Context, db *gorm.DB, appID int64, name string) (bool, error) {
	var n int64
	err := db.WithContext(ctx).Model(&APIKey{}).Where("app_id = ? AND name = ? AND revoked_at IS NULL", appID, name).Count(&n).Error
	return n > 0, err
}

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

// AuthenticateAPIKeyApp finds the active key matching key and its account
// in one query (every API call makes it). The key comes back with its id,
// account, name and prefix only. A revoked or unknown key is ErrNotFound.
func AuthenticateAPIKeyApp(ctx context.Context, db *gorm.DB, key string) (*APIKey, *App, error) {
	if !strings.HasPrefix(key, APIKeyPrefix) || len(key) > 200 {
		return nil, nil, ErrNotFound
	}
	var rows []struct {
		App
		KeyID     int64  `gorm:"column:key_id"`
		KeyName   string `gorm:"column:key_name"`
		KeyPrefix string `gorm:"column:key_prefix"`
	}
	err := db.WithContext(ctx).Raw(`SELECT a.*, k.id AS key_id, k.name AS key_name, k.prefix AS key_prefix
		FROM api_keys k JOIN apps a ON a.id = k.app_id WHERE k.key_hash = ? AND k.revoked_at IS NULL`, hashAPIKey(key)).
		Scan(&rows).Error
	if err != nil {
		return nil, nil, err
	}
	if len(rows) == 0 {
		return nil, nil, ErrNotFound
	}
	r := rows[0]
	app := r.App
	return &APIKey{ID: r.KeyID, AppID: app.ID, Name: r.KeyName, Prefix: r.KeyPrefix}, &app, nil
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

// APIKeyUsage counts the calls made with each key in memory and writes
// them (calls = calls + n, last_used_at) every few seconds, in one UPDATE
// per key used. Counting every call with its own UPDATE of the key's row
// made that row hot: each API request waited for the commit of the one
// before it. Counts are exact: a flush that fails keeps them for the next,
// and Close writes what is left. Pending tells what this instance has not
// written yet, so the keys page shows exact figures; another instance's
// calls appear within its flush interval.
type APIKeyUsage struct {
	db      *gorm.DB
	every   time.Duration
	flushMu sync.Mutex // one flush at a time
	mu      sync.Mutex
	use     map[int64]KeyUse
	writing map[int64]KeyUse // taken by the flush under way, not written yet
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	onErr   func(error)
}

// KeyUse is the calls made with a key and the last one's time.
type KeyUse struct {
	Calls int64
	Last  time.Time
}

// NewAPIKeyUsage starts counting; every is the flush interval (0: 2 s).
// onErr (may be nil) hears of failed flushes.
func NewAPIKeyUsage(db *gorm.DB, every time.Duration, onErr func(error)) *APIKeyUsage {
	if every <= 0 {
		every = 2 * time.Second
	}
	u := &APIKeyUsage{db: db, every: every, use: map[int64]KeyUse{}, writing: map[int64]KeyUse{},
		stop: make(chan struct{}), done: make(chan struct{}), onErr: onErr}
	go u.loop()
	return u
}

// Count records one call with key id at now.
func (u *APIKeyUsage) Count(id int64, now time.Time) {
	u.mu.Lock()
	k := u.use[id]
	k.Calls++
	if now.After(k.Last) {
		k.Last = now.UTC()
	}
	u.use[id] = k
	u.mu.Unlock()
}

// Pending returns the calls counted for id and not written yet.
func (u *APIKeyUsage) Pending(id int64) KeyUse {
	u.mu.Lock()
	defer u.mu.Unlock()
	return merge(u.use[id], u.writing[id])
}

func merge(a, b KeyUse) KeyUse {
	a.Calls += b.Calls
	if b.Last.After(a.Last) {
		a.Last = b.Last
	}
	return a
}

func (u *APIKeyUsage) loop() {
	defer close(u.done)
	t := time.NewTicker(u.every)
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), u.every*5)
			if err := u.Flush(ctx); err != nil && u.onErr != nil {
				u.onErr(err)
			}
			cancel()
		}
	}
}

// Flush writes the counted calls now. What fails to be written is kept.
func (u *APIKeyUsage) Flush(ctx context.Context) error {
	u.flushMu.Lock()
	defer u.flushMu.Unlock()
	u.mu.Lock()
	batch := u.use
	u.use, u.writing = map[int64]KeyUse{}, batch
	u.mu.Unlock()
	var errs []error
	for id, k := range batch {
		err := u.db.WithContext(ctx).Exec(`UPDATE api_keys SET calls = calls + ?,
			last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < ? THEN ? ELSE last_used_at END WHERE id = ?`,
			k.Calls, k.Last, k.Last, id).Error
		u.mu.Lock()
		delete(u.writing, id)
		if err != nil {
			errs = append(errs, err)
			u.use[id] = merge(u.use[id], k) // kept for the next flush
		}
		u.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Close stops the flushing and writes what is left (bounded by ctx).
func (u *APIKeyUsage) Close(ctx context.Context) error {
	u.once.Do(func() { close(u.stop) })
	<-u.done
	return u.Flush(ctx)
}
