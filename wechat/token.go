package wechat

import (
	"context"
	"sync"
	"time"
)

// Token is an access token with its expiry.
type Token struct {
	Value     string
	ExpiresAt time.Time
}

// TokenStore caches access tokens per AppID where every instance of the
// service can see them (models implements it on the access_tokens table).
// Implementations must be safe for concurrent use.
type TokenStore interface {
	// Get returns the cached token; ok is false when none is cached.
	Get(ctx context.Context, appID string) (t Token, ok bool, err error)
	// Put stores t as the app's token, replacing any other.
	Put(ctx context.Context, appID string, t Token) error
	// Invalidate drops the cached token only if it still equals value
	// (compare-and-swap), so an instance holding a stale failure cannot
	// knock out the fresh token another instance just stored.
	Invalidate(ctx context.Context, appID, value string) error
}

// MemoryTokenStore is a TokenStore in process memory, for tests, the
// sandbox and single-instance tools. The zero value is ready to use.
type MemoryTokenStore struct {
	mu sync.Mutex
	m  map[string]Token
}

// NewMemoryTokenStore returns an empty store.
func NewMemoryTokenStore() *MemoryTokenStore { return &MemoryTokenStore{} }

// Get implements TokenStore.
func (s *MemoryTokenStore) Get(_ context.Context, appID string) (Token, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[appID]
	return t, ok, nil
}

// Put implements TokenStore.
func (s *MemoryTokenStore) Put(_ context.Context, appID string, t Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]Token)
	}
	s.m[appID] = t
	return nil
}

// Invalidate implements TokenStore.
func (s *MemoryTokenStore) Invalidate(_ context.Context, appID, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.m[appID]; ok && t.Value == value {
		delete(s.m, appID)
	}
	return nil
}

// Token returns a valid access token for the app, from the in-process copy,
// then the shared store, then /cgi-bin/stable_token (normal mode). A token
// is used until RefreshBefore its expiry; concurrent callers of one Client
// share a single fetch.
func (c *Client) Token(ctx context.Context) (string, error) {
	if t := c.memo.Load(); t != nil && c.fresh(*t) {
		return t.Value, nil
	}
	return c.refresh(ctx, "")
}

// ForceRefreshToken calls stable_token with force_refresh=true, which
// invalidates the app's current token everywhere (at most 20 a day, 30 s
// apart). Use it only for a leaked or known-bad token.
func (c *Client) ForceRefreshToken(ctx context.Context) (string, error) {
	if err := c.lock(ctx); err != nil {
		return "", err
	}
	defer c.unlock()
	t, err := c.fetchStable(ctx, true)
	if err != nil {
		return "", err
	}
	c.memo.Store(&t)
	if err := c.cfg.Store.Put(ctx, c.cfg.AppID, t); err != nil {
		return t.Value, err
	}
	return t.Value, nil
}

func (c *Client) fresh(t Token) bool {
	return t.Value != "" && c.cfg.Now().Add(c.cfg.RefreshBefore).Before(t.ExpiresAt)
}

func (c *Client) lock(ctx context.Context) error {
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) unlock() { <-c.sem }

// refresh returns a fresh token different from bad ("" for none).
func (c *Client) refresh(ctx context.Context, bad string) (string, error) {
	if err := c.lock(ctx); err != nil {
		return "", err
	}
	defer c.unlock()
	// Another goroutine may have refreshed while we waited.
	if t := c.memo.Load(); t != nil && c.fresh(*t) && t.Value != bad {
		return t.Value, nil
	}
	st, ok, err := c.cfg.Store.Get(ctx, c.cfg.AppID)
	if err != nil {
		return "", err
	}
	if ok && c.fresh(st) && st.Value != bad {
		c.memo.Store(&st)
		return st.Value, nil
	}
	t, err := c.fetchStable(ctx, false)
	if err != nil {
		return "", err
	}
	c.memo.Store(&t)
	if err := c.cfg.Store.Put(ctx, c.cfg.AppID, t); err != nil {
		return "", err
	}
	return t.Value, nil
}

// invalidate drops bad from the in-process copy and (compare-and-swap) from
// the shared store.
func (c *Client) invalidate(ctx context.Context, bad string) error {
	if t := c.memo.Load(); t != nil && t.Value == bad {
		c.memo.CompareAndSwap(t, nil)
	}
	return c.cfg.Store.Invalidate(ctx, c.cfg.AppID, bad)
}

type stableTokenRequest struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

type tokenResponse struct {
	baseResponse
	AccessToken string  `json:"access_token"`
	ExpiresIn   FlexInt `json:"expires_in"`
}

func (c *Client) fetchStable(ctx context.Context, force bool) (Token, error) {
	start := c.cfg.Now()
	var out tokenResponse
	err := c.roundTrip(ctx, roundTripArgs{
		method:     "POST",
		path:       pathStableToken,
		body:       stableTokenRequest{"client_credential", c.cfg.AppID, c.cfg.Secret, force},
		idempotent: !force,
	}, &out)
	if err != nil {
		return Token{}, err
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return Token{}, &RequestError{API: pathStableToken, Written: true, Idempotent: true, Err: errBadTokenResponse}
	}
	return Token{Value: out.AccessToken, ExpiresAt: start.Add(time.Duration(out.ExpiresIn) * time.Second)}, nil
}
