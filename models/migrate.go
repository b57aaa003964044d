package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Migration is one versioned schema step. Shipped migrations are never
// edited: later changes add a new step with the next version.
type Migration struct {
	Version int
	Name    string
	// Statements are run in order. Tokens in them are replaced per dialect
	// (see ddlTokens) so one text serves SQLite and MySQL.
	Statements []string
}

// ddlTokens maps the neutral column types used in migrations to each dialect.
var ddlTokens = map[string][2]string{ // token: {sqlite, mysql}
	"{ID}":      {"INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"},
	"{BIGINT}":  {"INTEGER", "BIGINT"},
	"{INT}":     {"INTEGER", "INT"},
	"{BOOL}":    {"INTEGER", "TINYINT(1)"},
	"{TIME}":    {"DATETIME", "DATETIME(6)"},
	"{TEXT}":    {"TEXT", "MEDIUMTEXT"},
	"{KEY}":     {"TEXT", "VARCHAR(191)"}, // short strings that are indexed
	"{SHORT}":   {"TEXT", "VARCHAR(64)"},
	"{OPTIONS}": {"", " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"},
}

// A statement starting with {MYSQL} or {SQLITE} is run on that dialect only
// (dialectSQL returns "" for the other), for the rare step the two cannot
// share, such as changing a primary key.
func dialectSQL(dialect, stmt string) string {
	i := 0
	if dialect == DialectMySQL {
		i = 1
	}
	if rest, ok := strings.CutPrefix(stmt, "{MYSQL}"); ok {
		if i == 0 {
			return ""
		}
		stmt = rest
	} else if rest, ok := strings.CutPrefix(stmt, "{SQLITE}"); ok {
		if i == 1 {
			return ""
		}
		stmt = rest
	}
	for tok, v := range ddlTokens {
		stmt = strings.ReplaceAll(stmt, tok, v[i])
	}
	// "DROP INDEX ix ON t" is MySQL's form; SQLite names the index alone.
	if dialect != DialectMySQL && strings.HasPrefix(stmt, "DROP INDEX ") {
		if on := strings.Index(stmt, " ON "); on > 0 {
			stmt = stmt[:on]
		}
	}
	return stmt
}

// SchemaVersion is the version the code expects.
func SchemaVersion() int {
	v := 0
	for _, m := range migrations {
		v = max(v, m.Version)
	}
	return v
}

// AppliedVersion reads the highest applied migration (0 when none).
func AppliedVersion(ctx context.Context, db *gorm.DB) (int, error) {
	if !db.Migrator().HasTable("schema_migrations") {
		return 0, nil
	}
	var v *int
	if err := db.WithContext(ctx).Raw("SELECT MAX(version) FROM schema_migrations").Scan(&v).Error; err != nil {
		return 0, err
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}

// MigrateResult tells what Migrate did.
type MigrateResult struct {
	From, To int
	Applied  []string
}

// Migrate applies every migration not yet recorded, in order. On MySQL a
// named lock keeps two instances from migrating at once.
func Migrate(ctx context.Context, db *gorm.DB) (MigrateResult, error) {
	var res MigrateResult
	run := func(conn *gorm.DB) error {
		if err := conn.Exec(dialectSQL(conn.Dialector.Name(), `CREATE TABLE IF NOT EXISTS schema_migrations (
			version {INT} NOT NULL PRIMARY KEY,
			name {KEY} NOT NULL,
			applied_at {TIME} NOT NULL){OPTIONS}`)).Error; err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		from, err := AppliedVersion(ctx, conn)
		if err != nil {
			return err
		}
		res.From, res.To = from, from
		if from > SchemaVersion() {
			return fmt.Errorf("the database schema is at version %d, newer than this binary knows (%d): run a newer minipush", from, SchemaVersion())
		}
		applied, err := appliedSet(conn)
		if err != nil {
			return err
		}
		for _, m := range migrations {
			if applied[m.Version] {
				continue
			}
			step := func(tx *gorm.DB) error {
				for i, s := range m.Statements {
					s = dialectSQL(tx.Dialector.Name(), s)
					if s == "" {
						continue // the other dialect's statement
					}
					if err := tx.Exec(s).Error; err != nil {
						return fmt.Errorf("migration %d (%s), statement %d: %w", m.Version, m.Name, i+1, err)
					}
				}
				if err := tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
					m.Version, m.Name, time.Now().UTC()).Error; err != nil {
					return fmt.Errorf("record migration %d: %w", m.Version, err)
				}
				return nil
			}
			var err error
			if IsMySQL(conn) {
				err = step(conn) // MySQL commits each DDL statement by itself
			} else {
				err = conn.Transaction(step) // SQLite: a failed step leaves nothing behind
			}
			if err != nil {
				return err
			}
			res.To = m.Version
			res.Applied = append(res.Applied, fmt.Sprintf("%04d_%s", m.Version, m.Name))
		}
		return nil
	}
	db = db.WithContext(ctx)
	if !IsMySQL(db) {
		return res, run(db)
	}
	// GET_LOCK is per connection: hold one connection for the whole run.
	// Lock names are global to the server: the database's name is part of
	// it, so migrating one database does not hold up another's.
	err := db.Connection(func(conn *gorm.DB) error {
		var got *int
		if err := conn.Raw("SELECT GET_LOCK(CONCAT('minipush_migrate:', DATABASE()), 60)").Scan(&got).Error; err != nil {
			return err
		}
		if got == nil || *got != 1 {
			return errors.New("another instance is migrating this database: timed out waiting for its lock")
		}
		defer conn.Exec("SELECT RELEASE_LOCK(CONCAT('minipush_migrate:', DATABASE()))")
		return run(conn)
	})
	return res, err
}

// appliedSet reads which versions are recorded. Migrate applies every
// version not in it, so a step added below one already applied elsewhere
// (two branches landing together) is still run.
func appliedSet(db *gorm.DB) (map[int]bool, error) {
	var vs []int
	if err := db.Raw("SELECT version FROM schema_migrations").Scan(&vs).Error; err != nil {
		return nil, err
	}
	out := make(map[int]bool, len(vs))
	for _, v := range vs {
		out[v] = true
	}
	return out, nil
}

// CheckSchema reports an error unless the schema is current (for /readyz).
func CheckSchema(ctx context.Context, db *gorm.DB) error {
	v, err := AppliedVersion(ctx, db)
	if err != nil {
		return err
	}
	if v != SchemaVersion() {
		return fmt.Errorf("schema at version %d, expected %d: run minipush migrate", v, SchemaVersion())
	}
	if !db.Migrator().HasTable("schema_migrations") {
		return nil
	}
	applied, err := appliedSet(db.WithContext(ctx))
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if !applied[m.Version] {
			return fmt.Errorf("migration %d (%s) is not applied: run minipush migrate", m.Version, m.Name)
		}
	}
	return nil
}
