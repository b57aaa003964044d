package scheduler

import (
	"time"

	"github.com/minipush/minipush/models"
)

// pipeline (Config.Pipeline) lets a worker claim its next batch while the
// last one is being sent: the claim's transaction (its round trips and its commit) overlaps
// the WeChat calls instead of following them. A worker has at most two
// batches: one sending, one claimed and waiting its turn. The waiting one
// holds its lease with called_at unset, so a crash puts it back in the
// queue (nothing of it was sent); its users are reserved like the ones in
// flight, so no user gets two sends at once.
type pipeline struct {
	e    *Engine
	busy chan struct{} // closed once the batch in flight is recorded; nil: none
}

// send waits until the batch in flight is recorded, then sends rows
// (claimed at claimedAt): in the background with Config.Pipeline, else
// before it returns.
func (p *pipeline) send(st *appState, rows []models.Delivery, claimedAt time.Time) {
	p.wait()
	if !p.e.cfg.Pipeline {
		p.e.sendBatch(st, rows, claimedAt)
		return
	}
	done := make(chan struct{})
	p.busy = done
	go func() {
		defer close(done)
		p.e.sendBatch(st, rows, claimedAt)
	}()
}

// wait returns once the batch in flight (if any) is recorded.
func (p *pipeline) wait() {
	if p.busy != nil {
		<-p.busy
		p.busy = nil
	}
}
