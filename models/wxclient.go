package models

import (
	"net/http"

	"gorm.io/gorm"

	"github.com/minipush/minipush/wechat"
)

// WeChatClient builds the WeChat API client for an app: its secret is
// unsealed, its base URL honoured (WeChat when empty), and tokens are
// cached in the shared access_tokens table.
func WeChatClient(db *gorm.DB, sealer *Sealer, a *App, hc *http.Client) (*wechat.Client, error) {
	secret, err := sealer.Open(a.SecretEnc)
	if err != nil {
		return nil, err
	}
	return wechat.NewClient(wechat.Config{AppID: a.AppID, Secret: secret, BaseURL: a.APIBaseURL, HTTPClient: hc,
		Store: &TokenStore{DB: db, Sealer: sealer}}), nil
}
