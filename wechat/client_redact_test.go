package wechat

import (
	"context"
	"errors"
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

// 502 and 503 mean no backend took the send: retry it. 500 and 504 may
// follow a send WeChat acted on: never resend blindly.
func TestGatewayErrorsClassified(t *testing.T) {
	for code, wantUnknown := range map[int]bool{500: true, 502: false, 503: false, 504: true} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "stable_token") {
				_, _ = w.Write([]byte(`{"access_token":"T","expires_in":7200}`))
				return
			}
			w.WriteHeader(code)
		}))
		c := NewClient(Config{AppID: "wx1", Secret: "s", BaseURL: srv.URL})
		_, err := c.Send(context.Background(), SendRequest{ToUser: "o", TemplateID: "t", Data: map[string]string{"thing1": "x"}})
		srv.Close()
		if errors.Is(err, ErrOutcomeUnknown) != wantUnknown {
			t.Errorf("HTTP %d: outcome unknown = %v, want %v (%v)", code, !wantUnknown, wantUnknown, err)
		}
		class, _ := Classify(err)
		if !wantUnknown && class != ClassTransient {
			t.Errorf("HTTP %d: class %v, want transient", code, class)
		}
	}
}
