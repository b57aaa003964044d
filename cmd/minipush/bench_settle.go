package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/wechat"
)

// benchSettle waits up to 30 s after the last send for the sent events to
// settle every accepted message, then records how far settlement got.
func benchSettle(ctx context.Context, db *gorm.DB, sb benchWeChat, e *scheduler.Engine, start time.Time, sent int64, res *benchResult) error {
	deadline := time.Now().Add(30 * time.Second)
	var drainedAt time.Time
	for {
		st, err := models.CountedStatuses(ctx, db) // counters: polled every 100 ms, a count of the rows read them all (1,000,000 at 1M)
		if err != nil {
			return err
		}
		stats, err := sb.Stats(ctx)
		if err != nil {
			return err
		}
		if drainedAt.IsZero() && stats.PushesPending == 0 {
			drainedAt = time.Now()
		}
		settled := st[models.DeliveryDelivered] + st[models.DeliveryFailed]
		if sent > 0 {
			res.SettledIn30s = float64(settled) / float64(sent)
		}
		if (settled >= sent && stats.PushesPending == 0) || time.Now().After(deadline) {
			if drainedAt.IsZero() {
				drainedAt = time.Now()
			}
			res.EventsPerSec = float64(stats.PushesSent) / drainedAt.Sub(start).Seconds()
			res.PushesDropped = stats.PushesDropped + stats.PushesFailed
			res.MaxSettleLocks = e.MaxSettleLocks()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// benchPushIntake floods the push endpoint with n signed plaintext
// sent-event pushes (msgids no delivery has, so they are stored and later
// given up) from conc clients, and returns pushes taken in per second.
func benchPushIntake(ctx context.Context, pushURL string, n, conc int) (float64, error) {
	push, err := wechat.NewPush(drillPushToken, "", benchAppID)
	if err != nil {
		return 0, err
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	once := func(ev *wechat.Event) error {
		req, err := push.NewRequest(ctx, pushURL, ev, wechat.PushOptions{})
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusForbidden {
			return errPushRefused
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("push answered %d", resp.StatusCode)
		}
		return nil
	}
	failed, el := fanOut(ctx, n, conc, func(i int) error {
		ev := &wechat.Event{ToUserName: "gh_bench", FromUserName: benchOpenID(i), CreateTime: time.Now().Unix(), MsgType: "event",
			Event: wechat.EventSent, List: []wechat.EventItem{{TemplateID: benchTplID, MsgID: 9_000_000_000_000 + int64(i), ErrorStatus: "success"}}}
		// Up to three tries, each signed anew, as WeChat does: at tens of
		// thousands of pushes a second two of them now and then draw the
		// same timestamp and 9-digit nonce, and the endpoint refuses the
		// second body under a query it has seen (its replay guard).
		var err error
		for try := 0; try < 3; try++ {
			if err = once(ev); err == nil || !errors.Is(err, errPushRefused) {
				return err
			}
		}
		return err
	})
	hc.CloseIdleConnections()
	if failed > 0 {
		return 0, fmt.Errorf("push intake: %d of %d pushes were refused or failed", failed, n)
	}
	return float64(n) / el.Seconds(), nil
}

// errPushRefused: the endpoint refused a push (403): the only answer the
// intake flood tries again.
var errPushRefused = errors.New("push refused (403)")

// fanOut calls do(i) for every i in [0, n) from conc goroutines and returns
// how many calls failed and how long they all took.
func fanOut(ctx context.Context, n, conc int, do func(i int) error) (int64, time.Duration) {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				if do(int(i)) != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return failed.Load(), time.Since(start)
}
