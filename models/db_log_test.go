package models_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"gorm.io/gorm"
)

// A statement a unique key refuses is an answer the caller words (an email
// taken, an Idempotency-Key used again): no ERROR line in the log, which
// `minipush staff create` printed before its own message. Other errors
// are still logged.
func TestDuplicateKeyIsNotLoggedAsError(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, _ *gorm.DB, dsn string) {
		var buf bytes.Buffer
		db, err := models.Open(context.Background(), dsn, models.OpenOptions{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer models.Close(db)
		now := time.Now().UTC()
		ins := "INSERT INTO apps (app_id,name,secret_enc,push_token_enc,aes_key_enc,created_at,updated_at) VALUES ('wxdup','a','','','',?,?)"
		if err := db.Exec(ins, now, now).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Exec(ins, now, now).Error; !errors.Is(err, gorm.ErrDuplicatedKey) {
			t.Fatalf("second insert: %v", err)
		}
		if strings.Contains(buf.String(), "level=ERROR") {
			t.Fatalf("a duplicate was logged as an error:\n%s", buf.String())
		}
		_ = db.Exec("SELECT * FROM no_such_table").Error
		if !strings.Contains(buf.String(), "level=ERROR") {
			t.Fatal("other errors are no longer logged")
		}
	})
}
