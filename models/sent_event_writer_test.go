package models_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

// Many pushes at once share the writer's batches; every event is stored
// once (WeChat's retries included), each caller returns only after its
// events are committed, and Close writes what is still queued.
func TestSentEventWriter(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		ctx := context.Background()
		app, tpl, _, _ := fixture(t, db)
		w := models.NewSentEventWriter(db)
		const pushes, perPush = 100, 3
		now := time.Now().UTC()
		var wg sync.WaitGroup
		errs := make(chan error, 2*pushes)
		for i := range pushes {
			for retry := range 2 { // each push arrives twice, as WeChat retries
				wg.Add(1)
				go func() {
					defer wg.Done()
					evs := make([]models.SentEvent, perPush)
					for j := range evs {
						evs[j] = models.SentEvent{AppID: app.ID, MsgID: int64(1_000_000 + i*perPush + j), OpenID: "o", WxTemplateID: tpl.TemplateID, EventTime: now}
					}
					if _, err := w.Store(ctx, evs, now); err != nil {
						errs <- err
						return
					}
					var n int64
					if err := db.Model(&models.SentEvent{}).Where("msgid = ?", evs[0].MsgID).Count(&n).Error; err != nil || n != 1 {
						errs <- fmt.Errorf("push %d (try %d): stored %d times once Store returned (want 1), err %v", i, retry, n, err)
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var total int64
		db.Model(&models.SentEvent{}).Count(&total)
		if total != pushes*perPush {
			t.Fatalf("%d events stored, want %d", total, pushes*perPush)
		}
		w.Close()
		if _, err := w.Store(ctx, []models.SentEvent{{AppID: app.ID, MsgID: 42, EventTime: now}}, now); err != models.ErrWriterClosed {
			t.Fatalf("Store after Close: %v, want ErrWriterClosed", err)
		}
	})
}

// The writer settles the common case on arrival, in its own transaction: an
// event without an error whose delivery is sent makes it delivered and is
// stored linked to it (once, however often WeChat repeats it, in one batch
// or in several). A failure, an event that came before its send's
// answer, and a repeat after settlement are stored and left to the settle
// pass; the counters follow every move.
func TestSentEventsSettleOnArrival(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		ctx := context.Background()
		app, tpl, _, _ := fixture(t, db)
		sent := func(name string, msgid int64) *models.Delivery {
			u, err := models.EnsureUser(ctx, db, app.ID, "openid-"+name)
			if err != nil {
				t.Fatal(err)
			}
			d, at := sendingDelivery(t, db, app, tpl, u, name, time.Hour)
			if err := models.ApplyOutcomes(ctx, db, name, at, time.Minute,
				[]models.Outcome{{D: d, Status: models.DeliverySent, MsgID: msgid}}); err != nil {
				t.Fatal(err)
			}
			return d
		}
		ok, failed, raced := sent("ok", 9001), sent("failed", 9002), sent("raced", 9004)
		w := models.NewSentEventWriter(db)
		defer w.Close()
		now := time.Now().UTC()
		ev := func(msgid int64, code int) models.SentEvent {
			return models.SentEvent{AppID: app.ID, MsgID: msgid, OpenID: "o", WxTemplateID: tpl.TemplateID, ErrorCode: code, EventTime: now}
		}
		// One push: ok's event twice, failed's failure, and an event whose
		// send's answer is not recorded yet.
		n, err := w.Store(ctx, []models.SentEvent{ev(9001, 0), ev(9002, 43101), ev(9003, 0), ev(9001, 0)}, now)
		if err != nil || n != 1 {
			t.Fatalf("Store: %d settled (%v), want 1", n, err)
		}
		// raced's event pushed by four handlers at once (one writer: its
		// batches follow each other; TestSentEventsSettledOnceAcrossInstances
		// races transactions).
		var wg sync.WaitGroup
		counts := make(chan int, 4)
		for range 4 {
			wg.Go(func() {
				n, err := w.Store(ctx, []models.SentEvent{ev(9004, 0)}, now)
				if err != nil {
					t.Error(err)
				}
				counts <- n
			})
		}
		wg.Wait()
		close(counts)
		total := 0
		for n := range counts {
			total += n
		}
		if total != 1 {
			t.Fatalf("raced's pushes settled %d deliveries, want 1", total)
		}
		// ok's push again, after settlement.
		if n, err := w.Store(ctx, []models.SentEvent{ev(9001, 0)}, now); err != nil || n != 0 {
			t.Fatalf("a repeat after settlement: %d settled (%v), want 0", n, err)
		}
		for _, c := range []struct {
			d    *models.Delivery
			want string
		}{{ok, models.DeliveryDelivered}, {raced, models.DeliveryDelivered}, {failed, models.DeliverySent}} {
			if s := statusOf(t, db, c.d.ID); s != c.want {
				t.Errorf("delivery %d: %s, want %s", c.d.ID, s, c.want)
			}
		}
		link := func(msgid int64) *int64 {
			var e models.SentEvent
			if err := db.Where("app_id = ? AND msgid = ?", app.ID, msgid).First(&e).Error; err != nil {
				t.Fatal(err)
			}
			return e.DeliveryID
		}
		for msgid, want := range map[int64]int64{9001: ok.ID, 9004: raced.ID} {
			if got := link(msgid); got == nil || *got != want {
				t.Errorf("event %d linked to %v, want %d", msgid, got, want)
			}
		}
		for _, msgid := range []int64{9002, 9003} {
			if got := link(msgid); got != nil {
				t.Errorf("event %d linked to %d, want pending for the settle pass", msgid, *got)
			}
		}
		var stored int64
		db.Model(&models.SentEvent{}).Count(&stored)
		if stored != 4 {
			t.Errorf("%d events stored, want 4", stored)
		}
		// The settle pass takes the failure.
		settlePass(t, db, now.Add(time.Second), 9002)
		if s := statusOf(t, db, failed.ID); s != models.DeliveryFailed {
			t.Errorf("failed's delivery after the settle pass: %s", s)
		}
		off, err := models.CounterDrift(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		for status, d := range off {
			t.Errorf("counter %s = %d, deliveries: %d", status, d[0], d[1])
		}
	})
}

// Two instances' writers take WeChat's repeated pushes of the same events
// while a settle pass runs, and half the events already have a pending copy
// (stored earlier, before this instance settled on arrival): every
// delivery is settled exactly once, every event linked to its own delivery,
// and the counters moved once per delivery.
func TestSentEventsSettledOnceAcrossInstances(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, dsn string) {
		ctx := context.Background()
		app, tpl, _, _ := fixture(t, db)
		const n = 40
		ids := map[int64]int64{} // msgid → delivery id
		var evs []models.SentEvent
		now := time.Now().UTC()
		for i := range n {
			name := fmt.Sprintf("u%02d", i)
			u, err := models.EnsureUser(ctx, db, app.ID, "openid-"+name)
			if err != nil {
				t.Fatal(err)
			}
			d, at := sendingDelivery(t, db, app, tpl, u, name, time.Hour)
			msgid := int64(5000 + i)
			if err := models.ApplyOutcomes(ctx, db, name, at, time.Minute,
				[]models.Outcome{{D: d, Status: models.DeliverySent, MsgID: msgid}}); err != nil {
				t.Fatal(err)
			}
			ids[msgid] = d.ID
			ev := models.SentEvent{AppID: app.ID, MsgID: msgid, OpenID: u.OpenID, WxTemplateID: tpl.TemplateID, EventTime: now}
			evs = append(evs, ev)
			if i%2 == 0 { // a copy already stored, pending
				if _, err := models.StoreSentEvent(ctx, db, ev, now); err != nil {
					t.Fatal(err)
				}
			}
		}
		before, err := models.AppStats(ctx, db, app.ID)
		if err != nil {
			t.Fatal(err)
		}
		writers := []*models.SentEventWriter{models.NewSentEventWriter(db), models.NewSentEventWriter(db)}
		var onArrival atomic.Int64
		var wg sync.WaitGroup
		for wi, w := range writers {
			for g := range 3 {
				wg.Go(func() {
					order := rand.New(rand.NewPCG(uint64(wi), uint64(g))).Perm(n)
					for start := 0; start < n; start += 7 {
						var chunk []models.SentEvent
						for _, k := range order[start:min(start+7, n)] {
							chunk = append(chunk, evs[k])
						}
						k, err := w.Store(ctx, chunk, now)
						if err != nil {
							t.Error(err)
							return
						}
						onArrival.Add(int64(k))
					}
				})
			}
		}
		pass := func() int {
			res, err := models.SettlePendingSentEvents(ctx, db, models.SettlePass{ByWindowAfter: now.Add(-time.Minute),
				GiveUpBefore: now.Add(-time.Hour), Now: time.Now().UTC(), Window: time.Minute, Limit: 100})
			if err != nil {
				t.Error(err)
			}
			return res.Settled
		}
		stop := make(chan struct{})
		passes := make(chan int)
		go func() {
			total := 0
			for {
				select {
				case <-stop:
					passes <- total + pass()
					return
				default:
					total += pass()
				}
			}
		}()
		wg.Wait()
		close(stop)
		byPass := <-passes
		for _, w := range writers {
			w.Close()
		}
		if got := onArrival.Load() + int64(byPass); got != n {
			t.Errorf("settled %d on arrival + %d by the settle pass = %d, want %d", onArrival.Load(), byPass, got, n)
		}
		for msgid, id := range ids {
			if s := statusOf(t, db, id); s != models.DeliveryDelivered {
				t.Errorf("delivery %d: %s, want delivered", id, s)
			}
			var e models.SentEvent
			if err := db.Where("app_id = ? AND msgid = ?", app.ID, msgid).First(&e).Error; err != nil {
				t.Fatal(err)
			}
			if e.DeliveryID == nil || *e.DeliveryID != id {
				t.Errorf("event %d linked to %v, want %d", msgid, e.DeliveryID, id)
			}
		}
		after, err := models.AppStats(ctx, db, app.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d, s := after[models.DeliveryDelivered][""]-before[models.DeliveryDelivered][""], after[models.DeliverySent][""]-before[models.DeliverySent][""]; d != n || s != -n {
			t.Errorf("counters moved delivered %+d, sent %+d; want %+d, %+d", d, s, n, -n)
		}
	})
}
