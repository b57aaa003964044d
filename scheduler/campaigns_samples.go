package scheduler

import (
	"context"
	"sync"
	"time"

	"github.com/minipush/minipush/models"
)

// SampleEvery is how often the counters of running campaign runs are
// sampled for the campaign page's rate and chart.
const SampleEvery = 5 * time.Second

// sampleWhile samples run counters now and every SampleEvery until the
// returned stop is called: a tick that spends minutes expanding a large
// audience keeps the chart and the rate going meanwhile.
func (s *Campaigns) sampleWhile(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(SampleEvery)
		defer t.Stop()
		for {
			if _, err := models.SampleRuns(ctx, s.DB, s.now()); err != nil && ctx.Err() == nil {
				s.log().Warn("sampling campaign runs", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}
