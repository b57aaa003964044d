package models

import (
	"net/http"

	"gorm.io/gorm"

	"github.com/minipush/minipush/wechat"
)

// WeChatClient builds the WeChat API client for an app: its secret is
// unsealed, its base URL honoured (WeChat when empty), and tokens are
// cached in the shared access_tokens table. opts may adjust the config
// (the engine sets its clock and counts token refreshes).
func WeChatClient(db *gorm.DB, sealer *Sealer, a *App, hc *http.Client, opts ...func(*wechat.Config)) (*wechat.Client, error) {
	secret, err := sealer.Open(a.SecretEnc)
	if err != nil {
		return nil, err
	}
	cfg := wechat.Config{AppID: a.AppID, Secret: secret, BaseURL: a.APIBaseURL, HTTPClient: hc,
		Store: &TokenStore{DB: db, Sealer: sealer}}
	for _, o := range opts {
		o(&cfg)
	}
	return wechat.NewClient(cfg), nil
}
