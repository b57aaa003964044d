package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
)

// The cost of a message, whole: CPU of this process and of the database
// server, statements and rows written, per message, over the engine phase
// and settlement (engine start until every accepted message is settled, or
// 5 minutes after the last send). Wall-clock messages per second depend on
// what else runs on the machine; CPU seconds and statements per message
// much less.

// benchCost holds the cost figures of `minipush bench --json`.
type benchCost struct {
	// CostSeconds is the window measured: engine start to settled;
	// CostSettled the share of accepted messages settled at its end.
	CostSeconds float64 `json:"cost_window_seconds"`
	CostSettled float64 `json:"cost_window_settled_share"`
	// MinipushCPUPer1k: this process (engine, push endpoint, settler; the
	// sandbox too with --sandbox inline; on SQLite the database too).
	MinipushCPUPer1k float64 `json:"minipush_cpu_sec_per_1k"`
	// SandboxCPUPer1k: the sandbox process (WeChat's side: its API and its
	// pushes); -1 with --sandbox inline.
	SandboxCPUPer1k float64 `json:"sandbox_cpu_sec_per_1k"`
	// DBServerCPUPer1k: the whole database server process (mariadbd or
	// mysqld, found by name in /proc when the server is on this machine;
	// -1 when not found): its background threads too, and whatever else
	// runs on that server meanwhile.
	DBServerCPUPer1k float64 `json:"db_server_cpu_sec_per_1k"`
	// DBUserCPUPer1k: the CPU the server spent on this bench's statements
	// only (MariaDB's USER_STATISTICS for a throwaway user of the bench's
	// own; -1 when unavailable). Not disturbed by other clients.
	DBUserCPUPer1k float64 `json:"db_statement_cpu_sec_per_1k"`
	// StatementsPerMsg: statements this process sent (counted by a GORM
	// callback: transactions' BEGIN and COMMIT are not included).
	StatementsPerMsg float64 `json:"statements_per_msg"`
	// CommitsPerMsg: commits as MariaDB's USER_STATISTICS counts them
	// (commit_transactions): every statement that touches a table counts
	// one, inside a transaction too, and its COMMIT another (3 autocommit
	// SELECTs, 1 autocommit UPDATE and BEGIN; SELECT; UPDATE; COMMIT
	// counted 7 on 10.11): more a count of statements than of
	// transactions. -1 when unavailable.
	CommitsPerMsg float64 `json:"commits_per_msg"`
	// RowsWrittenPerMsg: rows the statements reported changed (inserted,
	// updated, deleted; on MySQL an upsert that updates counts 2).
	RowsWrittenPerMsg float64 `json:"rows_written_per_msg"`
	// IndexRowsPerMsg: MariaDB's TABLE_STATISTICS rows_changed_x_indexes
	// summed over the bench database's tables (each row change times the
	// indexes of its table, primary key included; -1 when unavailable).
	IndexRowsPerMsg float64 `json:"index_rows_changed_per_msg"`
}

// stmtCounter counts statements and the rows they changed, through GORM
// callbacks on every kind of statement.
type stmtCounter struct {
	stmts, rows atomic.Int64
}

func (c *stmtCounter) register(db *gorm.DB) error {
	count := func(write bool) func(*gorm.DB) {
		return func(tx *gorm.DB) {
			if tx.Statement == nil || tx.Statement.SQL.Len() == 0 {
				return
			}
			c.stmts.Add(1)
			if write && tx.Error == nil && tx.Statement.RowsAffected > 0 {
				c.rows.Add(tx.Statement.RowsAffected)
			}
		}
	}
	cb := db.Callback()
	for _, err := range []error{
		cb.Create().After("gorm:create").Register("bench:count_create", count(true)),
		cb.Update().After("gorm:update").Register("bench:count_update", count(true)),
		cb.Delete().After("gorm:delete").Register("bench:count_delete", count(true)),
		cb.Raw().After("gorm:raw").Register("bench:count_raw", count(true)),
		cb.Query().After("gorm:query").Register("bench:count_query", count(false)),
		cb.Row().After("gorm:row").Register("bench:count_row", count(false)),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// costSnap is one reading of every counter.
type costSnap struct {
	self, server float64 // CPU seconds; server -1: unknown
	sandbox      float64 // CPU seconds of the sandbox process; -1: none (inline)
	stmts, rows  int64
	user         userStats
	indexRows    int64 // -1: unknown
}

type costMeter struct {
	admin     *sql.DB // the server as the DSN's user (MySQL): reads the statistics
	counter   *stmtCounter
	serverPID int    // 0: no server process here
	user      string // the bench's own database user (MySQL with userstat); "": none
	schema    string // the bench database (MySQL)
	sandbox   benchWeChat
}

func (m *costMeter) snap() costSnap {
	s := costSnap{self: cpuSeconds(), server: -1, sandbox: -1, stmts: m.counter.stmts.Load(), rows: m.counter.rows.Load(), indexRows: -1}
	if m.sandbox != nil {
		s.sandbox = m.sandbox.CPUSeconds()
	}
	if m.serverPID > 0 {
		cpu, err := procCPUSeconds(m.serverPID)
		if err != nil {
			cpu, err = procCPUSeconds(m.serverPID) // once more
		}
		if err == nil {
			s.server = cpu
		}
	}
	if m.admin != nil && m.user != "" {
		s.user = readUserStats(m.admin, m.user)
		var n sql.NullInt64
		if err := m.admin.QueryRow("SELECT SUM(rows_changed_x_indexes) FROM information_schema.table_statistics WHERE table_schema = ?",
			m.schema).Scan(&n); err == nil {
			s.indexRows = n.Int64
		}
	}
	return s
}

// result turns two readings into per-message figures.
func (m *costMeter) result(a, b costSnap, msgs int64, seconds float64) benchCost {
	c := benchCost{CostSeconds: seconds, DBServerCPUPer1k: -1, DBUserCPUPer1k: -1, CommitsPerMsg: -1, IndexRowsPerMsg: -1, SandboxCPUPer1k: -1}
	if msgs <= 0 {
		return c
	}
	k := float64(msgs) / 1000
	n := float64(msgs)
	c.MinipushCPUPer1k = (b.self - a.self) / k
	if a.server >= 0 && b.server >= 0 {
		c.DBServerCPUPer1k = (b.server - a.server) / k
	}
	if a.sandbox >= 0 && b.sandbox >= 0 {
		c.SandboxCPUPer1k = (b.sandbox - a.sandbox) / k
	}
	if a.user.ok && b.user.ok {
		c.DBUserCPUPer1k = (b.user.cpu - a.user.cpu) / k
		c.CommitsPerMsg = float64(b.user.commits-a.user.commits) / n
	}
	c.StatementsPerMsg = float64(b.stmts-a.stmts) / n
	c.RowsWrittenPerMsg = float64(b.rows-a.rows) / n
	if a.indexRows >= 0 && b.indexRows >= 0 {
		c.IndexRowsPerMsg = float64(b.indexRows-a.indexRows) / n
	}
	return c
}

type userStats struct {
	ok      bool
	cpu     float64
	commits int64
}

func readUserStats(admin *sql.DB, user string) userStats {
	var u userStats
	err := admin.QueryRow("SELECT cpu_time, commit_transactions FROM information_schema.user_statistics WHERE user = ?", user).
		Scan(&u.cpu, &u.commits)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return userStats{ok: true} // nothing counted yet
	case err != nil:
		return userStats{}
	}
	u.ok = true
	return u
}

// benchOwnUser gives the bench a database user of its own on a MariaDB
// server with user statistics (userstat; switched on for the run when it
// was off and switched back after), so the server's statement CPU and
// commits of this bench can be read apart from every other client's. It
// returns the DSN to use (the given one when that cannot be done), the
// meter's admin connection and user, and a cleanup.
func benchOwnUser(benchDSN string) (dsn string, admin *sql.DB, user string, cleanup func()) {
	cleanup = func() {}
	t, err := models.ParseDSN(benchDSN)
	if err != nil || t.Dialect != models.DialectMySQL {
		return benchDSN, nil, "", cleanup
	}
	a := *t.Config
	admin, err = sql.Open("mysql", a.FormatDSN())
	if err != nil {
		return benchDSN, nil, "", cleanup
	}
	var was int
	if err := admin.QueryRow("SELECT @@global.userstat").Scan(&was); err != nil {
		admin.Close()
		return benchDSN, nil, "", cleanup // not MariaDB, or no user statistics
	}
	if was == 0 {
		if _, err := admin.Exec("SET GLOBAL userstat = 1"); err != nil {
			admin.Close()
			return benchDSN, nil, "", cleanup
		}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	user = "mpbench_" + hex.EncodeToString(b[:4])
	pass := hex.EncodeToString(b[4:]) + hex.EncodeToString(b[:4])
	undo := func() {
		_, _ = admin.Exec("DROP USER IF EXISTS '" + user + "'@'%'")
		if was == 0 {
			_, _ = admin.Exec("SET GLOBAL userstat = 0")
		}
		admin.Close()
	}
	// PROCESS: the settler reads its own transaction's locks from
	// information_schema.innodb_trx.
	for _, q := range []string{
		"CREATE USER '" + user + "'@'%' IDENTIFIED BY '" + pass + "'",
		"GRANT ALL PRIVILEGES ON `" + t.Config.DBName + "`.* TO '" + user + "'@'%'",
		"GRANT PROCESS ON *.* TO '" + user + "'@'%'",
	} {
		if _, err := admin.Exec(q); err != nil {
			undo()
			return benchDSN, nil, "", cleanup
		}
	}
	c := *t.Config
	c.User, c.Passwd = user, pass
	return "mysql:" + c.FormatDSN(), admin, user, undo
}

// dbServerPID finds the database server process on this machine by name
// (mariadbd, then mysqld); 0 when the server is elsewhere or not found.
func dbServerPID(t models.Target) int {
	if t.Dialect != models.DialectMySQL || t.Config == nil {
		return 0
	}
	host := t.Config.Addr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if t.Config.Net != "unix" && host != "127.0.0.1" && host != "localhost" && host != "::1" && host != "[::1]" {
		return 0
	}
	// Several tries: /proc changes while it is read on a busy machine.
	for range 3 {
		ents, _ := os.ReadDir("/proc")
		for _, name := range []string{"mariadbd", "mysqld"} {
			for _, e := range ents {
				pid, err := strconv.Atoi(e.Name())
				if err != nil {
					continue
				}
				b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
				if err == nil && strings.TrimSpace(string(b)) == name {
					return pid
				}
			}
		}
	}
	return 0
}

// procCPUSeconds reads a process's user + system CPU time from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s).
func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return (ut + st) / 100, nil
}

// orNA formats v, or "n/a" when it is negative (not measured).
func orNA(v float64, format string) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf(format, v)
}

// benchSettledAll waits (at most limit) until every accepted message is
// settled and the sandbox has pushed everything, so the cost measured
// covers each message's whole way on a loaded machine too. It returns the
// share settled when it stopped.
func benchSettledAll(ctx context.Context, db *gorm.DB, sb benchWeChat, sent int64, limit time.Duration) (float64, error) {
	deadline := time.Now().Add(limit)
	for {
		st, err := models.CountedStatuses(ctx, db) // counters: polled every 100 ms, a count of the rows read them all (1,000,000 at 1M)
		if err != nil {
			return 0, err
		}
		settled := st[models.DeliveryDelivered] + st[models.DeliveryFailed]
		share := 1.0
		if sent > 0 {
			share = float64(settled) / float64(sent)
		}
		stats, err := sb.Stats(ctx)
		if err != nil {
			return 0, err
		}
		if (settled >= sent && stats.PushesPending == 0) || time.Now().After(deadline) || ctx.Err() != nil {
			return share, ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
}
