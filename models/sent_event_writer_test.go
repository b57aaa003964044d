package models_test

import (
	"context"
	"fmt"
	"sync"
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
					if err := w.Store(ctx, evs, now); err != nil {
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
		if err := w.Store(ctx, []models.SentEvent{{AppID: app.ID, MsgID: 42, EventTime: now}}, now); err != models.ErrWriterClosed {
			t.Fatalf("Store after Close: %v, want ErrWriterClosed", err)
		}
	})
}
