package main

import (
	"context"
	"math/rand/v2"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

// demoPushedUsers is how many users' taps travel the whole way: the
// sandbox pushes each, signed and encrypted, to the console's /wx/push
// endpoint. The others' taps are applied by the same function that
// endpoint calls once it has verified and decoded a push
// (models.ApplyPushEvent), a few hundred users per transaction, with the
// sandbox's state set to match: the same rows, without a minute of HTTP.
const demoPushedUsers = 1000

// demoTaps is what one user answered.
type demoTaps struct {
	oneTime   map[string]string // template id → accept | reject (one popup)
	again     bool              // tapped allow for "order shipped" a second time
	longTerm  string            // the system notice popup: accept, reject or ""
	turnedOff bool              // later turned "order shipped" off from a card's menu
}

// demoProfiles draws every user's answers (deterministic).
func (s *demoSeed) demoProfiles() []demoTaps {
	r := rand.New(rand.NewPCG(2026, 12))
	tpl := func(name string) string { return s.Templates[name].TemplateID }
	oneTime := []struct {
		name string
		pct  int
	}{{"order_shipped", 60}, {"payment", 40}, {"new_message", 35}, {"activity", 25}}
	out := make([]demoTaps, len(s.openids))
	for i := range out {
		p := demoTaps{oneTime: map[string]string{}}
		for _, t := range oneTime {
			if len(p.oneTime) < 3 && r.IntN(100) < t.pct {
				st := sandbox.PopupAccept
				if r.IntN(100) < 15 {
					st = sandbox.PopupReject
				}
				p.oneTime[tpl(t.name)] = st
			}
		}
		ordered := p.oneTime[tpl("order_shipped")] == sandbox.PopupAccept
		p.again = ordered && r.IntN(100) < 20
		if n := r.IntN(100); n < 45 {
			p.longTerm = sandbox.PopupAccept
			if n < 4 {
				p.longTerm = sandbox.PopupReject
			}
		}
		p.turnedOff = ordered && r.IntN(100) < 3
		out[i] = p
	}
	return out
}

// seedTaps has every user answer WeChat's popups: one-time templates
// allowed or refused, "order shipped" allowed twice by some, the long-term
// system notice allowed by many, and "order shipped" turned off later by a
// few.
func (s *demoSeed) seedTaps(ctx context.Context) error {
	profiles := s.demoProfiles()
	tpl := func(name string) string { return s.Templates[name].TemplateID }
	for i, p := range profiles {
		allowed, rejected := p.longTerm == sandbox.PopupAccept, p.longTerm == sandbox.PopupReject || p.turnedOff
		for id, st := range p.oneTime {
			allowed = allowed || st == sandbox.PopupAccept
			rejected = rejected || st == sandbox.PopupReject
			if st != sandbox.PopupAccept {
				continue
			}
			switch {
			case id == tpl("order_shipped") && !p.turnedOff:
				s.withOrderCredit = append(s.withOrderCredit, s.openids[i])
			case id == tpl("payment"):
				s.withPayCredit = append(s.withPayCredit, s.openids[i])
			}
		}
		if allowed {
			s.Allowed++
		}
		if rejected {
			s.Rejected++
		}
		if p.longTerm == sandbox.PopupAccept {
			s.LongTerm++
		}
	}
	pushed := s.pushed
	if pushed <= 0 {
		pushed = demoPushedUsers
	}
	pushed = min(pushed, len(profiles))
	if err := s.pushTaps(ctx, profiles[:pushed]); err != nil {
		return err
	}
	if err := s.applyTaps(ctx, profiles, pushed); err != nil {
		return err
	}
	// The users came through the API just now, but tapped over the last
	// week: each is first seen at their first tap, not after it.
	return s.db.WithContext(ctx).Exec(`UPDATE users SET created_at = (SELECT MIN(e.created_at) FROM subscription_events e WHERE e.user_id = users.id)
		WHERE app_id = ? AND EXISTS (SELECT 1 FROM subscription_events e WHERE e.user_id = users.id AND e.created_at < users.created_at)`, s.app.ID).Error
}

// pushTaps plays the first users' taps at the sandbox, which pushes each
// to the console; the turn-offs go after the taps are in.
func (s *demoSeed) pushTaps(ctx context.Context, profiles []demoTaps) error {
	order := s.Templates["order_shipped"].TemplateID
	notice := s.Templates["system_notice"].TemplateID
	for i, p := range profiles {
		o := s.openids[i]
		if len(p.oneTime) > 0 {
			if _, err := s.sb.Popup(demoAppID, o, p.oneTime); err != nil {
				return err
			}
		}
		if p.longTerm != "" {
			if _, err := s.sb.Popup(demoAppID, o, map[string]string{notice: p.longTerm}); err != nil {
				return err
			}
		}
	}
	firstDone := time.Now()
	if err := s.waitPushes(ctx); err != nil {
		return err
	}
	// WeChat's pushes carry the second a tap happened in, and a push with
	// the same user, second, event and template is WeChat retrying it
	// (counted once): the second taps come in a later second.
	time.Sleep(time.Until(firstDone.Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
	for i, p := range profiles {
		if p.again {
			if _, err := s.sb.Popup(demoAppID, s.openids[i], map[string]string{order: sandbox.PopupAccept}); err != nil {
				return err
			}
		}
		if p.turnedOff {
			if err := s.sb.SettingsReject(demoAppID, s.openids[i], order); err != nil {
				return err
			}
		}
	}
	return s.waitPushes(ctx)
}

// applyTaps applies the other users' taps as the push endpoint would,
// spread over the last week, and sets the sandbox to match.
func (s *demoSeed) applyTaps(ctx context.Context, profiles []demoTaps, from int) error {
	order := s.Templates["order_shipped"].TemplateID
	notice := s.Templates["system_notice"].TemplateID
	cfg, _ := s.sb.App(demoAppID)
	now := time.Now().UTC()
	const perTx = 100
	for start := from; start < len(profiles); start += perTx {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		end := min(start+perTx, len(profiles))
		err := models.Retry(ctx, s.db, func(tx *gorm.DB) error {
			for i := start; i < end; i++ {
				p, o := profiles[i], s.openids[i]
				// The user's first tap, somewhere in the last 7 days, early
				// enough that the taps that follow it (up to 3 h later)
				// are not in the future.
				const span = 7*24*time.Hour - 4*time.Hour
				at := now.Add(-7*24*time.Hour + time.Duration(i)*span/time.Duration(len(profiles)+1)).Truncate(time.Second)
				apply := func(at time.Time, event string, items map[string]string) error {
					ev := &wechat.Event{ToUserName: cfg.OriginalID, FromUserName: o, CreateTime: at.Unix(), MsgType: "event", Event: event}
					for id, st := range items {
						if st == sandbox.PopupAccept || st == sandbox.PopupReject {
							ev.List = append(ev.List, wechat.EventItem{TemplateID: id, SubscribeStatus: st})
						}
					}
					_, err := models.ApplyPushEvent(ctx, tx, nil, s.app, ev, at)
					return err
				}
				if len(p.oneTime) > 0 {
					if err := apply(at, wechat.EventPopup, p.oneTime); err != nil {
						return err
					}
				}
				if p.longTerm != "" {
					if err := apply(at.Add(time.Minute), wechat.EventPopup, map[string]string{notice: p.longTerm}); err != nil {
						return err
					}
				}
				if p.again {
					if err := apply(at.Add(2*time.Hour), wechat.EventPopup, map[string]string{order: sandbox.PopupAccept}); err != nil {
						return err
					}
				}
				if p.turnedOff {
					if err := apply(at.Add(3*time.Hour), wechat.EventChange, map[string]string{order: sandbox.PopupReject}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		// WeChat's side of the same answers.
		for i := start; i < end; i++ {
			if err := s.grantAtSandbox(profiles[i], s.openids[i], order, notice); err != nil {
				return err
			}
		}
	}
	return nil
}

// grantAtSandbox gives the sandbox the credits and subscriptions one
// user's answers leave there.
func (s *demoSeed) grantAtSandbox(p demoTaps, o, order, notice string) error {
	for id, st := range p.oneTime {
		if st != sandbox.PopupAccept {
			continue
		}
		n := 1
		if id == order {
			if p.again {
				n = 2
			}
			if p.turnedOff {
				continue
			}
		}
		if err := s.sb.Grant(demoAppID, o, id, n); err != nil {
			return err
		}
	}
	if p.longTerm != "" {
		n := 0
		if p.longTerm == sandbox.PopupAccept {
			n = 1
		}
		return s.sb.Grant(demoAppID, o, notice, n)
	}
	return nil
}
