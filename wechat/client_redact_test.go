package wechat

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A transport error must not carry the access token (or a secret in a
// query) into messages, logs or the database.
func TestTransportErrorsDoNotLeakCredentials(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	store := NewMemoryTokenStore()
	_ = store.Put(context.Background(), "wx1", Token{Value: "SECRET-ACCESS-TOKEN-123", ExpiresAt: time.Now().Add(time.Hour)})
	c := NewClient(Config{AppID: "wx1", Secret: "s", BaseURL: srv.URL, Store: store, HTTPClient: &http.Client{Timeout: 200 * time.Millisecond}})
	_, err := c.GetTemplates(context.Background())
	if err == nil {
		t.Fatal("want a timeout")
	}
	if strings.Contains(err.Error(), "SECRET-ACCESS-TOKEN-123") {
		t.Fatalf("error leaks the token: %v", err)
	}
	if !strings.Contains(err.Error(), "gettemplate") {
		t.Fatalf("error no longer names the call: %v", err)
	}
}
