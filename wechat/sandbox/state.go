package sandbox

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minipush/minipush/wechat"
)

// AppConfig registers a mini program with the sandbox.
type AppConfig struct {
	AppID  string `json:"appid"`
	Secret string `json:"secret"`
	// OriginalID is the gh_ id pushed as ToUserName; default derived from
	// the AppID.
	OriginalID string `json:"original_id,omitempty"`
	// PushURL receives the app's events; empty: no pushes.
	PushURL        string `json:"push_url,omitempty"`
	PushToken      string `json:"push_token,omitempty"`
	EncodingAESKey string `json:"encoding_aes_key,omitempty"`
	// Safe encrypts pushes (safe mode); needs EncodingAESKey.
	Safe bool `json:"safe,omitempty"`
	// Format of pushes: "json" (default) or "xml".
	Format string `json:"format,omitempty"`
	// Pages are the pages of the released version; when set, a send whose
	// page (without its query) is not one of them fails with 41030.
	Pages []string `json:"pages,omitempty"`
}

// Faults make an app misbehave like WeChat on a bad day.
type Faults struct {
	// ErrorRate is the share of sends (0..1) answered -1 "system error"
	// before anything is checked or counted.
	ErrorRate float64 `json:"error_rate"`
	// Latency delays every send while it is in flight (so concurrent sends
	// to one user meet 43108).
	Latency time.Duration `json:"-"`
	// TimeoutAfterCountRate is the share of sends (0..1) that are accepted
	// and counted (credit spent, sent event pushed) but whose connection is
	// then cut without an answer: the client sees a timeout/reset after
	// writing its request, an outcome-unknown send.
	TimeoutAfterCountRate float64 `json:"timeout_after_count_rate"`
	// DailyQuota replaces the app's daily send quota (45009 beyond it);
	// 0 keeps Options.DailyQuota.
	DailyQuota int64 `json:"daily_quota"`
	// SentEventFailRate is the share of accepted sends whose
	// subscribe_msg_sent_event reports a failure (ErrorCode 10005,
	// ErrorStatus "fail:user block"; the code is the sandbox's choice).
	SentEventFailRate float64 `json:"sent_event_fail_rate"`
}

type pushConfig struct {
	url    string
	push   *wechat.Push
	safe   bool
	format wechat.Format
}

type app struct {
	cfg  atomic.Pointer[AppConfig]
	push atomic.Pointer[pushConfig]

	faults atomic.Pointer[Faults]

	// tokens
	tokMu       sync.Mutex
	stableCur   *tokenInfo
	legacyCur   *tokenInfo
	all         []*tokenInfo
	forceTimes  []time.Time
	stableCalls atomic.Int64
	legacyCalls atomic.Int64

	// templates: copy-on-write, read lock-free on the send path
	tmplMu    sync.Mutex
	templates atomic.Pointer[map[string]*tmpl]

	users [userShards]userShard

	// daily quota
	quotaMu  sync.Mutex
	quotaDay atomic.Int64
	used     atomic.Int64
}

type tmpl struct {
	wechat.Template
	kws    []wechat.Keyword
	tid    int64
	kids   []int64
	banned atomic.Bool
}

const userShards = 64

type userShard struct {
	mu sync.RWMutex
	m  map[string]*user
}

type user struct {
	openid string
	mu     sync.Mutex
	// inFlight counts sends to this user being processed (43108).
	inFlight int
	subs     map[string]*sub // template id →
}

type sub struct {
	credits  int   // one-time credits left
	longTerm bool  // long-term subscription on
	accepted int64 // messages accepted (sends answered ok or cut after counting)
	accepts  int64 // accepts received (popup / grant)
	rejects  int64 // rejects received (popup / settings)
}

type tokenInfo struct {
	value string
	app   *app
	// expiresAt and revokedAt are UnixNano; revokedAt 0 means not revoked.
	// After revokedAt the token answers 40001, after expiresAt 42001.
	expiresAt atomic.Int64
	revokedAt atomic.Int64
}

var seed = maphash.MakeSeed()

func (a *app) shard(openid string) *userShard {
	return &a.users[maphash.String(seed, openid)%userShards]
}

func (a *app) user(openid string) *user {
	sh := a.shard(openid)
	sh.mu.RLock()
	u := sh.m[openid]
	sh.mu.RUnlock()
	return u
}

func (a *app) addUser(openid string) *user {
	sh := a.shard(openid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if u := sh.m[openid]; u != nil {
		return u
	}
	if sh.m == nil {
		sh.m = make(map[string]*user)
	}
	u := &user{openid: openid, subs: make(map[string]*sub)}
	sh.m[openid] = u
	return u
}

func (a *app) template(id string) *tmpl {
	m := a.templates.Load()
	if m == nil {
		return nil
	}
	return (*m)[id]
}

func (a *app) templateCount() int {
	if m := a.templates.Load(); m != nil {
		return len(*m)
	}
	return 0
}

// putTemplate adds or replaces t (copy-on-write).
func (a *app) putTemplate(t *tmpl) {
	a.tmplMu.Lock()
	defer a.tmplMu.Unlock()
	a.putTemplateLocked(t)
}

func (a *app) putTemplateLocked(t *tmpl) {
	next := make(map[string]*tmpl)
	if m := a.templates.Load(); m != nil {
		for k, v := range *m {
			next[k] = v
		}
	}
	next[t.PriTmplID] = t
	a.templates.Store(&next)
}

func (a *app) delTemplate(id string) bool {
	a.tmplMu.Lock()
	defer a.tmplMu.Unlock()
	m := a.templates.Load()
	if m == nil || (*m)[id] == nil {
		return false
	}
	next := make(map[string]*tmpl, len(*m))
	for k, v := range *m {
		if k != id {
			next[k] = v
		}
	}
	a.templates.Store(&next)
	return true
}

func (a *app) sortedTemplates() []*tmpl {
	m := a.templates.Load()
	if m == nil {
		return nil
	}
	ts := make([]*tmpl, 0, len(*m))
	for _, t := range *m {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].PriTmplID < ts[j].PriTmplID })
	return ts
}

func (a *app) dailyLimit(s *Server) int64 {
	if f := a.faults.Load(); f != nil && f.DailyQuota > 0 {
		return f.DailyQuota
	}
	return s.opts.DailyQuota
}

// rollQuota resets the used count when the China-time day changed.
func (a *app) rollQuota(now time.Time) {
	d := chinaDay(now)
	if a.quotaDay.Load() == d {
		return
	}
	a.quotaMu.Lock()
	if a.quotaDay.Load() != d {
		a.used.Store(0)
		a.quotaDay.Store(d)
	}
	a.quotaMu.Unlock()
}

// reserveQuota takes one unit of today's quota, false when none is left.
func (a *app) reserveQuota(limit int64) bool {
	for {
		u := a.used.Load()
		if u >= limit {
			return false
		}
		if a.used.CompareAndSwap(u, u+1) {
			return true
		}
	}
}

func (s *Server) app(appid string) *app {
	s.appsMu.RLock()
	a := s.apps[appid]
	s.appsMu.RUnlock()
	return a
}

var errNoApp = errors.New("sandbox: unknown appid")

func (s *Server) mustApp(appid string) (*app, error) {
	if a := s.app(appid); a != nil {
		return a, nil
	}
	return nil, fmt.Errorf("%w %q", errNoApp, appid)
}

// token minting

const tokenChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = tokenChars[b[i]&63]
	}
	return string(b)
}

// mintLocked creates a token for a (a.tokMu held) and drops the app's
// tokens that have expired.
func (s *Server) mintLocked(a *app, now time.Time) *tokenInfo {
	t := &tokenInfo{value: "94_" + randomString(120), app: a}
	t.expiresAt.Store(now.Add(s.opts.TokenTTL).UnixNano())
	s.tokens.Store(t.value, t)
	keep := a.all[:0]
	n := now.UnixNano()
	for _, old := range a.all {
		if old.expiresAt.Load() <= n-int64(time.Hour) { // keep recent ones to answer 42001
			s.tokens.Delete(old.value)
			continue
		}
		keep = append(keep, old)
	}
	a.all = append(keep, t)
	return t
}

// usable reports whether t can be used at now (not revoked nor expired).
func (t *tokenInfo) usable(now int64) bool {
	r := t.revokedAt.Load()
	return (r == 0 || now < r) && now < t.expiresAt.Load()
}

// checkToken returns the app of a valid token, or an errcode and errmsg.
func (s *Server) checkToken(value string, now int64) (*app, int, string) {
	if value == "" {
		return nil, wechat.CodeMissingToken, "access_token missing"
	}
	v, ok := s.tokens.Load(value)
	if !ok {
		if len(value) < 32 {
			return nil, wechat.CodeInvalidToken, "invalid access_token"
		}
		return nil, wechat.CodeInvalidCredential, "invalid credential, access_token is invalid or not latest"
	}
	t := v.(*tokenInfo)
	if r := t.revokedAt.Load(); r != 0 && now >= r {
		return nil, wechat.CodeInvalidCredential, "invalid credential, access_token is invalid or not latest"
	}
	if now >= t.expiresAt.Load() {
		return nil, wechat.CodeTokenExpired, "access_token expired"
	}
	return t.app, 0, ""
}
