package models_test

import (
	"errors"
	"time"

	"context"
	"testing"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
)

func TestMigrateFromEmptyTwice(t *testing.T) {
	for _, kind := range dbtest.Kinds {
		t.Run(kind, func(t *testing.T) {
			db, _ := dbtest.Open(t, kind, false)
			ctx := context.Background()
			if v, err := models.AppliedVersion(ctx, db); err != nil || v != 0 {
				t.Fatalf("empty database: version %d, err %v", v, err)
			}
			if err := models.CheckSchema(ctx, db); err == nil {
				t.Fatal("CheckSchema passed on an empty database")
			}
			res, err := models.Migrate(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if res.From != 0 || res.To != models.SchemaVersion() || len(res.Applied) == 0 || res.Applied[0] != "0001_initial_schema" {
				t.Fatalf("first run: %+v", res)
			}
			for _, table := range []string{"apps", "templates", "users", "subscriptions", "subscription_events",
				"campaigns", "campaign_runs", "deliveries", "staff", "sessions", "api_keys", "audit_log",
				"access_tokens", "leases", "login_throttle"} {
				if !db.Migrator().HasTable(table) {
					t.Errorf("table %s missing", table)
				}
			}
			for table, idx := range map[string]string{"deliveries": "ux_deliveries_run_user", "subscriptions": "ux_subscriptions_user_tpl", "users": "ux_users_app_openid"} {
				if !db.Migrator().HasIndex(table, idx) {
					t.Errorf("index %s.%s missing", table, idx)
				}
			}
			res2, err := models.Migrate(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if len(res2.Applied) != 0 || res2.From != res.To || res2.To != res.To {
				t.Fatalf("second run was not a no-op: %+v", res2)
			}
			if err := models.CheckSchema(ctx, db); err != nil {
				t.Fatal(err)
			}
			var n int64
			db.Table("schema_migrations").Count(&n)
			if n != int64(len(res.Applied)) {
				t.Fatalf("schema_migrations has %d rows", n)
			}
		})
	}
}

func TestDeliveryUniquePerRunAndUser(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		// Minimal rows to satisfy the foreign keys.
		now := time.Now().UTC()
		mustExec(t, db, "INSERT INTO apps (app_id,name,secret_enc,push_token_enc,aes_key_enc,created_at,updated_at) VALUES ('wx1','a','','','',?,?)", now, now)
		mustExec(t, db, "INSERT INTO templates (app_id,template_id,title,content,example,keywords,created_at,updated_at) VALUES (1,'T','t','','','[]',?,?)", now, now)
		mustExec(t, db, "INSERT INTO users (app_id,openid,attributes,tags,created_at,updated_at) VALUES (1,'o1','{}','[]',?,?)", now, now)
		mustExec(t, db, "INSERT INTO campaigns (app_id,template_id,name,data,audience,created_at,updated_at) VALUES (1,1,'c','{}','{}',?,?)", now, now)
		mustExec(t, db, "INSERT INTO campaign_runs (campaign_id,app_id,scheduled_for,created_at,updated_at) VALUES (1,1,?,?,?)", now, now, now)
		ins := "INSERT INTO deliveries (app_id,run_id,user_id,template_id,openid,data,next_attempt_at,queued_at,created_at,updated_at) VALUES (1,1,1,1,'o1','{}',?,?,?,?)"
		mustExec(t, db, ins, now, now, now, now)
		err := db.Exec(ins, now, now, now, now).Error
		if !errors.Is(err, gorm.ErrDuplicatedKey) {
			t.Fatalf("second delivery for the same run and user: got %v, want a duplicate-key error", err)
		}
		// API deliveries (no run) are unique per idempotency key, and NULL keys do not collide.
		api := "INSERT INTO deliveries (app_id,user_id,template_id,idempotency_key,openid,data,next_attempt_at,queued_at,created_at,updated_at) VALUES (1,1,1,?,'o1','{}',?,?,?,?)"
		mustExec(t, db, api, nil, now, now, now, now)
		mustExec(t, db, api, nil, now, now, now, now)
		mustExec(t, db, api, "k1", now, now, now, now)
		if err := db.Exec(api, "k1", now, now, now, now).Error; !errors.Is(err, gorm.ErrDuplicatedKey) {
			t.Fatalf("repeated idempotency key: got %v", err)
		}
	})
}

func mustExec(t *testing.T, db *gorm.DB, q string, args ...any) {
	t.Helper()
	if err := db.Exec(q, args...).Error; err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
