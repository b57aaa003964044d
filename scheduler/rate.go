package scheduler

import (
	"context"
	"sync"
	"time"

	"github.com/minipush/minipush/models"
)

// The rate limit of an app holds across all instances: each calendar
// second is a row of send_windows, and instances take capacity from it in
// chunks with one conditional UPDATE (used + n <= limit). What an instance
// took but did not use stays in its local pool for the rest of that second
// and is dropped after: the sum of sends started in any second, over every
// instance, never exceeds the limit. Clocks of instances on different hosts
// should be NTP-synchronised (a skew shifts windows, it cannot double them
// for long).

type limiter struct {
	mu    sync.Mutex
	pools map[int64]*ratePool
}

type ratePool struct {
	mu    sync.Mutex
	win   int64 // unix second the tokens are for
	avail int64
}

func (l *limiter) pool(appID int64) *ratePool {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pools[appID]
	if p == nil {
		p = &ratePool{}
		l.pools[appID] = p
	}
	return p
}

// grant is capacity taken for one claim.
type grant struct {
	n     int   // sends allowed
	win   int64 // the second they are for (0: unlimited)
	day   string
	dayN  int64 // units taken from the daily quota
	appID int64
}

// take returns how many sends of the app may start now (up to want), 0 when
// the second's or the day's capacity is used up.
func (e *Engine) take(ctx context.Context, st *appState, want int) (grant, error) {
	a := &st.app
	g := grant{n: want, appID: a.ID}
	if e.cfg.NoRateLimit {
		return g, nil
	}
	now := e.now()
	if a.RateLimit > 0 {
		p := e.rate.pool(a.ID)
		p.mu.Lock()
		sec := now.Unix()
		if p.win != sec {
			p.win, p.avail = sec, 0
		}
		if p.avail < int64(want) {
			// Take in chunks of a quarter of the limit so instances share
			// each second instead of the first one taking it all.
			chunk := max(int64(want)-p.avail, 1)
			chunk = min(chunk, max(int64(a.RateLimit)/4, 1))
			got, err := models.TakeSendCapacity(ctx, e.db, a.ID, models.SecondWindow(now), chunk, int64(a.RateLimit), now)
			if err != nil {
				p.mu.Unlock()
				return grant{}, err
			}
			p.avail += got
		}
		n := min(int64(want), p.avail)
		p.avail -= n
		p.mu.Unlock()
		g.n, g.win = int(n), sec
		if n == 0 {
			e.m.rateWaits.WithLabelValues(a.AppID).Inc()
			e.state.setIdle(a.ID, time.Unix(sec+1, 0))
			return g, nil
		}
	}
	if a.DailyQuota > 0 {
		g.day = models.DayWindow(now)
		got, err := models.TakeSendCapacity(ctx, e.db, a.ID, g.day, int64(g.n), a.DailyQuota, now)
		if err != nil {
			e.giveBack(g, g.n)
			return grant{}, err
		}
		if got < int64(g.n) {
			e.giveBack(grant{win: g.win, appID: a.ID}, g.n-int(got))
			g.n = int(got)
		}
		g.dayN = got
		if got == 0 {
			until := models.NextChinaMidnight(now)
			e.pauseApp(ctx, a, until, models.PauseLocalQuota)
		}
	}
	return g, nil
}

// giveBack returns unused sends of a grant: to the local pool while its
// second lasts, and to the shared daily quota.
func (e *Engine) giveBack(g grant, unused int) {
	if unused <= 0 {
		return
	}
	if g.win != 0 {
		p := e.rate.pool(g.appID)
		p.mu.Lock()
		if p.win == g.win {
			p.avail += int64(unused)
		}
		p.mu.Unlock()
	}
	if g.day != "" && g.dayN > 0 {
		n := min(int64(unused), g.dayN)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := models.ReturnSendCapacity(ctx, e.db, g.appID, g.day, n); err != nil {
			e.log.Warn("returning unused daily quota failed (the quota is under-used, never over-used)", "err", err)
		}
	}
}

func (e *Engine) pauseApp(ctx context.Context, a *models.App, until time.Time, reason string) {
	e.state.pause(a.ID, until)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := models.PauseAppSends(ctx, e.db, a.ID, until, reason); err != nil {
		e.log.Error("pausing an app's sends failed", "appid", a.AppID, "err", err)
		return
	}
	e.log.Warn("app sends paused", "appid", a.AppID, "until", until, "reason", reason)
}
