// Package dbtest runs a test against SQLite and against a real MySQL or
// MariaDB server, each in a throwaway database of its own.
//
// MySQL comes from MINIPUSH_TEST_MYSQL_DSN (default root@tcp(127.0.0.1:3306)/).
// When no server answers the MySQL half is skipped with a loud message,
// except under CI=true, where that is a failure.
package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
)

// DefaultMySQLDSN is used when MINIPUSH_TEST_MYSQL_DSN is unset.
const DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/"

// Kinds are the database kinds every database test runs on.
var Kinds = []string{models.DialectSQLite, models.DialectMySQL}

// Each runs fn once per database kind as a subtest, with a migrated, empty
// database that is dropped afterwards.
func Each(t *testing.T, fn func(t *testing.T, db *gorm.DB, dsn string)) {
	t.Helper()
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			db, dsn := Open(t, kind, true)
			fn(t, db, dsn)
		})
	}
}

// Open returns a fresh database of the given kind (migrated when migrate is
// true) and its --db DSN. It is closed and dropped when the test ends.
func Open(t testing.TB, kind string, migrate bool) (*gorm.DB, string) {
	t.Helper()
	var dsn string
	switch kind {
	case models.DialectSQLite:
		dsn = "sqlite:" + filepath.Join(t.TempDir(), "test.db")
	case models.DialectMySQL:
		dsn = CreateMySQLDatabase(t)
	default:
		t.Fatalf("unknown database kind %q", kind)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := models.Open(context.Background(), dsn, models.OpenOptions{Logger: quiet})
	if err != nil {
		t.Fatalf("open %s: %v", kind, err)
	}
	t.Cleanup(func() { _ = models.Close(db) })
	if migrate {
		if _, err := models.Migrate(context.Background(), db); err != nil {
			t.Fatalf("migrate %s: %v", kind, err)
		}
	}
	return db, dsn
}

// CreateMySQLDatabase creates a throwaway database on the test server and
// returns its --db DSN; it is dropped when the test ends.
func CreateMySQLDatabase(t testing.TB) string {
	t.Helper()
	raw := os.Getenv("MINIPUSH_TEST_MYSQL_DSN")
	if raw == "" {
		raw = DefaultMySQLDSN
	}
	cfg, err := gomysql.ParseDSN(raw)
	if err != nil {
		t.Fatalf("MINIPUSH_TEST_MYSQL_DSN=%q: %v", raw, err)
	}
	cfg.DBName = ""
	cfg.Timeout = 3 * time.Second
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		msg := fmt.Sprintf("\n*** MySQL/MariaDB at %s does not answer (%v).\n*** MySQL tests are SKIPPED. Start a server or set MINIPUSH_TEST_MYSQL_DSN.\n", cfg.Addr, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "*** Under CI=true this is a failure.")
		}
		fmt.Fprint(os.Stderr, msg)
		t.Skip(msg)
	}
	name := fmt.Sprintf("minipush_test_%d_%s", time.Now().UnixNano()%1e9, strings.ToLower(models.RandomToken(4)))
	name = strings.NewReplacer("-", "x", "_", "_").Replace(name)
	if _, err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP DATABASE IF EXISTS `" + name + "`")
		_ = admin.Close()
	})
	cfg.DBName = name
	return "mysql:" + cfg.FormatDSN()
}
