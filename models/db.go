// Package models holds the GORM models, opens SQLite or MySQL from a DSN,
// runs the versioned migrations and provides the queries the rest of
// minipush uses. It never imports Echo and never renders HTML.
package models

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/libtnb/sqlite"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// ErrNotFound is returned by lookups that find no row.
var ErrNotFound = errors.New("not found")

// ErrDuplicate is returned when a unique key would be violated.
var ErrDuplicate = errors.New("already exists")

// Dialect names as reported by DB.Dialector.Name().
const (
	DialectSQLite = "sqlite"
	DialectMySQL  = "mysql"
)

// Target is a parsed --db value.
type Target struct {
	Dialect string // DialectSQLite or DialectMySQL
	// Path is the SQLite file (for DialectSQLite).
	Path string
	// Config is the MySQL driver config (for DialectMySQL).
	Config *gomysql.Config
}

// ParseDSN reads a --db value: "sqlite:PATH" or "mysql:user:pass@tcp(host:3306)/db".
// For MySQL it adds parseTime=true, loc=UTC and utf8mb4 when absent.
func ParseDSN(dsn string) (Target, error) {
	scheme, rest, ok := strings.Cut(dsn, ":")
	if !ok || rest == "" {
		return Target{}, fmt.Errorf("%q is not a database address: use sqlite:PATH (e.g. sqlite:data/minipush.db) or mysql:user:pass@tcp(host:3306)/dbname", dsn)
	}
	switch scheme {
	case "sqlite":
		if strings.ContainsAny(rest, "?#") {
			return Target{}, fmt.Errorf("sqlite:%s: give a plain file path; minipush sets the SQLite options itself", rest)
		}
		return Target{Dialect: DialectSQLite, Path: rest}, nil
	case "mysql":
		cfg, err := gomysql.ParseDSN(rest)
		if err != nil {
			return Target{}, fmt.Errorf("mysql:%s: %v (expected mysql:user:pass@tcp(host:3306)/dbname)", redactDSN(rest), err)
		}
		if cfg.DBName == "" {
			return Target{}, fmt.Errorf("mysql address names no database: add /dbname, e.g. mysql:root@tcp(127.0.0.1:3306)/minipush")
		}
		cfg.ParseTime = true
		cfg.Loc = time.UTC
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		if _, ok := cfg.Params["charset"]; !ok && cfg.Collation == "" {
			cfg.Collation = "utf8mb4_unicode_ci"
		}
		cfg.Params["time_zone"] = "'+00:00'"
		// Arguments are written into the statement by the driver: one round
		// trip per query instead of three (prepare, execute, close), and no
		// server-side prepare for statements run once. Safe with utf8mb4;
		// left off for a charset the driver cannot escape safely.
		if cs := cfg.Params["charset"]; cs == "" || strings.HasPrefix(cs, "utf8") {
			cfg.InterpolateParams = true
		}
		if cfg.Timeout == 0 {
			cfg.Timeout = 5 * time.Second
		}
		return Target{Dialect: DialectMySQL, Config: cfg}, nil
	default:
		return Target{}, fmt.Errorf("unknown database kind %q: use sqlite:PATH or mysql:user:pass@tcp(host:3306)/dbname", scheme)
	}
}

// redactDSN hides a password in a DSN for messages.
func redactDSN(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	user, _, hasPass := strings.Cut(s[:at], ":")
	if !hasPass {
		return s
	}
	return user + ":***" + s[at:]
}

// String describes the target without its password.
func (t Target) String() string {
	if t.Dialect == DialectSQLite {
		return "sqlite:" + t.Path
	}
	c := *t.Config
	if c.Passwd != "" {
		c.Passwd = "***"
	}
	return "mysql:" + c.User + "@" + c.Net + "(" + c.Addr + ")/" + c.DBName
}

// OpenOptions tunes Open.
type OpenOptions struct {
	Logger *slog.Logger
	// SlowQuery logs queries slower than this (0: 500ms).
	SlowQuery time.Duration
	// MaxOpenConns caps the pool (0: a default per dialect).
	MaxOpenConns int
}

// Open connects to the database named by dsn and checks that it answers.
func Open(ctx context.Context, dsn string, opt OpenOptions) (*gorm.DB, error) {
	t, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	return OpenTarget(ctx, t, opt)
}

// OpenTarget connects to a parsed target.
func OpenTarget(ctx context.Context, t Target, opt OpenOptions) (*gorm.DB, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.SlowQuery == 0 {
		opt.SlowQuery = 500 * time.Millisecond
	}
	var dial gorm.Dialector
	maxOpen := opt.MaxOpenConns
	switch t.Dialect {
	case DialectSQLite:
		if dir := filepath.Dir(t.Path); dir != "." && dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("sqlite:%s: cannot create its folder: %w", t.Path, err)
			}
		}
		q := "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		dial = sqlite.Open("file:" + t.Path + q)
		if maxOpen == 0 {
			maxOpen = 4
		}
	case DialectMySQL:
		dial = mysql.New(mysql.Config{DSNConfig: t.Config})
		if maxOpen == 0 {
			maxOpen = 32
		}
	default:
		return nil, fmt.Errorf("unknown dialect %q", t.Dialect)
	}
	db, err := gorm.Open(dial, &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
		Logger: quietDuplicates{logger.NewSlogLogger(opt.Logger, logger.Config{
			SlowThreshold:             opt.SlowQuery,
			LogLevel:                  logger.Warn,
			IgnoreRecordNotFoundError: true,
			ParameterizedQueries:      true,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: database does not answer: %w", t, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if md, ok := db.Dialector.(*mysql.Dialector); ok && mariaDBAtLeast(md.ServerVersion, 10, 3, 18) {
		if _, set := t.Config.Params[inConversionVar]; !set {
			// MariaDB turns an IN list of 1,000 values or more into a join
			// with a table of them, and then may read a whole index or
			// table instead of looking each value up: a settle pass's
			// lookup of 1,000 msgids read every delivery of the account
			// (a 1,000,000-recipient bench settled 300 events a second).
			// Every IN list here is of keys: look each up. Connections
			// must carry the setting, so the pool is opened again with it.
			_ = sqlDB.Close()
			c := t.Config.Clone()
			if c.Params == nil {
				c.Params = map[string]string{}
			}
			c.Params[inConversionVar] = "0"
			t.Config = c
			return OpenTarget(ctx, t, opt)
		}
	}
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxOpen)
	sqlDB.SetConnMaxLifetime(time.Hour)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("%s: database does not answer: %w", t, err)
	}
	return db, nil
}

// inConversionVar is MariaDB's threshold (10.3.18 and later) for turning
// an IN list into a subquery; 0 turns that off (see OpenTarget).
const inConversionVar = "in_predicate_conversion_threshold"

// mariaDBAtLeast tells whether version (SELECT VERSION(), e.g.
// "10.11.19-MariaDB-0+deb12u1") is MariaDB's major.minor.patch or later.
func mariaDBAtLeast(version string, major, minor, patch int) bool {
	if !strings.Contains(version, "MariaDB") {
		return false
	}
	num, _, _ := strings.Cut(version, "-")
	parts := strings.SplitN(num, ".", 3)
	want := []int{major, minor, patch}
	for i, w := range want {
		if i >= len(parts) {
			return false
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return false
		}
		if n != w {
			return n > w
		}
	}
	return true
}

// Close closes the pool behind db.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// IsMySQL tells whether db talks to MySQL or MariaDB.
func IsMySQL(db *gorm.DB) bool { return db.Dialector.Name() == DialectMySQL }

// translate maps GORM errors to ours.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		return ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return ErrDuplicate
	}
	return err
}

// quietDuplicates is GORM's logger without its ERROR line for a statement a
// unique key refused: here that is an answer, not a failure (an
// Idempotency-Key used again, an email taken, an event already stored),
// and the caller says it in words. Any other error is logged as before.
type quietDuplicates struct{ logger.Interface }

func (q quietDuplicates) LogMode(l logger.LogLevel) logger.Interface {
	return quietDuplicates{q.Interface.LogMode(l)}
}

func (q quietDuplicates) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		err = nil // still logged when slow
	}
	q.Interface.Trace(ctx, begin, fc, err)
}
