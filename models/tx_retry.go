package models

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
)

// retryTx runs fn in a transaction, again when MySQL chose it as a deadlock
// victim or a lock wait timed out (both are safe to repeat whole), when
// SQLite was busy, or when a claim or settle pass saw a row change under
// it. It is the one retry policy of the models package.
//
// On MySQL the transaction runs at READ COMMITTED: locking reads lock the
// rows they return and no gaps, so a claim or settle pass never blocks the
// inserts of new deliveries or pushed events, and rows its WHERE rejects
// are not held. Every statement that decides something re-checks its
// condition (status, lease owner, credits > 0), which is what makes it
// safe at that level.
func retryTx(ctx context.Context, db *gorm.DB, fn func(tx *gorm.DB) error) error {
	var opts []*sql.TxOptions
	if IsMySQL(db) {
		opts = append(opts, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	}
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		err = db.Transaction(fn, opts...)
		if err == nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
	return err
}

func retryable(err error) bool {
	if errors.Is(err, errCreditRace) || errors.Is(err, errSettleRace) {
		return true
	}
	var me *gomysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	return strings.Contains(err.Error(), "database is locked") || strings.Contains(err.Error(), "SQLITE_BUSY")
}
