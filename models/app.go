package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// App is one mini program account. Secret fields hold Sealer output.
type App struct {
	ID             int64
	AppID          string `gorm:"column:app_id"`
	Name           string
	OriginalID     string
	SecretEnc      string
	PushTokenEnc   string
	AESKeyEnc      string `gorm:"column:aes_key_enc"`
	PushMode       string // plain | safe
	PushFormat     string // json | xml
	APIBaseURL     string `gorm:"column:api_base_url"`
	RateLimit      int    // messages per second across all instances
	DailyQuota     int64  // 0: WeChat's default
	Timezone       string
	QuietStart     string // "22:00" or ""
	QuietEnd       string
	QuietPolicy    string // defer | skip
	MPState        string `gorm:"column:mp_state"`
	Lang           string
	SyncEveryHours int
	PausedUntil    *time.Time
	PauseReason    string
	Disabled       bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
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
