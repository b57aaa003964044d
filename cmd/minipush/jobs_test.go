package main

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

func TestScheduledTemplateSyncRunsWhenDue(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		sb := sandbox.New(sandbox.Options{})
		srv := httptest.NewServer(sb)
		defer srv.Close()
		if err := sb.AddApp(sandbox.AppConfig{AppID: "wx0123456789abcdef", Secret: "S3cretS3cretS3cretS3cretS3cret42"}); err != nil {
			t.Fatal(err)
		}
		if _, err := sb.AddTemplate("wx0123456789abcdef", wechat.Template{PriTmplID: "T1", Title: "到货", Content: "门店:{{thing1.DATA}}"}); err != nil {
			t.Fatal(err)
		}
		key, _ := models.ParseSecretKey(models.NewSecretKey())
		sealer, _ := models.NewSealer(key)
		now := time.Now().UTC()
		mk := func(appID string, hours int, disabled bool) *models.App {
			a := &models.App{AppID: appID, Name: appID, SecretEnc: sealer.Seal("S3cretS3cretS3cretS3cretS3cret42"), APIBaseURL: srv.URL,
				PushMode: "plain", PushFormat: "json", RateLimit: 10, Timezone: "Asia/Shanghai", QuietPolicy: "defer", MPState: "formal",
				Lang: "zh_CN", SyncEveryHours: hours, Disabled: disabled, CreatedAt: now, UpdatedAt: now}
			if err := models.CreateApp(ctx, db, a); err != nil {
				t.Fatal(err)
			}
			return a
		}
		due := mk("wx0123456789abcdef", 6, false)
		manualOnly := mk("wx1111111111111111", 0, false)
		off := mk("wx2222222222222222", 6, true)

		if err := syncDueTemplates(ctx, db, sealer, nil); err != nil {
			t.Fatal(err)
		}
		runs, _ := models.ListTemplateSyncs(ctx, db, due.ID, 10)
		if len(runs) != 1 || runs[0].TriggerKind != "schedule" || runs[0].Inserted != 1 {
			t.Fatalf("due app: %+v", runs)
		}
		for _, a := range []*models.App{manualOnly, off} {
			if r, _ := models.ListTemplateSyncs(ctx, db, a.ID, 10); len(r) != 0 {
				t.Fatalf("%s synced though not due: %+v", a.AppID, r)
			}
		}
		// Not due again within its interval.
		if err := syncDueTemplates(ctx, db, sealer, nil); err != nil {
			t.Fatal(err)
		}
		if runs, _ = models.ListTemplateSyncs(ctx, db, due.ID, 10); len(runs) != 1 {
			t.Fatalf("synced again within the interval: %d runs", len(runs))
		}
	})
}
