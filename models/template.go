package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/minipush/minipush/wechat"
	"gorm.io/gorm"
)

// Template kinds.
const (
	TemplateOneTime  = "one_time"
	TemplateLongTerm = "long_term"
)

// Template statuses.
const (
	TemplateActive  = "active"
	TemplateDeleted = "deleted" // gone from WeChat (deleted upstream or here)
)

// Template sources.
const (
	SourceSync    = "sync"
	SourceLibrary = "library"
	SourceManual  = "manual"
)

// TemplateKeyword is one keyword of a template as stored.
type TemplateKeyword struct {
	Label string   `json:"label"`
	Key   string   `json:"key"`  // data key, e.g. "thing1"
	Type  string   `json:"type"` // value type, e.g. "thing"
	Enum  []string `json:"enum,omitempty"`
}

// Template is one private template (priTmplId) of an app.
type Template struct {
	ID          int64
	AppID       int64 `gorm:"column:app_id"`
	TemplateID  string
	Title       string
	Content     string
	Example     string
	Kind        string // one_time | long_term
	Keywords    string // JSON []TemplateKeyword
	Status      string
	Source      string
	ContentHash string
	SyncedAt    *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// KeywordList decodes the stored keywords.
func (t *Template) KeywordList() ([]TemplateKeyword, error) {
	var out []TemplateKeyword
	if t.Keywords == "" {
		return nil, nil
	}
	err := json.Unmarshal([]byte(t.Keywords), &out)
	return out, err
}

// WeChat returns the keyword as the wechat package's value rules take it.
func (k TemplateKeyword) WeChat() wechat.Keyword {
	return wechat.Keyword{Label: k.Label, Key: k.Key, Type: k.Type, Enum: k.Enum}
}

// WeChatKeywords returns the keywords as the value rules take them.
func (t *Template) WeChatKeywords() ([]wechat.Keyword, error) {
	kws, err := t.KeywordList()
	out := make([]wechat.Keyword, len(kws))
	for i, k := range kws {
		out[i] = k.WeChat()
	}
	return out, err
}

// SetKeywords encodes keywords and refreshes the content hash (title,
// content, kind and keywords: what a change upstream would alter).
func (t *Template) SetKeywords(kws []TemplateKeyword) {
	if kws == nil {
		kws = []TemplateKeyword{}
	}
	b, _ := json.Marshal(kws)
	t.Keywords = string(b)
	sum := sha256.Sum256([]byte(t.Title + "\x00" + t.Content + "\x00" + t.Kind + "\x00" + t.Keywords))
	t.ContentHash = hex.EncodeToString(sum[:8])
}

// LongTerm tells whether sends need no credit.
func (t *Template) LongTerm() bool { return t.Kind == TemplateLongTerm }

// GetTemplate loads a template by row id.
func GetTemplate(ctx context.Context, db *gorm.DB, id int64) (*Template, error) {
	var t Template
	if err := db.WithContext(ctx).First(&t, id).Error; err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// GetTemplateByWxID loads an app's template by its WeChat template id.
func GetTemplateByWxID(ctx context.Context, db *gorm.DB, appID int64, wxID string) (*Template, error) {
	var t Template
	if err := db.WithContext(ctx).Where("app_id = ? AND template_id = ?", appID, wxID).First(&t).Error; err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// TemplateFilter narrows ListTemplates.
type TemplateFilter struct {
	AppID  int64
	Kind   string
	Status string
}

// ListTemplates returns templates, newest first (template lists are small:
// WeChat caps an account at a few dozen).
func ListTemplates(ctx context.Context, db *gorm.DB, f TemplateFilter) ([]Template, error) {
	q := db.WithContext(ctx).Model(&Template{})
	if f.AppID != 0 {
		q = q.Where("app_id = ?", f.AppID)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	var out []Template
	err := q.Order("id DESC").Limit(500).Find(&out).Error
	return out, err
}

// CreateTemplate inserts a template.
func CreateTemplate(ctx context.Context, db *gorm.DB, t *Template) error {
	if t.Status == "" {
		t.Status = TemplateActive
	}
	if t.Keywords == "" {
		t.SetKeywords(nil)
	}
	return translate(db.WithContext(ctx).Create(t).Error)
}

// ReenterTemplate brings back a deleted template of t's app with t's
// template id, as t gives it (title, content, kind, keywords, source): the
// id is unique per app, so entering it again by hand after a delete would
// otherwise be refused for ever. ok is false when there is no such deleted
// template (a live one holds the id). t gets the row's id.
func ReenterTemplate(ctx context.Context, db *gorm.DB, t *Template) (ok bool, err error) {
	var old Template
	err = db.WithContext(ctx).Where("app_id = ? AND template_id = ? AND status = ?", t.AppID, t.TemplateID, TemplateDeleted).First(&old).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	res := db.WithContext(ctx).Model(&Template{}).Where("id = ? AND status = ?", old.ID, TemplateDeleted).Updates(map[string]any{
		"title": t.Title, "content": t.Content, "kind": t.Kind, "keywords": t.Keywords, "source": t.Source,
		"status": TemplateActive, "updated_at": time.Now().UTC()})
	if res.Error != nil || res.RowsAffected != 1 {
		return false, res.Error
	}
	t.ID = old.ID
	return true, nil
}

// CountTemplatesByApp counts live templates per app row id.
func CountTemplatesByApp(ctx context.Context, db *gorm.DB) (map[int64]int64, error) {
	var rows []struct {
		AppID int64
		N     int64
	}
	err := db.WithContext(ctx).Model(&Template{}).Select("app_id, COUNT(*) AS n").
		Where("status <> ?", TemplateDeleted).Group("app_id").Scan(&rows).Error
	out := make(map[int64]int64, len(rows))
	for _, r := range rows {
		out[r.AppID] = r.N
	}
	return out, err
}
