package web_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/minipush/minipush/handlers"
	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/web"
)

// TestSupportBenchMariaDB measures, on a MariaDB database filled with
// MINIPUSH_BENCH_USERS users (default 1,000,000) and MINIPUSH_BENCH_DELIVERIES
// deliveries (default 10,000,000), the latency of the user page's queries,
// of the whole user page, of filtered delivery lists, and of POST
// /api/v1/messages at a fixed rate. It is a measurement, not a check: it
// prints figures and query plans and fails only on errors. It runs only
// with MINIPUSH_BENCH_DB set to a database name (kept between runs, so the
// data is generated once), e.g.
//
//	MINIPUSH_BENCH_DB=mp_support_bench go test -run TestSupportBenchMariaDB -v -timeout 2h ./web/
func TestSupportBenchMariaDB(t *testing.T) {
	name := os.Getenv("MINIPUSH_BENCH_DB")
	if name == "" {
		t.Skip("set MINIPUSH_BENCH_DB to a MariaDB database name to run the support benchmark")
	}
	users := envInt("MINIPUSH_BENCH_USERS", 1_000_000)
	deliveries := envInt("MINIPUSH_BENCH_DELIVERIES", 10_000_000)
	ctx := context.Background()
	db, appID, tplID := benchDB(t, name, users, deliveries)

	// MINIPUSH_BENCH_SKIP (e.g. "users,lists") leaves parts out: users
	// (the user page's queries, searches, the whole page), lists, api.
	skip := func(part string) bool { return strings.Contains(os.Getenv("MINIPUSH_BENCH_SKIP"), part) }
	app := newBenchServer(t, db)
	var q []time.Duration
	if !skip("users") {
		// The user page's queries, for random users, each part timed too.
		const samples = 2000
		parts := make([][]time.Duration, 4)
		for i := 0; i < samples; i++ {
			uid := int64(rand.IntN(users) + 1)
			start := time.Now()
			u, err := models.GetUser(ctx, db, uid)
			if err != nil {
				t.Fatal(err)
			}
			t1 := time.Now()
			if _, err := models.ListUserSubscriptions(ctx, db, u.ID); err != nil {
				t.Fatal(err)
			}
			t2 := time.Now()
			if _, _, err := models.LastAnswers(ctx, db, u.ID); err != nil {
				t.Fatal(err)
			}
			t3 := time.Now()
			if _, _, err := models.UserTimeline(ctx, db, u.ID, models.TimelineCursor{}, 50); err != nil {
				t.Fatal(err)
			}
			end := time.Now()
			q = append(q, end.Sub(start))
			for j, d := range []time.Duration{t1.Sub(start), t2.Sub(t1), t3.Sub(t2), end.Sub(t3)} {
				parts[j] = append(parts[j], d)
			}
		}
		report(t, "user page queries one after another (user, subscriptions, last answers, timeline of 50)", q)
		for j, name := range []string{"user", "subscriptions", "last accept/reject", "timeline (events + messages)"} {
			report(t, "  of which "+name, parts[j])
		}
		// As the page reads them now: the user, then LoadUserStory (three
		// queries side by side, last answers from the events read).
		q = q[:0]
		for i := 0; i < samples; i++ {
			uid := int64(rand.IntN(users) + 1)
			start := time.Now()
			u, err := models.GetUser(ctx, db, uid)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := models.LoadUserStory(ctx, db, u.ID, models.TimelineCursor{}, 50); err != nil {
				t.Fatal(err)
			}
			q = append(q, time.Since(start))
		}
		report(t, "user page queries as the page runs them (user, then LoadUserStory)", q)
		for _, field := range []string{models.UserByBusinessID, models.UserByUnionID, models.UserByAny} {
			q = q[:0]
			for i := 0; i < samples; i++ {
				n := rand.IntN(users)
				v := map[string]string{models.UserByBusinessID: "cust-" + strconv.Itoa(n), models.UserByUnionID: fmt.Sprintf("u_%07d", n), "": "cust-" + strconv.Itoa(n)}[field]
				start := time.Now()
				if _, err := models.SearchUsers(ctx, db, models.UserSearch{AppID: appID, Field: field, Q: v, Limit: 51}); err != nil {
					t.Fatal(err)
				}
				q = append(q, time.Since(start))
			}
			report(t, "user search by "+orAny(field), q)
		}

		// The whole user page through the router (queries, lookups, rendering).
		staff, err := models.GetStaffByEmail(ctx, db, "bench@example.com")
		if err != nil {
			staff = mustStaff(t, db, "bench@example.com", models.RoleSupport)
		}
		c := app.signedIn(staff)
		q = q[:0]
		for i := 0; i < 500; i++ {
			uid := rand.IntN(users) + 1
			start := time.Now()
			r := c.get("/users/" + strconv.Itoa(uid))
			q = append(q, time.Since(start))
			if r.status != 200 {
				t.Fatalf("user page %d", r.status)
			}
		}
		report(t, "GET /users/{id} whole page", q)
	}
	if !skip("lists") {
		// Filtered delivery lists: first pages and a page deep in the list.
		var maxID int64
		db.Raw("SELECT MAX(id) FROM deliveries").Scan(&maxID)
		code, never := 43101, 40037
		filters := map[string]models.DeliveryFilter{
			"account":                         {AppID: appID},
			"account, deep page":              {AppID: appID, Before: maxID / 2},
			"account + failed":                {AppID: appID, Status: models.DeliveryFailed},
			"account + errcode 43101":         {AppID: appID, ErrCode: &code},
			"account + template + last 24 h":  {AppID: appID, TemplateID: tplID, From: time.Now().Add(-24 * time.Hour)},
			"account + source api":            {AppID: appID, Source: models.DeliverySourceAPI},
			"account + unknown (rare status)": {AppID: appID, Status: models.DeliveryUnknown},
			"account + failed, deep page":     {AppID: appID, Status: models.DeliveryFailed, Before: maxID / 2},
			"account + errcode never seen":    {AppID: appID, ErrCode: &never},
			"account + source test (no index: reads the account until 51 match)": {AppID: appID, Source: models.DeliverySourceTest},
			"account + time range 2 days, 10 days back":                          {AppID: appID, From: time.Now().Add(-10 * 24 * time.Hour), To: time.Now().Add(-8 * 24 * time.Hour)},
		}
		keys := make([]string, 0, len(filters))
		for k := range filters {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			f := filters[k]
			f.Limit = 51
			q = q[:0]
			n := 100
			if strings.Contains(k, "no index") {
				n = 20
			}
			for i := 0; i < n; i++ {
				start := time.Now()
				if _, err := models.ListDeliveries(ctx, db, f); err != nil {
					t.Fatal(err)
				}
				q = append(q, time.Since(start))
			}
			report(t, "deliveries list: "+k, q)
		}
		explain(t, db, "EXPLAIN SELECT * FROM deliveries FORCE INDEX (ix_deliveries_app_status) WHERE app_id = ? AND status = 'failed' AND id < ? ORDER BY app_id DESC, id DESC LIMIT 51", appID, maxID/2)
		explain(t, db, "EXPLAIN SELECT * FROM deliveries FORCE INDEX (ix_deliveries_app_errcode) WHERE app_id = ? AND errcode = 40037 ORDER BY app_id DESC, id DESC LIMIT 51", appID)
		explain(t, db, "EXPLAIN SELECT * FROM deliveries FORCE INDEX (ix_deliveries_app_tpl) WHERE app_id = ? AND template_id = 1 AND id < ? ORDER BY app_id DESC, id DESC LIMIT 51", appID, maxID/2)
		explain(t, db, "EXPLAIN SELECT * FROM deliveries WHERE app_id = ? AND id < ? ORDER BY id DESC LIMIT 51 -- without the hint", appID, maxID/2)
		explain(t, db, "EXPLAIN SELECT * FROM deliveries WHERE user_id = 4242 ORDER BY id DESC LIMIT 51")
		explain(t, db, "EXPLAIN SELECT * FROM subscription_events WHERE user_id = 4242 ORDER BY id DESC LIMIT 51")
		explain(t, db, "EXPLAIN SELECT users.* FROM users WHERE users.app_id = ? AND (users.openid = 'x' OR users.unionid = 'x' OR users.business_id = 'x') ORDER BY users.id DESC LIMIT 51", appID)
	}
	if !skip("api") {
		// POST /api/v1/messages at a fixed rate (accepted, not sent: no engine
		// runs), to users holding credits (the first 100,000, see fill).
		postMessagesAt(t, app, db, appID, tplID, min(users, 100_000), envInt("MINIPUSH_BENCH_RATE", 500), envInt("MINIPUSH_BENCH_SECONDS", 10))
	}
}

// benchDB opens (creating it when missing) and migrates the MariaDB
// database name, fills it once with users and deliveries (see fill) and
// returns it with the bench account and its first template. It is closed
// when the test ends.
func benchDB(t *testing.T, name string, users, deliveries int) (db *gorm.DB, appID, tplID int64) {
	t.Helper()
	ctx := context.Background()
	if admin, err := sql.Open("mysql", "root@tcp(127.0.0.1:3306)/"); err == nil {
		_, _ = admin.Exec("CREATE DATABASE IF NOT EXISTS " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
		admin.Close()
	}
	db, err := models.Open(ctx, "mysql:root@tcp(127.0.0.1:3306)/"+name, models.OpenOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { models.Close(db) })
	if _, err := models.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	fill(t, db, users, deliveries)
	db.Raw("SELECT id FROM apps WHERE app_id = 'wx00000000bench001'").Scan(&appID)
	db.Raw("SELECT id FROM templates WHERE app_id = ? ORDER BY id LIMIT 1", appID).Scan(&tplID)
	return db, appID, tplID
}

func orAny(f string) string {
	if f == "" {
		return "openid/unionid/business id (any)"
	}
	return f
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func report(t *testing.T, what string, d []time.Duration) {
	t.Helper()
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	p := func(q float64) string {
		return fmt.Sprintf("%.2f ms", float64(s[int(q*float64(len(s)-1))].Microseconds())/1000)
	}
	t.Logf("%-80s n=%d p50 %s p99 %s max %s", what, len(s), p(0.5), p(0.99), p(1))
}

func explain(t *testing.T, db *gorm.DB, sql string, args ...any) {
	t.Helper()
	rows, err := db.Raw(sql, args...).Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		_ = rows.Scan(ptrs...)
		var parts []string
		for i, c := range cols {
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
			if c == "table" || c == "type" || c == "key" || c == "rows" || c == "Extra" {
				parts = append(parts, fmt.Sprintf("%s=%v", c, vals[i]))
			}
		}
		lines = append(lines, strings.Join(parts, " "))
	}
	t.Logf("%s\n    %s", sql, strings.Join(lines, "\n    "))
}

// newBenchServer is the real router on the bench database, without an engine.
// opts adjust its dependencies (the API bench counts key usage in memory
// and times the queue).
func newBenchServer(t *testing.T, db *gorm.DB, opts ...func(*web.Deps)) *testApp {
	t.Helper()
	key, _ := models.ParseSecretKey(models.NewSecretKey())
	sealer, _ := models.NewSealer(key)
	loc, _ := time.LoadLocation("Asia/Shanghai")
	d := web.Deps{DB: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Sealer: sealer, Location: loc,
		Queue: handlers.DBQueue{DB: db}}
	for _, o := range opts {
		o(&d)
	}
	s := web.New(d)
	srv := httptest.NewServer(s.Echo)
	t.Cleanup(srv.Close)
	return &testApp{t: t, db: db, srv: srv, log: &syncBuffer{}}
}

// fill generates the data set once, server-side from MariaDB's sequence
// tables: users (business and union ids), two subscription events each,
// credits for the first 100,000, and deliveries spread over users (about
// 90% delivered, 5% failed with 43101, 3% skipped, 1% unknown, 1% sent;
// half through an API key, half test sends), queued over the last 30 days.
func fill(t *testing.T, db *gorm.DB, users, deliveries int) {
	t.Helper()
	var have int64
	db.Raw("SELECT COUNT(*) FROM deliveries").Scan(&have)
	if have >= int64(deliveries) {
		t.Logf("data set present: %d deliveries", have)
		return
	}
	must := func(sql string, args ...any) {
		t.Helper()
		start := time.Now()
		if err := db.Exec(sql, args...).Error; err != nil {
			t.Fatalf("%s: %v", sql[:min(80, len(sql))], err)
		}
		t.Logf("%6.1f s  %s", time.Since(start).Seconds(), sql[:min(90, len(sql))])
	}
	for _, tb := range []string{"deliveries", "subscription_events", "subscriptions", "user_tags", "users", "api_keys", "templates", "apps"} {
		must("DELETE FROM " + tb)
	}
	must(`INSERT INTO apps (id, app_id, name, secret_enc, push_token_enc, aes_key_enc, created_at, updated_at)
		VALUES (1, 'wx00000000bench001', 'bench', '', '', '', NOW(), NOW())`)
	must(`INSERT INTO templates (id, app_id, template_id, title, content, example, keywords, created_at, updated_at) VALUES
		(1, 1, 'TPL_BENCH_1', '发货通知', '商品:{{thing1.DATA}}', '', '[{"key":"thing1","label":"商品","type":"thing"}]', NOW(), NOW()),
		(2, 1, 'TPL_BENCH_2', '支付成功', '商品:{{thing1.DATA}}', '', '[{"key":"thing1","label":"商品","type":"thing"}]', NOW(), NOW())`)
	must(`INSERT INTO api_keys (id, app_id, name, prefix, key_hash, created_at) VALUES (1, 1, 'seed', 'mpk_seed', 'seed', NOW())`)
	must(fmt.Sprintf(`INSERT INTO users (id, app_id, openid, unionid, business_id, attributes, tags, created_at, updated_at)
		SELECT seq, 1, CONCAT('o_bench_', LPAD(seq - 1, 7, '0')), CONCAT('u_', LPAD(seq - 1, 7, '0')), CONCAT('cust-', seq - 1),
		'{"name":"用户"}', '[]', NOW() - INTERVAL 60 DAY, NOW() FROM seq_1_to_%d`, users))
	must(fmt.Sprintf(`INSERT INTO subscriptions (user_id, template_id, credits, long_term, status, created_at, updated_at)
		SELECT seq, 1, IF(seq <= 100000, 1000, 0), 0, 'accept', NOW(), NOW() FROM seq_1_to_%d`, users))
	must(fmt.Sprintf(`INSERT INTO subscription_events (app_id, user_id, template_id, wx_template_id, kind, delta, source, created_at)
		SELECT 1, (seq DIV 2) + 1, 1, 'TPL_BENCH_1', IF(seq %% 2 = 0, 'accept', 'spend'), IF(seq %% 2 = 0, 1, -1),
		IF(seq %% 2 = 0, 'wechat', 'engine'), NOW() - INTERVAL (seq %% 43200) MINUTE FROM seq_0_to_%d`, 2*users-1))
	const chunk = 500_000
	for from := 0; from < deliveries; from += chunk {
		to := min(from+chunk, deliveries) - 1
		must(fmt.Sprintf(`INSERT INTO deliveries (app_id, user_id, template_id, api_key_id, idempotency_key, openid, page, data, status, reason,
			attempts, next_attempt_at, credit_spent, errcode, errmsg, msgid, queued_at, called_at, sent_at, settled_at, created_at, updated_at)
			SELECT 1, (seq %% %d) + 1, 1 + (seq %% 2), IF(seq %% 2 = 0, 1, NULL), IF(seq %% 2 = 0, CONCAT('k', seq), NULL),
			CONCAT('o_bench_', LPAD(seq %% %d, 7, '0')), '', '{"thing1":"订单已发货"}',
			ELT(1 + (seq %% 100 > 89) + (seq %% 100 > 94) + (seq %% 100 > 97) + (seq %% 100 > 98),
				'delivered', 'failed', 'skipped', 'unknown', 'sent'),
			IF(seq %% 100 BETWEEN 90 AND 94, 'wechat', ''), 1, t, 1, IF(seq %% 100 BETWEEN 90 AND 94, 43101, 0), '',
			IF(seq %% 100 < 90, seq, NULL), t, t, t, t, t, t
			FROM (SELECT seq, NOW() - INTERVAL ((%d - seq) * 259000) MICROSECOND AS t FROM seq_%d_to_%d) s`,
			users, users, deliveries, from, to))
	}
	must("ANALYZE TABLE users, deliveries, subscription_events, subscriptions")
}
