package sandbox

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/minipush/minipush/wechat"
)

// ---- tokens ----

type stableTokenReq struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

func (s *Server) writeToken(w http.ResponseWriter, t *tokenInfo, now time.Time) {
	left := (t.expiresAt.Load() - now.UnixNano()) / int64(time.Second)
	buf := make([]byte, 0, 200)
	buf = append(buf, `{"access_token":"`...)
	buf = append(buf, t.value...)
	buf = append(buf, `","expires_in":`...)
	buf = strconv.AppendInt(buf, left, 10)
	buf = append(buf, '}')
	writeJSON(w, buf)
}

// checkCredentials returns the app for appid/secret or an errcode.
func (s *Server) checkCredentials(grantType, appid, secret string, wrongSecret int, wrongSecretMsg string) (*app, int, string) {
	if grantType != "client_credential" {
		return nil, wechat.CodeInvalidGrantType, "invalid grant_type"
	}
	a := s.app(appid)
	if a == nil {
		return nil, wechat.CodeInvalidAppID, "invalid appid"
	}
	if secret != a.cfg.Load().Secret {
		return nil, wrongSecret, wrongSecretMsg
	}
	return a, 0, ""
}

// handleStableToken: POST /cgi-bin/stable_token. Normal mode returns the
// current token while it has more than 5 minutes left, then a new one (the
// old one keeps working until it expires). force_refresh revokes the
// current token at once; at most 20 a day, 30 s apart.
func (s *Server) handleStableToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.writeErr(w, wechat.CodeWrongMethod, "method not allowed, use POST")
		return
	}
	body, err := readBody(r, 1<<16)
	if err != nil || len(body) == 0 {
		s.writeErr(w, wechat.CodeEmptyBody, "empty post data")
		return
	}
	var req stableTokenReq
	if err := json.Unmarshal(body, &req); err != nil {
		s.writeErr(w, wechat.CodeBadJSON, "data format error")
		return
	}
	a, code, msg := s.checkCredentials(req.GrantType, req.AppID, req.Secret, wechat.CodeInvalidAppSecret, "invalid appsecret")
	if code != 0 {
		s.writeErr(w, code, msg)
		return
	}
	a.stableCalls.Add(1)
	now := s.now()
	n := now.UnixNano()
	a.tokMu.Lock()
	defer a.tokMu.Unlock()
	cur := a.stableCur
	if req.ForceRefresh {
		day := chinaDay(now)
		count := 0
		for _, t := range a.forceTimes {
			if chinaDay(t) == day {
				count++
			}
		}
		if len(a.forceTimes) > 0 && now.Sub(a.forceTimes[len(a.forceTimes)-1]) < 30*time.Second {
			s.writeErr(w, wechat.CodeTooFrequent, "api minute-quota reach limit, force_refresh at most once per 30 seconds")
			return
		}
		if count >= 20 {
			s.writeErr(w, wechat.CodeDailyQuota, "reach max api daily quota limit")
			return
		}
		a.forceTimes = append(a.forceTimes, now)
		if cur != nil {
			cur.revokedAt.Store(n)
		}
		cur = nil
	}
	if cur == nil || !cur.usable(n) || cur.expiresAt.Load()-n <= int64(5*time.Minute) {
		cur = s.mintLocked(a, now)
		a.stableCur = cur
	}
	s.writeToken(w, cur, now)
}

// handleToken: GET /cgi-bin/token. Every call mints a new token; the
// previous one keeps working for 5 more minutes. Separate from stable_token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		s.writeErr(w, wechat.CodeWrongMethod, "method not allowed, use GET")
		return
	}
	q := r.URL.Query()
	a, code, msg := s.checkCredentials(q.Get("grant_type"), q.Get("appid"), q.Get("secret"),
		wechat.CodeInvalidCredential, "invalid credential, AppSecret error or access_token is invalid")
	if code != 0 {
		s.writeErr(w, code, msg)
		return
	}
	a.legacyCalls.Add(1)
	now := s.now()
	a.tokMu.Lock()
	defer a.tokMu.Unlock()
	if old := a.legacyCur; old != nil {
		grace := now.Add(5 * time.Minute).UnixNano()
		if old.revokedAt.Load() == 0 && grace < old.expiresAt.Load() {
			old.revokedAt.Store(grace)
		}
	}
	t := s.mintLocked(a, now)
	a.legacyCur = t
	s.writeToken(w, t, now)
}

// ---- send ----

var okPrefix = []byte(`{"errcode":0,"errmsg":"ok","msgid":`)

// handleSend: POST /cgi-bin/message/subscribe/send. Checks in WeChat's
// order: token → faults/quota → openid → template → page → every keyword
// → credit → no send in flight to this user → spend, count, answer msgid,
// push subscribe_msg_sent_event.
func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	n := now.UnixNano()
	a, code, msg := s.checkToken(queryValue(r.URL.RawQuery, "access_token"), n)
	if code != 0 {
		if code == wechat.CodeInvalidCredential || code == wechat.CodeTokenExpired {
			s.refusedToken.Add(1)
		}
		s.writeErr(w, code, msg)
		return
	}
	if r.Method != http.MethodPost {
		s.writeErr(w, wechat.CodeWrongMethod, "method not allowed, use POST")
		return
	}
	f := a.faults.Load()
	if f != nil && f.CutBeforeCountRate > 0 && rand.Float64() < f.CutBeforeCountRate {
		// Lost on WeChat's side before it did anything with it.
		s.injectedEarly.Add(1)
		panic(http.ErrAbortHandler)
	}
	if f != nil && f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
		s.injectedErrors.Add(1)
		s.writeErr(w, wechat.CodeBusy, "system error")
		return
	}
	a.rollQuota(now)
	limit := a.dailyLimit(s)
	if a.used.Load() >= limit {
		s.refusedQuota.Add(1)
		s.writeErr(w, wechat.CodeDailyQuota, "reach max api daily quota limit")
		return
	}
	body, err := readBody(r, 1<<20)
	if err != nil || len(body) == 0 {
		s.writeErr(w, wechat.CodeEmptyBody, "empty post data")
		return
	}
	var req sendBody
	if err := decodeSendBody(body, &req); err != nil {
		s.writeErr(w, wechat.CodeBadJSON, "data format error")
		return
	}
	var u userRef
	found := false
	if req.ToUser != "" {
		u, found = a.user(req.ToUser)
	}
	if !found {
		s.writeErr(w, wechat.CodeInvalidOpenID, "invalid openid")
		return
	}
	t := a.template(req.TemplateID)
	if t == nil {
		s.writeErr(w, wechat.CodeInvalidTemplateID, "invalid template_id")
		return
	}
	if t.banned.Load() {
		s.writeErr(w, wechat.CodeSubscribeBanned, "subscribe message banned for this template")
		return
	}
	if req.Page != "" {
		if pages := a.cfg.Load().Pages; len(pages) > 0 {
			path, _, _ := strings.Cut(req.Page, "?")
			found := false
			for _, p := range pages {
				if p == path {
					found = true
					break
				}
			}
			if !found {
				s.writeErr(w, wechat.CodeInvalidPage, "invalid page")
				return
			}
		}
	}
	switch req.MiniprogramState {
	case "", wechat.StateDeveloper, wechat.StateTrial, wechat.StateFormal:
	default:
		s.writeErr(w, wechat.CodeArgumentInvalid, "argument invalid! miniprogram_state invalid")
		return
	}
	switch req.Lang {
	case "", "zh_CN", "en_US", "zh_HK", "zh_TW":
	default:
		s.writeErr(w, wechat.CodeArgumentInvalid, "argument invalid! lang invalid")
		return
	}
	for _, kw := range t.kws {
		v, ok := req.value(kw.Key)
		if !ok || strings.TrimSpace(v) == "" {
			s.writeErr(w, wechat.CodeArgumentInvalid, "argument invalid! data."+kw.Key+".value is empty")
			return
		}
		if err := s.rules.Check(kw, v); err != nil {
			s.writeErr(w, wechat.CodeArgumentInvalid, "argument invalid! data."+kw.Key+".value invalid")
			return
		}
		for _, word := range s.opts.SensitiveWords {
			if word != "" && strings.Contains(v, word) {
				s.writeErr(w, wechat.CodeSensitiveContent, "content has sensitive words")
				return
			}
		}
	}

	longTerm := t.Type == wechat.TemplateLongTerm
	u.sh.mu.Lock()
	sb := u.sh.subLocked(u.i, t.sid, false)
	if sb == nil || (longTerm && !sb.longTerm) || (!longTerm && sb.credits <= 0) {
		u.sh.mu.Unlock()
		s.writeErr(w, wechat.CodeUserRefused, "user refuse to accept the msg")
		return
	}
	if u.sh.users[u.i].inFlight {
		u.sh.mu.Unlock()
		s.writeErr(w, wechat.CodeConcurrentSend, "concurrent send to the same user, retry later")
		return
	}
	if !a.reserveQuota(limit) {
		u.sh.mu.Unlock()
		s.refusedQuota.Add(1)
		s.writeErr(w, wechat.CodeDailyQuota, "reach max api daily quota limit")
		return
	}
	if !longTerm {
		sb.credits--
	}
	sb.accepted++
	u.sh.users[u.i].inFlight = true
	u.sh.mu.Unlock()
	s.accepted.Add(1)
	msgID := s.msgBase + s.msgSeq.Add(1)

	s.pushSent(a, req.ToUser, t.PriTmplID, msgID, f, now)

	if f != nil && f.Latency > 0 {
		timer := time.NewTimer(f.Latency)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
		}
	}
	u.sh.mu.Lock()
	u.sh.users[u.i].inFlight = false
	u.sh.mu.Unlock()

	if f != nil && f.TimeoutAfterCountRate > 0 && rand.Float64() < f.TimeoutAfterCountRate {
		// Counted and pushed, but the caller never hears back.
		s.injectedCuts.Add(1)
		panic(http.ErrAbortHandler)
	}
	buf := make([]byte, 0, 64)
	buf = append(buf, okPrefix...)
	buf = strconv.AppendInt(buf, msgID, 10)
	buf = append(buf, '}')
	writeJSON(w, buf)
}

func (s *Server) pushSent(a *app, openid, tplID string, msgID int64, f *Faults, now time.Time) {
	pc := a.push.Load()
	if pc == nil || pc.url == "" {
		return
	}
	item := wechat.EventItem{TemplateID: tplID, MsgID: msgID, ErrorStatus: "success"}
	if f != nil && f.SentEventFailRate > 0 && rand.Float64() < f.SentEventFailRate {
		item.ErrorCode, item.ErrorStatus = wechat.CodeSentUserBlock, "fail:user block"
	}
	s.pusher.enqueue(a, &wechat.Event{
		ToUserName:   a.cfg.Load().OriginalID,
		FromUserName: openid,
		CreateTime:   now.Unix(),
		MsgType:      "event",
		Event:        wechat.EventSent,
		List:         []wechat.EventItem{item},
	})
}

// ---- quota ----

func (s *Server) handleQuota(w http.ResponseWriter, r *http.Request) {
	a, code, msg := s.checkToken(queryValue(r.URL.RawQuery, "access_token"), s.now().UnixNano())
	if code != 0 {
		s.writeErr(w, code, msg)
		return
	}
	if r.Method != http.MethodPost {
		s.writeErr(w, wechat.CodeWrongMethod, "method not allowed, use POST")
		return
	}
	body, err := readBody(r, 1<<16)
	if err != nil || len(body) == 0 {
		s.writeErr(w, wechat.CodeEmptyBody, "empty post data")
		return
	}
	var req struct {
		CGIPath string `json:"cgi_path"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.writeErr(w, wechat.CodeBadJSON, "data format error")
		return
	}
	var limit, used int64
	switch req.CGIPath {
	case wechat.PathSend:
		a.rollQuota(s.now())
		limit, used = a.dailyLimit(s), a.used.Load()
	case wechat.PathStableToken:
		limit, used = 500000, a.stableCalls.Load()
	case wechat.PathToken:
		limit, used = 2000, a.legacyCalls.Load()
	default:
		s.writeErr(w, 76021, "cgi_path not found, please check")
		return
	}
	remain := max(limit-used, 0)
	out := map[string]any{"errcode": 0, "errmsg": "ok", "quota": map[string]int64{"daily_limit": limit, "used": used, "remain": remain}}
	b, _ := json.Marshal(out)
	writeJSON(w, b)
}
