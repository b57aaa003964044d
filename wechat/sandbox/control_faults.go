package sandbox

import (
	"errors"
	"fmt"
)

// SetFaults replaces the app's fault knobs (the zero Faults turns them off).
func (s *Server) SetFaults(appid string, f Faults) error {
	a, err := s.mustApp(appid)
	if err != nil {
		return err
	}
	for _, r := range []float64{f.ErrorRate, f.TimeoutAfterCountRate, f.CutBeforeCountRate, f.SentEventFailRate} {
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
