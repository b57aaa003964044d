package scheduler

import (
	"context"
	"time"

	"github.com/minipush/minipush/models"
)

// PushApplied is told what a verified push changed (models.ApplyPushEvent,
// called by the /wx/push handler): it counts sent events in the metrics
// and wakes the workers on new credits.
func (e *Engine) PushApplied(res models.PushResult) {
	e.m.settled.WithLabelValues("stored").Add(float64(res.Stored))
	e.m.settled.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	e.m.settled.WithLabelValues("settled").Add(float64(res.Settled))
	if res.Granted > 0 {
		e.Notify()
	}
}

// Enqueue queues one message (API transactional send, console test send)
// and wakes the workers. With an idempotency key already used, the first
// delivery is returned and created is false.
func (e *Engine) Enqueue(ctx context.Context, nd models.NewDelivery) (*models.Delivery, bool, error) {
	d, created, err := models.EnqueueDelivery(ctx, e.db, nd)
	if err == nil && created {
		e.Notify()
	}
	return d, created, err
}

// SendAndWait queues one message and waits until WeChat has answered (sent,
// failed, skipped, unknown, or queued again for a retry) or ctx ends; it
// returns the delivery as it then is.
// The console's test send uses it to show WeChat's answer.
func (e *Engine) SendAndWait(ctx context.Context, nd models.NewDelivery) (*models.Delivery, error) {
	d, _, err := e.Enqueue(ctx, nd)
	if err != nil {
		return nil, err
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		cur, err := models.GetDelivery(ctx, e.db, d.ID)
		if err != nil {
			return nil, err
		}
		if cur.Status != models.DeliveryQueued && cur.Status != models.DeliverySending {
			return cur, nil
		}
		if cur.Status == models.DeliveryQueued && cur.Attempts > 0 {
			return cur, nil // WeChat answered with a retryable error; it will be retried
		}
		select {
		case <-ctx.Done():
			return cur, ctx.Err()
		case <-t.C:
		}
	}
}
