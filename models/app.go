package models

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// PushMode is how WeChat's message pushes reach an app: plaintext (the
// signature covers the query only) or safe mode (AES-encrypted, signed).
type PushMode string

// PushFormat is the body format of WeChat's pushes.
type PushFormat string

// QuietPolicy says what happens to a delivery due inside quiet hours.
type QuietPolicy string

// MPState is the mini program version a message opens (miniprogram_state).
type MPState string

const (
	PushPlain PushMode = "plain"
	PushSafe  PushMode = "safe"

	PushJSON PushFormat = "json"
	PushXML  PushFormat = "xml"

	QuietDefer QuietPolicy = "defer" // wait for the end of the window
	QuietSkip  QuietPolicy = "skip"  // do not send

	MPFormal    MPState = "formal"
	MPTrial     MPState = "trial"
	MPDeveloper MPState = "developer"
)

// Why an app's sends are paused (apps.pause_reason): stable codes the
// console puts into words.
const (
	PauseWeChatQuota = "wechat_45009" // WeChat answered 45009: its daily quota is used up until midnight China time
	PauseLocalQuota  = "daily_quota"  // the daily quota set in minipush is used up until midnight China time
	PauseNoToken     = "no_token"     // no access token: the AppID or AppSecret is wrong
)

// Valid tells whether m is a push mode we know.
func (m PushMode) Valid() bool { return m == PushPlain || m == PushSafe }

// Valid tells whether f is a push format we know.
func (f PushFormat) Valid() bool { return f == PushJSON || f == PushXML }

// Valid tells whether p is a quiet-hours policy we know.
func (p QuietPolicy) Valid() bool { return p == QuietDefer || p == QuietSkip }

// Valid tells whether s is a miniprogram_state WeChat takes.
func (s MPState) Valid() bool { return s == MPFormal || s == MPTrial || s == MPDeveloper }

// App is one mini program account. Secret fields hold Sealer output.
type App struct {
	ID             int64
	AppID          string `gorm:"column:app_id"`
	Name           string
	OriginalID     string
	SecretEnc      string
	PushTokenEnc   string
	AESKeyEnc      string `gorm:"column:aes_key_enc"`
	PushMode       PushMode
	PushFormat     PushFormat
	APIBaseURL     string `gorm:"column:api_base_url"`
	RateLimit      int    // messages per second across all instances
	DailyQuota     int64  // 0: WeChat's default
	Timezone       string
	QuietStart     string // "22:00" or ""
	QuietEnd       string
	QuietPolicy    QuietPolicy
	MPState        MPState `gorm:"column:mp_state"`
	Lang           string
	SyncEveryHours int
	PausedUntil    *time.Time
	PauseReason    string
	Disabled       bool
	// RequireApproval: campaigns of the account wait for an admin who did
	// not write them before they are scheduled.
	RequireApproval bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// ListApps returns every app, by name.
func ListApps(ctx context.Context, db *gorm.DB) ([]App, error) {
	var out []App
	err := db.WithContext(ctx).Order("name, id").Find(&out).Error
	return out, err
}

// GetApp loads an app by its row id.
func GetApp(ctx context.Context, db *gorm.DB, id int64) (*App, error) {
	var a App
	if err := db.WithContext(ctx).First(&a, id).Error; err != nil {
		return nil, translate(err)
	}
	return &a, nil
}

// GetAppByAppID loads an app by its WeChat AppID.
func GetAppByAppID(ctx context.Context, db *gorm.DB, appID string) (*App, error) {
	var a App
	if err := db.WithContext(ctx).Where("app_id = ?", appID).First(&a).Error; err != nil {
		return nil, translate(err)
	}
	return &a, nil
}

// CreateApp inserts an app (secret fields already sealed).
func CreateApp(ctx context.Context, db *gorm.DB, a *App) error {
	return translate(db.WithContext(ctx).Create(a).Error)
}

// UpdateAppFields writes the named columns of an app (a map, so zero values
// are written too).
func UpdateAppFields(ctx context.Context, db *gorm.DB, id int64, fields map[string]any) error {
	fields["updated_at"] = time.Now().UTC()
	res := db.WithContext(ctx).Model(&App{}).Where("id = ?", id).Updates(fields)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// AppsDueForSync lists enabled apps whose templates were last synced more
// than their interval ago (or never).
func AppsDueForSync(ctx context.Context, db *gorm.DB, now time.Time) ([]App, error) {
	apps, err := ListApps(ctx, db)
	if err != nil {
		return nil, err
	}
	var out []App
	for _, a := range apps {
		if a.Disabled || a.SyncEveryHours <= 0 {
			continue
		}
		last, err := LastTemplateSync(ctx, db, a.ID)
		if err != nil && err != ErrNotFound {
			return nil, err
		}
		if last == nil || now.Sub(last.StartedAt) >= time.Duration(a.SyncEveryHours)*time.Hour {
			out = append(out, a)
		}
	}
	return out, nil
}

// PauseAppSends stops an app's sends until until (45009: the daily quota is
// used up), with a reason shown to staff. An earlier pause is extended,
// never shortened.
func PauseAppSends(ctx context.Context, db *gorm.DB, appID int64, until time.Time, reason string) error {
	until = until.UTC()
	return db.WithContext(ctx).Exec(`UPDATE apps SET paused_until = ?, pause_reason = ?
		WHERE id = ? AND (paused_until IS NULL OR paused_until < ?)`, until, truncate(reason, 190), appID, until).Error
}

// ErrWrongSecretKey: the secret key does not open the secrets stored.
var ErrWrongSecretKey = errors.New("MINIPUSH_SECRET_KEY cannot decrypt the stored account secrets: it is not the key they were sealed with (use the same key on every instance)")

// CheckSecretKey tells whether sealer opens the secrets of the most
// recently changed account (nil when there is none).
func CheckSecretKey(ctx context.Context, db *gorm.DB, sealer *Sealer) error {
	var a App
	err := db.WithContext(ctx).Select("id, secret_enc").Where("secret_enc <> ''").Order("updated_at DESC").Limit(1).Find(&a).Error
	if err != nil || a.ID == 0 {
		return err
	}
	if _, err := sealer.Open(a.SecretEnc); err != nil {
		return ErrWrongSecretKey
	}
	return nil
}
