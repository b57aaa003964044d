package sandbox

import (
	"context"
	"sort"
	"time"

	"github.com/minipush/minipush/wechat"
)

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

// AcceptedTotals is AcceptedSummary on the control API
// (GET /sandbox/apps/{appid}/accepted).
type AcceptedTotals struct {
	Pairs    int64 `json:"pairs"`
	Accepted int64 `json:"accepted"`
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
	CutsInjected     int64 `json:"cuts_injected"`     // cut before anything was counted (Faults.CutBeforeCountRate)
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
		CutsInjected:     s.injectedEarly.Load(),
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
