package models_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/wechat"
)

func TestTokenStoreSharedAndCAS(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		key, _ := models.ParseSecretKey(models.NewSecretKey())
		sealer, _ := models.NewSealer(key)
		a := &models.TokenStore{DB: db, Sealer: sealer}
		b := &models.TokenStore{DB: db, Sealer: sealer} // a second instance
		if _, ok, err := a.Get(ctx, "wx1"); ok || err != nil {
			t.Fatalf("empty store: ok=%v err=%v", ok, err)
		}
		exp := time.Now().UTC().Add(2 * time.Hour).Truncate(time.Second)
		if err := a.Put(ctx, "wx1", wechat.Token{Value: "TOKEN-1", ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		got, ok, err := b.Get(ctx, "wx1")
		if err != nil || !ok || got.Value != "TOKEN-1" || !got.ExpiresAt.Equal(exp) {
			t.Fatalf("second instance sees %+v ok=%v err=%v", got, ok, err)
		}
		var raw models.AccessToken
		db.Where("app_id = ?", "wx1").First(&raw)
		if strings.Contains(raw.TokenEnc, "TOKEN-1") {
			t.Fatal("token stored in clear")
		}
		// b refreshed meanwhile; a's stale failure must not drop b's token.
		if err := b.Put(ctx, "wx1", wechat.Token{Value: "TOKEN-2", ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		if err := a.Invalidate(ctx, "wx1", "TOKEN-1"); err != nil {
			t.Fatal(err)
		}
		if got, ok, _ := a.Get(ctx, "wx1"); !ok || got.Value != "TOKEN-2" {
			t.Fatalf("CAS invalidate dropped the newer token: %+v ok=%v", got, ok)
		}
		if err := a.Invalidate(ctx, "wx1", "TOKEN-2"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := a.Get(ctx, "wx1"); ok {
			t.Fatal("matching invalidate left the token")
		}
	})
}
