package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minipush/minipush/models"
)

func TestAPIKeyCreatePrintsAWorkingKeyOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := models.Open(ctx, "sqlite:"+path, models.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := models.CreateApp(ctx, db, &models.App{AppID: "wx0000000000000001", Name: "shop", PushMode: "plain", PushFormat: "json",
		Timezone: "Asia/Shanghai", QuietPolicy: "defer", MPState: "formal", Lang: "zh_CN", RateLimit: 20, SyncEveryHours: 6,
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd(t, "", "apikey", "create", "--db", "sqlite:"+path, "--app", "wx0000000000000001", "--name", "order-service")
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	key := strings.TrimSpace(stdout)
	if !strings.HasPrefix(key, models.APIKeyPrefix) || strings.Contains(stderr, key) {
		t.Fatalf("stdout %q stderr %q", stdout, stderr)
	}
	k, err := models.AuthenticateAPIKey(ctx, db, key)
	if err != nil || k.Name != "order-service" {
		t.Fatalf("the printed key does not authenticate: %v", err)
	}
	var action string
	db.Raw("SELECT action FROM audit_log WHERE object_id = ?", k.Prefix).Scan(&action)
	if action != "apikey.create" {
		t.Fatalf("audit action %q", action)
	}
}
