package scheduler

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat"
)

// appState is an app as the workers see it, with its WeChat client. app,
// client and key never change once built (a refresh builds a new one); the
// other fields are guarded by state.mu.
type appState struct {
	app    models.App
	client *wechat.Client
	key    string // what the client was built from
	// idleUntil: the last claim found nothing due; skip until then.
	idleUntil time.Time
	// pausedUntil: paused here before the database says so.
	pausedUntil time.Time
}

func (a *appState) paused(now time.Time) bool {
	return (a.app.PausedUntil != nil && a.app.PausedUntil.After(now)) || a.pausedUntil.After(now)
}

// tplInfo is a template as sends need it.
type tplInfo struct {
	wxID     string
	longTerm bool
	active   bool
	kws      []wechat.Keyword
	kwErr    error
}

// state caches apps and templates and tracks the users with a send in
// flight from this instance.
type state struct {
	e *Engine

	mu       sync.Mutex
	loadedAt time.Time
	apps     map[int64]*appState
	order    []int64
	tpls     map[int64]*tplInfo
	busy     map[int64]int // user id → sends in flight here
}

func newState(e *Engine) *state {
	return &state{e: e, apps: map[int64]*appState{}, tpls: map[int64]*tplInfo{}, busy: map[int64]int{}}
}

// refresh reloads apps and templates when they are older than AppRefresh
// (or force).
func (s *state) refresh(ctx context.Context, force bool) {
	s.mu.Lock()
	fresh := !force && time.Since(s.loadedAt) < s.e.cfg.AppRefresh
	s.mu.Unlock()
	if fresh {
		return
	}
	apps, err := models.ListApps(ctx, s.e.db)
	if err != nil {
		if ctx.Err() == nil {
			s.e.log.Error("loading apps failed; keeping the last list", "err", err)
		}
		return
	}
	tpls := map[int64]*tplInfo{}
	for _, a := range apps {
		list, err := models.ListTemplates(ctx, s.e.db, models.TemplateFilter{AppID: a.ID})
		if err != nil {
			return
		}
		for i := range list {
			t := &list[i]
			ti := &tplInfo{wxID: t.TemplateID, longTerm: t.LongTerm(), active: t.Status == models.TemplateActive}
			ti.kws, ti.kwErr = t.WeChatKeywords()
			tpls[t.ID] = ti
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[int64]*appState, len(apps))
	order := make([]int64, 0, len(apps))
	for _, a := range apps {
		key := a.AppID + "\x00" + a.APIBaseURL + "\x00" + a.SecretEnc
		old := s.apps[a.ID]
		st := &appState{app: a, key: key}
		if old != nil {
			st.idleUntil, st.pausedUntil = old.idleUntil, old.pausedUntil
		}
		if old != nil && old.key == key {
			st.client = old.client
		} else {
			client, err := s.e.newClient(&a)
			if err != nil {
				s.e.log.Error("cannot build the WeChat client of an app: its sends wait", "appid", a.AppID, "err", err)
				continue
			}
			st.client = client
		}
		next[a.ID] = st
		order = append(order, a.ID)
	}
	s.apps, s.order, s.tpls, s.loadedAt = next, order, tpls, time.Now()
}

// active returns the apps that may send now, rotated by i so workers start
// at different apps.
func (s *state) active(i int, now time.Time) []*appState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*appState, 0, len(s.order))
	for k := range s.order {
		st := s.apps[s.order[(k+i)%len(s.order)]]
		if st.app.Disabled || st.paused(now) || now.Before(st.idleUntil) {
			continue
		}
		out = append(out, st)
	}
	return out
}

func (s *state) setIdle(appID int64, until time.Time) {
	s.mu.Lock()
	if st := s.apps[appID]; st != nil && until.After(st.idleUntil) {
		st.idleUntil = until
	}
	s.mu.Unlock()
}

func (s *state) clearIdle() {
	s.mu.Lock()
	for _, st := range s.apps {
		st.idleUntil = time.Time{}
	}
	s.mu.Unlock()
}

// pause marks an app paused in the cache until the next refresh reads the
// database's pause.
func (s *state) pause(appID int64, until time.Time) {
	s.mu.Lock()
	if st := s.apps[appID]; st != nil && until.After(st.pausedUntil) {
		st.pausedUntil = until
	}
	s.mu.Unlock()
}

func (s *state) template(id int64) *tplInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tpls[id]
}

func (s *state) appLabel(id int64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.apps[id]; st != nil {
		return st.app.AppID
	}
	return strconv.FormatInt(id, 10)
}

// reserveUser marks a send to the user in flight; false when one already is.
func (s *state) reserveUser(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[id] > 0 {
		return false
	}
	s.busy[id]++
	return true
}

func (s *state) releaseUsers(ids []int64) {
	if len(ids) == 0 {
		return
	}
	s.mu.Lock()
	for _, id := range ids {
		if s.busy[id] <= 1 {
			delete(s.busy, id)
		} else {
			s.busy[id]--
		}
	}
	s.mu.Unlock()
}
