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
// audience keeps the chart and the rate going meanwhile. stop lets a
// sample in flight finish (one short read and insert) rather than cutting
// it: a cut query is logged as an error, and a tick with nothing to do
// ends while its first sample is still running.
func (s *Campaigns) sampleWhile(ctx context.Context) (stop func()) {
	done := make(chan struct{})
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
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
