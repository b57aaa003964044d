package sandbox

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/minipush/minipush/wechat"
)

// AddApp registers a mini program, or updates its configuration (users,
// templates, credits and tokens are kept).
func (s *Server) AddApp(cfg AppConfig) error {
	if cfg.AppID == "" || cfg.Secret == "" {
		return errors.New("sandbox: appid and secret are required")
	}
	if cfg.OriginalID == "" {
		id := strings.ToLower(strings.TrimPrefix(cfg.AppID, "wx"))
		for len(id) < 12 {
			id += "0"
		}
		cfg.OriginalID = "gh_" + id[:12]
	}
	switch cfg.Format {
	case "":
		cfg.Format = string(wechat.FormatJSON)
	case string(wechat.FormatJSON), string(wechat.FormatXML):
	default:
		return fmt.Errorf("sandbox: format %q: want json or xml", cfg.Format)
	}
	if cfg.Safe && cfg.EncodingAESKey == "" {
		return errors.New("sandbox: safe mode needs encoding_aes_key")
	}
	if cfg.Compatible && cfg.EncodingAESKey == "" {
		return errors.New("sandbox: compatible mode needs encoding_aes_key")
	}
	var pc *pushConfig
	if cfg.PushURL != "" {
		push, err := wechat.NewPush(cfg.PushToken, cfg.EncodingAESKey, cfg.AppID)
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		pc = &pushConfig{url: cfg.PushURL, push: push, safe: cfg.Safe, compat: cfg.Compatible, format: wechat.Format(cfg.Format)}
	} else if cfg.EncodingAESKey != "" {
		if _, err := wechat.NewCrypter(cfg.EncodingAESKey, cfg.AppID); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	s.appsMu.Lock()
	defer s.appsMu.Unlock()
	a := s.apps[cfg.AppID]
	if a == nil {
		a = &app{}
		s.apps[cfg.AppID] = a
	}
	c := cfg
	a.cfg.Store(&c)
	a.push.Store(pc)
	s.log.Info("sandbox: app registered", "appid", cfg.AppID, "push_url", cfg.PushURL, "safe", cfg.Safe, "compatible", cfg.Compatible, "format", cfg.Format)
	return nil
}

// App returns the app's configuration.
func (s *Server) App(appid string) (AppConfig, bool) {
	a := s.app(appid)
	if a == nil {
		return AppConfig{}, false
	}
	return *a.cfg.Load(), true
}

// AddUser makes openid a user of the app (sends to unknown openids get
// 40003). Adding an existing user does nothing.
func (s *Server) AddUser(appid string, openids ...string) error {
	a, err := s.mustApp(appid)
	if err != nil {
		return err
	}
	for _, o := range openids {
		if _, err := a.addUser(o); err != nil {
			return err
		}
	}
	return nil
}

// AddTemplate adds a private template with any content. An empty
// PriTmplID gets a random one; Type 0 means one-time. It returns the id.
func (s *Server) AddTemplate(appid string, t wechat.Template) (string, error) {
	a, err := s.mustApp(appid)
	if err != nil {
		return "", err
	}
	kws, err := t.Keywords()
	if err != nil {
		return "", err
	}
	if t.PriTmplID == "" {
		t.PriTmplID = randomString(43)
	}
	if t.Type == 0 {
		t.Type = wechat.TemplateOneTime
	}
	if t.Type != wechat.TemplateOneTime && t.Type != wechat.TemplateLongTerm {
		return "", fmt.Errorf("sandbox: template type %d: want 2 (one-time) or 3 (long-term)", t.Type)
	}
	for key := range t.Enums {
		found := false
		for _, kw := range kws {
			found = found || (kw.Key == key && kw.Type == wechat.TypeEnumString)
		}
		if !found {
			return "", fmt.Errorf("sandbox: enum values for %s, which is not an enum_string keyword of the content", key)
		}
	}
	a.putTemplate(&tmpl{Template: t, kws: kws})
	return t.PriTmplID, nil
}

// AddLibraryTemplate adds a private template from the public library, as
// addtemplate does (no checks of kid count or duplicates).
func (s *Server) AddLibraryTemplate(appid string, tid int64, kids ...int64) (string, error) {
	a, err := s.mustApp(appid)
	if err != nil {
		return "", err
	}
	lt := libraryTitle(tid)
	if lt == nil {
		return "", fmt.Errorf("sandbox: no library title %d", tid)
	}
	var kws []LibraryKeyword
	for _, kid := range kids {
		found := false
		for _, k := range lt.Keywords {
			if k.KID == kid {
				kws, found = append(kws, k), true
			}
		}
		if !found {
			return "", fmt.Errorf("sandbox: title %d has no keyword %d", tid, kid)
		}
	}
	t := templateFromLibrary(lt, kws)
	t.kids = kids
	a.putTemplate(t)
	return t.PriTmplID, nil
}

// Template returns a private template of the app.
func (s *Server) Template(appid, tplID string) (wechat.Template, bool) {
	a := s.app(appid)
	if a == nil {
		return wechat.Template{}, false
	}
	t := a.template(tplID)
	if t == nil {
		return wechat.Template{}, false
	}
	return t.Template, true
}

// BanTemplate makes sends of the template fail with 43107 (or lifts it).
func (s *Server) BanTemplate(appid, tplID string, banned bool) error {
	a, err := s.mustApp(appid)
	if err != nil {
		return err
	}
	t := a.template(tplID)
	if t == nil {
		return fmt.Errorf("sandbox: app %s has no template %q", appid, tplID)
	}
	t.banned.Store(banned)
	return nil
}

func (s *Server) userTemplate(appid, openid, tplID string) (*app, userRef, *tmpl, error) {
	a, err := s.mustApp(appid)
	if err != nil {
		return nil, userRef{}, nil, err
	}
	t := a.template(tplID)
	if t == nil {
		return nil, userRef{}, nil, fmt.Errorf("sandbox: app %s has no template %q", appid, tplID)
	}
	u, err := a.addUser(openid)
	if err != nil {
		return nil, userRef{}, nil, err
	}
	return a, u, t, nil
}

// Grant gives the user n credits of a one-time template, or turns a
// long-term subscription on (n > 0) or off (n <= 0), without a popup or a
// push. The user is added if unknown.
func (s *Server) Grant(appid, openid, tplID string, n int) error {
	_, u, t, err := s.userTemplate(appid, openid, tplID)
	if err != nil {
		return err
	}
	u.sh.mu.Lock()
	defer u.sh.mu.Unlock()
	sb := u.sh.subLocked(u.i, t.sid, true)
	if t.Type == wechat.TemplateLongTerm {
		sb.longTerm = n > 0
	} else {
		sb.credits = int32(min(max(int64(sb.credits)+int64(n), 0), math.MaxInt32))
	}
	if n > 0 {
		sb.accepts++
	}
	return nil
}

// Popup statuses wx.requestSubscribeMessage can answer.
const (
	PopupAccept          = "accept"
	PopupReject          = "reject"
	PopupBan             = "ban"
	PopupFilter          = "filter"
	PopupAcceptWithAudio = "acceptWithAudio"
	PopupAcceptWithAlert = "acceptWithAlert"
)

func isAccept(status string) bool {
	return status == PopupAccept || status == PopupAcceptWithAudio || status == PopupAcceptWithAlert
}

// Popup simulates the user answering wx.requestSubscribeMessage for up to 3
// templates of one kind (one-time or long-term). An accept adds one credit
// of a one-time template or turns a long-term one on; a reject adds nothing
// and turns a long-term one off (one-time credits already held are kept).
// ban and filter change nothing; of several templates with the same title
// only the first (by id) counts, the others answer "filter". A
// subscribe_msg_popup_event with the
// accepts and rejects is pushed. It returns what the mini program would
// receive: {"errMsg":"requestSubscribeMessage:ok","<id>":"accept",...}.
// The user is added if unknown.
func (s *Server) Popup(appid, openid string, results map[string]string) (map[string]string, error) {
	a, err := s.mustApp(appid)
	if err != nil {
		return nil, err
	}
	if len(results) == 0 || len(results) > 3 {
		return nil, fmt.Errorf("sandbox: a popup shows 1 to 3 templates, got %d", len(results))
	}
	if openid == "" {
		return nil, errors.New("sandbox: empty openid")
	}
	ids := make([]string, 0, len(results))
	kind := 0
	for id, status := range results {
		t := a.template(id)
		if t == nil {
			return nil, fmt.Errorf("sandbox: app %s has no template %q", appid, id)
		}
		if kind != 0 && t.Type != kind {
			return nil, errors.New("sandbox: one-time and long-term templates cannot be mixed in one popup")
		}
		kind = t.Type
		switch status {
		case PopupAccept, PopupReject, PopupBan, PopupFilter, PopupAcceptWithAudio, PopupAcceptWithAlert:
		default:
			return nil, fmt.Errorf("sandbox: popup status %q: want accept, reject, ban, filter, acceptWithAudio or acceptWithAlert", status)
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	// Same-title templates in one call: WeChat shows one, the others come
	// back "filter".
	out := map[string]string{"errMsg": "requestSubscribeMessage:ok"}
	titles := map[string]bool{}
	for _, id := range ids {
		status := results[id]
		if title := a.template(id).Title; title != "" {
			if titles[title] {
				status = PopupFilter
			}
			titles[title] = true
		}
		out[id] = status
	}
	u, err := a.addUser(openid)
	if err != nil {
		return nil, err
	}
	var items []wechat.EventItem
	sids := make([]uint32, len(ids))
	for i, id := range ids {
		sids[i] = a.internTpl(id)
	}
	u.sh.mu.Lock()
	for i, id := range ids {
		status := out[id]
		sb := u.sh.subLocked(u.i, sids[i], true)
		longTerm := a.template(id).Type == wechat.TemplateLongTerm
		switch {
		case isAccept(status):
			sb.accepts++
			if longTerm {
				sb.longTerm = true
			} else {
				sb.credits++
			}
			items = append(items, wechat.EventItem{TemplateID: id, SubscribeStatus: wechat.StatusAccept})
		case status == PopupReject:
			sb.rejects++
			if longTerm {
				sb.longTerm = false
			}
			items = append(items, wechat.EventItem{TemplateID: id, SubscribeStatus: wechat.StatusReject})
		}
	}
	u.sh.mu.Unlock()
	if len(items) > 0 {
		s.pushEvent(a, openid, wechat.EventPopup, items)
	}
	return out, nil
}

// SettingsReject simulates the user turning the template off from a
// notification card's menu: credits drop to 0, a long-term subscription is
// turned off, and a subscribe_msg_change_event (reject) is pushed.
func (s *Server) SettingsReject(appid, openid, tplID string) error {
	a, u, t, err := s.userTemplate(appid, openid, tplID)
	if err != nil {
		return err
	}
	u.sh.mu.Lock()
	sb := u.sh.subLocked(u.i, t.sid, true)
	sb.credits, sb.longTerm = 0, false
	sb.rejects++
	u.sh.mu.Unlock()
	s.pushEvent(a, openid, wechat.EventChange, []wechat.EventItem{{TemplateID: t.PriTmplID, SubscribeStatus: wechat.StatusReject}})
	return nil
}

func (s *Server) pushEvent(a *app, openid, event string, items []wechat.EventItem) {
	if pc := a.push.Load(); pc == nil || pc.url == "" {
		return
	}
	s.pusher.enqueue(a, &wechat.Event{
		ToUserName:   a.cfg.Load().OriginalID,
		FromUserName: openid,
		CreateTime:   s.now().Unix(),
		MsgType:      "event",
		Event:        event,
		List:         items,
	})
}

// SetFaults replaces the app's fault knobs (the zero Faults turns them off).
func (s *Server) SetFaults(appid string, f Faults) error {
	a, err := s.mustApp(appid)
	if err != nil {
		return err
	}
	for _, r := range []float64{f.ErrorRate, f.TimeoutAfterCountRate, f.SentEventFailRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("sandbox: rate %v: want 0..1", r)
		}
	}
	if f.PushRepeatRate < 0 || f.PushRepeatRate > 1 {
		return fmt.Errorf("sandbox: push repeat rate %v: want 0..1", f.PushRepeatRate)
	}
	if f.PushRepeats < 0 || f.PushRepeats > 10 {
		return fmt.Errorf("sandbox: push repeats %d: want 0..10", f.PushRepeats)
	}
	if f.Latency < 0 || f.DailyQuota < 0 || f.PushJitter < 0 {
		return errors.New("sandbox: latency, daily quota and push jitter must not be negative")
	}
	a.faults.Store(&f)
	return nil
}

// GetFaults returns the app's fault knobs.
func (s *Server) GetFaults(appid string) (Faults, error) {
	a, err := s.mustApp(appid)
	if err != nil {
		return Faults{}, err
	}
	if f := a.faults.Load(); f != nil {
		return *f, nil
	}
	return Faults{}, nil
}

// ExpireTokens makes every token of the app (both pools) expire now: the
// next call with one answers 42001.
func (s *Server) ExpireTokens(appid string) error {
	return s.eachToken(appid, func(t *tokenInfo, n int64) {
		if t.expiresAt.Load() > n {
			t.expiresAt.Store(n)
		}
	})
}

// RevokeTokens invalidates every live token of the app (both pools) now,
// as WeChat does when something else holding the secret force-refreshes
// the stable token: the next call with one answers 40001 "invalid
// credential, access_token is invalid or not latest"; a new token is
// minted on the next stable_token or token call.
func (s *Server) RevokeTokens(appid string) error {
	return s.eachToken(appid, func(t *tokenInfo, n int64) {
		if r := t.revokedAt.Load(); r == 0 || r > n {
			t.revokedAt.Store(n)
		}
	})
}

// eachToken calls fn with every token the app holds and the clock's now
// (UnixNano), under the app's token lock.
func (s *Server) eachToken(appid string, fn func(t *tokenInfo, now int64)) error {
	a, err := s.mustApp(appid)
	if err != nil {
		return err
	}
	n := s.now().UnixNano()
	a.tokMu.Lock()
	defer a.tokMu.Unlock()
	for _, t := range a.all {
		fn(t, n)
	}
	return nil
}

// TokenCalls returns how many times the app called stable_token and token.
func (s *Server) TokenCalls(appid string) (stable, legacy int64) {
	a := s.app(appid)
	if a == nil {
		return 0, 0
	}
	return a.stableCalls.Load(), a.legacyCalls.Load()
}

// Count returns how many messages of the template were accepted for the
// user (sends answered ok, plus sends cut by TimeoutAfterCountRate).
func (s *Server) Count(appid, openid, tplID string) int64 {
	a := s.app(appid)
	if a == nil {
		return 0
	}
	u, ok := a.user(openid)
	if !ok {
		return 0
	}
	a.tplIDMu.Lock()
	sid := a.tplIDs[tplID]
	a.tplIDMu.Unlock()
	if sid == 0 {
		return 0
	}
	u.sh.mu.Lock()
	defer u.sh.mu.Unlock()
	if sb := u.sh.subLocked(u.i, sid, false); sb != nil {
		return int64(sb.accepted)
	}
	return 0
}

// CountEntry is the accepted count of one (openid, template).
type CountEntry struct {
	OpenID     string `json:"openid"`
	TemplateID string `json:"template_id"`
	Accepted   int64  `json:"accepted"`
}

// Counts returns every non-zero accepted count of the app, sorted by
// openid then template.
func (s *Server) Counts(appid string) []CountEntry {
	a := s.app(appid)
	if a == nil {
		return nil
	}
	var out []CountEntry
	for i := range a.users {
		sh := &a.users[i]
		sh.mu.Lock()
		// Every template of a subscription was interned before the
		// subscription was made under this lock.
		a.tplIDMu.Lock()
		names := a.tplNames
		a.tplIDMu.Unlock()
		for ui := range sh.users {
			sh.subsLocked(uint32(ui), func(sb *sub) {
				if sb.accepted > 0 {
					out = append(out, CountEntry{sh.openid(&sh.users[ui]), names[sb.tpl-1], int64(sb.accepted)})
				}
			})
		}
		sh.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].OpenID != out[j].OpenID {
			return out[i].OpenID < out[j].OpenID
		}
		return out[i].TemplateID < out[j].TemplateID
	})
	return out
}

// AcceptedSummary returns, for the app, how many (openid, template) pairs
// had at least one message accepted and how many messages were accepted
// in all (accepted − pairs is the number of duplicates), without building
// the list Counts returns: what a benchmark of a million users needs.
func (s *Server) AcceptedSummary(appid string) (pairs, accepted int64) {
	a := s.app(appid)
	if a == nil {
		return 0, 0
	}
	for i := range a.users {
		sh := &a.users[i]
		sh.mu.Lock()
		for ui := range sh.users {
			sh.subsLocked(uint32(ui), func(sb *sub) {
				if sb.accepted > 0 {
					pairs++
					accepted += int64(sb.accepted)
				}
			})
		}
		sh.mu.Unlock()
	}
	return pairs, accepted
}

// Subscription is a user's state for one template.
type Subscription struct {
	TemplateID string `json:"template_id"`
	Credits    int    `json:"credits"`
	LongTerm   bool   `json:"long_term"`
	Accepted   int64  `json:"accepted"`
	Accepts    int64  `json:"accepts"`
	Rejects    int64  `json:"rejects"`
}

// Subscriptions returns the user's state per template; ok is false for an
// unknown app or user.
func (s *Server) Subscriptions(appid, openid string) ([]Subscription, bool) {
	a := s.app(appid)
	if a == nil {
		return nil, false
	}
	u, ok := a.user(openid)
	if !ok {
		return nil, false
	}
	var out []Subscription
	u.sh.mu.Lock()
	a.tplIDMu.Lock()
	names := a.tplNames
	a.tplIDMu.Unlock()
	u.sh.subsLocked(u.i, func(sb *sub) {
		out = append(out, Subscription{names[sb.tpl-1], int(sb.credits), sb.longTerm, int64(sb.accepted), int64(sb.accepts), int64(sb.rejects)})
	})
	u.sh.mu.Unlock()
	if out == nil {
		out = []Subscription{}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TemplateID < out[j].TemplateID })
	return out, true
}

// Credits returns the user's one-time credits left for the template and
// whether a long-term subscription is on.
func (s *Server) Credits(appid, openid, tplID string) (credits int, longTerm bool) {
	subs, _ := s.Subscriptions(appid, openid)
	for _, sb := range subs {
		if sb.TemplateID == tplID {
			return sb.Credits, sb.LongTerm
		}
	}
	return 0, false
}

// TotalAccepted returns the messages accepted by all apps.
func (s *Server) TotalAccepted() int64 { return s.accepted.Load() }

// Stats are the server's counters.
type Stats struct {
	Requests       int64 `json:"requests"`
	Accepted       int64 `json:"accepted"`
	PushesPending  int64 `json:"pushes_pending"`
	PushesSent     int64 `json:"pushes_delivered"`
	PushesFailed   int64 `json:"pushes_failed"`
	PushesDropped  int64 `json:"pushes_dropped"`
	PushesAttempts int64 `json:"push_attempts"`
	// PushesRepeated counts the extra copies sent by Faults.PushRepeatRate.
	PushesRepeated int64 `json:"pushes_repeated"`
	// What sends were answered because of faults or limits.
	ErrorsInjected   int64 `json:"errors_injected"`   // -1 (Faults.ErrorRate)
	TimeoutsInjected int64 `json:"timeouts_injected"` // counted, then cut (Faults.TimeoutAfterCountRate)
	QuotaRefused     int64 `json:"quota_refused"`     // 45009
	TokenRefused     int64 `json:"token_refused"`     // 40001 or 42001
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	p := s.pusher
	return Stats{
		Requests:       s.requests.Load(),
		Accepted:       s.accepted.Load(),
		PushesPending:  p.pending.Load(),
		PushesSent:     p.delivered.Load(),
		PushesFailed:   p.failed.Load(),
		PushesDropped:  p.dropped.Load(),
		PushesAttempts: p.attempts.Load(),
		PushesRepeated: p.repeated.Load(),

		ErrorsInjected:   s.injectedErrors.Load(),
		TimeoutsInjected: s.injectedCuts.Load(),
		QuotaRefused:     s.refusedQuota.Load(),
		TokenRefused:     s.refusedToken.Load(),
	}
}

// LostPushes returns the app's events whose push WeChat gave up on (3
// tries failed) or dropped (queue full, server closed), oldest first (at
// most about a million are kept). A sent event among them is a message the
// user received that the app will never hear about.
func (s *Server) LostPushes(appid string) []wechat.Event {
	p := s.pusher
	p.lostMu.Lock()
	defer p.lostMu.Unlock()
	var out []wechat.Event
	for _, l := range p.lost {
		if l.appid == appid {
			out = append(out, *l.ev)
		}
	}
	return out
}

// WaitPushes waits until no push is queued, being sent or waiting for a
// retry, or ctx is done.
func (s *Server) WaitPushes(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for s.pusher.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
