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
	// Compatible sends the plaintext message and the encrypted one in the
	// same body (WeChat's compatible mode, 兼容模式); needs EncodingAESKey.
	Compatible bool `json:"compatible,omitempty"`
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
	// CutBeforeCountRate is the share of sends (0..1) whose connection is
	// cut once the request has arrived, before anything is checked or
	// counted: the client sees a reset after writing its request (an
	// outcome-unknown send), and no message, credit or push exists.
	CutBeforeCountRate float64 `json:"cut_before_count_rate"`
	// DailyQuota replaces the app's daily send quota (45009 beyond it);
	// 0 keeps Options.DailyQuota.
	DailyQuota int64 `json:"daily_quota"`
	// SentEventFailRate is the share of accepted sends whose
	// subscribe_msg_sent_event reports a failure (ErrorCode 10005,
	// ErrorStatus "fail:user block"; the code is the sandbox's choice).
	SentEventFailRate float64 `json:"sent_event_fail_rate"`
	// PushRepeatRate is the share of pushes (0..1) WeChat sends again as
	// if it had not heard the answer: the same event (same CreateTime,
	// same msgid) PushRepeats more times, each copy after its own random
	// delay up to PushJitter (a push storm: duplicates, out of order).
	PushRepeatRate float64 `json:"push_repeat_rate"`
	// PushRepeats is how many copies a repeated push gets (1..10; 0: 1).
	PushRepeats int `json:"push_repeats"`
	// PushJitter delays every push (originals and copies) by a random
	// time up to it before its first try, so pushes arrive out of order.
	PushJitter time.Duration `json:"-"`
}

type pushConfig struct {
	url    string
	push   *wechat.Push
	safe   bool
	compat bool
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

	// interned template ids of subscriptions (see internTpl)
	tplIDMu  sync.Mutex
	tplIDs   map[string]uint32
	tplNames []string

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
	sid    uint32 // interned PriTmplID (app.internTpl)
}

// Users are kept compactly so a million of them fit in a few tens of MB
// and cost the garbage collector nothing to scan: each shard holds its
// users in one slice of fixed-size records without pointers, their openids
// back to back in one byte arena, and an open-addressing table (linear
// probing) of record numbers keyed by the openid's hash. A user's first
// subscription lives in its record; further ones (rare) in a map of the
// shard. Template ids are interned per app as small integers. One mutex per
// shard guards its users: every critical section is a few field updates.
const userShards = 256

// maxOpenIDLen bounds an openid (WeChat's are 28 bytes).
const maxOpenIDLen = 1024

type userShard struct {
	mu    sync.Mutex
	slots []uint32 // 1 + user index, 0: empty; len is a power of two
	arena []byte   // openids, back to back
	users []user
	more  map[uint32][]sub // user index → subscriptions beyond the first
}

type user struct {
	off uint32 // openid = arena[off : off+n]
	n   uint16
	// inFlight: a send to this user is being processed (another one gets
	// 43108). Sends are checked and marked under the shard's lock, so
	// there is never more than one.
	inFlight bool
	sub      sub // the first subscription (tpl 0: none yet)
}

type sub struct {
	tpl      uint32 // interned template id (app.internTpl); 0: unused
	credits  int32  // one-time credits left
	accepted uint32 // messages accepted (sends answered ok or cut after counting)
	accepts  uint32 // accepts received (popup / grant)
	rejects  uint32 // rejects received (popup / settings)
	longTerm bool   // long-term subscription on
}

// userRef names a user: its shard and index there.
type userRef struct {
	sh *userShard
	i  uint32
}

func (sh *userShard) openid(u *user) string { return string(sh.arena[u.off : u.off+uint32(u.n)]) }

// slot is where probing for hash h starts (the low bits chose the shard).
func slot(h uint64, mask int) int { return int(h>>8) & mask }

// findLocked returns 1 + the index of openid (hash h), 0 when unknown.
func (sh *userShard) findLocked(h uint64, openid string) uint32 {
	if len(sh.slots) == 0 {
		return 0
	}
	mask := len(sh.slots) - 1
	for j := slot(h, mask); ; j = (j + 1) & mask {
		v := sh.slots[j]
		if v == 0 {
			return 0
		}
		u := &sh.users[v-1]
		if string(sh.arena[u.off:u.off+uint32(u.n)]) == openid {
			return v
		}
	}
}

// addLocked adds an unknown openid (hash h) and returns its index.
func (sh *userShard) addLocked(h uint64, openid string) uint32 {
	if (len(sh.users)+1)*4 > len(sh.slots)*3 { // keep the table at most 3/4 full
		sh.growLocked()
	}
	i := uint32(len(sh.users))
	sh.users = append(sh.users, user{off: uint32(len(sh.arena)), n: uint16(len(openid))})
	sh.arena = append(sh.arena, openid...)
	sh.placeLocked(h, i)
	return i
}

func (sh *userShard) placeLocked(h uint64, i uint32) {
	mask := len(sh.slots) - 1
	j := slot(h, mask)
	for sh.slots[j] != 0 {
		j = (j + 1) & mask
	}
	sh.slots[j] = i + 1
}

func (sh *userShard) growLocked() {
	sh.slots = make([]uint32, max(2*len(sh.slots), 16))
	for i := range sh.users {
		u := &sh.users[i]
		sh.placeLocked(maphash.Bytes(seed, sh.arena[u.off:u.off+uint32(u.n)]), uint32(i))
	}
}

// subLocked returns the user's subscription to template tpl; when it has
// none, a new one if create, else nil. The pointer is valid until the
// shard's lock is released.
func (sh *userShard) subLocked(i, tpl uint32, create bool) *sub {
	u := &sh.users[i]
	if u.sub.tpl == tpl {
		return &u.sub
	}
	if u.sub.tpl == 0 {
		if !create {
			return nil
		}
		u.sub = sub{tpl: tpl}
		return &u.sub
	}
	more := sh.more[i]
	for j := range more {
		if more[j].tpl == tpl {
			return &more[j]
		}
	}
	if !create {
		return nil
	}
	if sh.more == nil {
		sh.more = make(map[uint32][]sub)
	}
	more = append(more, sub{tpl: tpl})
	sh.more[i] = more
	return &more[len(more)-1]
}

// subsLocked calls fn with each subscription the user has.
func (sh *userShard) subsLocked(i uint32, fn func(*sub)) {
	u := &sh.users[i]
	if u.sub.tpl == 0 {
		return
	}
	fn(&u.sub)
	for j := range sh.more[i] {
		fn(&sh.more[i][j])
	}
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

func (a *app) shard(openid string) (*userShard, uint64) {
	h := maphash.String(seed, openid)
	return &a.users[h%userShards], h
}

// user finds a user; ok is false when the openid is unknown.
func (a *app) user(openid string) (userRef, bool) {
	sh, h := a.shard(openid)
	sh.mu.Lock()
	i := sh.findLocked(h, openid)
	sh.mu.Unlock()
	return userRef{sh, i - 1}, i != 0
}

// addUser returns the user, added if unknown.
func (a *app) addUser(openid string) (userRef, error) {
	if openid == "" {
		return userRef{}, errors.New("sandbox: empty openid")
	}
	if len(openid) > maxOpenIDLen {
		return userRef{}, fmt.Errorf("sandbox: openid longer than %d bytes", maxOpenIDLen)
	}
	sh, h := a.shard(openid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i := sh.findLocked(h, openid); i != 0 {
		return userRef{sh, i - 1}, nil
	}
	return userRef{sh, sh.addLocked(h, openid)}, nil
}

// internTpl returns the small integer standing for a template id in the
// users' subscriptions (never 0; the same id always gets the same number).
func (a *app) internTpl(id string) uint32 {
	a.tplIDMu.Lock()
	defer a.tplIDMu.Unlock()
	if n := a.tplIDs[id]; n != 0 {
		return n
	}
	if a.tplIDs == nil {
		a.tplIDs = make(map[string]uint32)
	}
	a.tplNames = append(a.tplNames, id)
	n := uint32(len(a.tplNames))
	a.tplIDs[id] = n
	return n
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
	t.sid = a.internTpl(t.PriTmplID)
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
