package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/minipush/minipush/handlers"
	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/web"
)

// TestAPIMessagesBenchMariaDB offers POST /api/v1/messages at fixed rates
// (MINIPUSH_BENCH_RATES, default "200,500,700", each for
// MINIPUSH_BENCH_SECONDS, default 10) to the real router on a MariaDB
// database named by MINIPUSH_BENCH_API_DB (filled once, like the support
// benchmark, with MINIPUSH_BENCH_USERS users, default 100,000, and
// MINIPUSH_BENCH_DELIVERIES deliveries, default 1,000,000), without a
// delivery engine: it measures accepting, not sending. It prints, per
// rate, the answers, accepted/s and p50/p99, and where the time went: the
// enqueue transaction's latency and, with MINIPUSH_BENCH_SQLSTATS set, each
// SQL statement's count and latency.
// MINIPUSH_BENCH_CPUPROFILE writes a CPU profile of the load (go tool
// pprof). It is a measurement, not a check.
//
//	MINIPUSH_BENCH_API_DB=mp_api_load go test -run TestAPIMessagesBenchMariaDB -v -timeout 1h ./web/
func TestAPIMessagesBenchMariaDB(t *testing.T) {
	name := os.Getenv("MINIPUSH_BENCH_API_DB")
	if name == "" {
		t.Skip("set MINIPUSH_BENCH_API_DB to a MariaDB database name to run the API load benchmark")
	}
	users := envInt("MINIPUSH_BENCH_USERS", 100_000)
	deliveries := envInt("MINIPUSH_BENCH_DELIVERIES", 1_000_000)
	ctx := context.Background()
	db, appID, tplID := benchDB(t, name, users, deliveries)

	// MINIPUSH_BENCH_SQLSTATS=1: each statement's latency (its own cost:
	// about 8% of this process's CPU).
	stats := &sqlStats{byShape: map[string][]time.Duration{}}
	traced := db
	if os.Getenv("MINIPUSH_BENCH_SQLSTATS") != "" {
		traced = db.Session(&gorm.Session{Logger: stats})
	}
	usage := models.NewAPIKeyUsage(db, 2*time.Second, func(err error) { t.Logf("key usage not written yet (kept for the next flush): %v", err) })
	defer usage.Close(ctx)
	app := newBenchServer(t, traced, func(d *web.Deps) {
		d.Queue = &timedQueue{q: d.Queue, s: stats}
		d.APIKeyUsage = usage
	})
	rates := []int{200, 500, 700}
	if v := os.Getenv("MINIPUSH_BENCH_RATES"); v != "" {
		rates = rates[:0]
		for _, f := range strings.Split(v, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
				rates = append(rates, n)
			}
		}
	}
	secs := envInt("MINIPUSH_BENCH_SECONDS", 10)
	if p := os.Getenv("MINIPUSH_BENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	for _, rate := range rates {
		stats.reset()
		postMessagesAt(t, app, db, appID, tplID, min(users, 100_000), rate, secs)
		stats.report(t)
	}
}

// postMessagesAt offers POST /api/v1/messages at rate per second for secs
// seconds, open loop (a request starts at its time whatever the answers
// before it), to users among the first withCredit, and logs the answers,
// the accepted rate and the latencies.
func postMessagesAt(t *testing.T, app *testApp, db *gorm.DB, appID, tplID int64, withCredit, rate, secs int) {
	t.Helper()
	key, _, err := models.CreateAPIKey(context.Background(), db, appID, "bench", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tplWx string
	db.Raw("SELECT template_id FROM templates WHERE id = ?", tplID).Scan(&tplWx)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	total := rate * secs
	lat := make([]time.Duration, total)
	codes := make([]int, total)
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024}}
	interval := time.Second / time.Duration(rate)
	begin := time.Now()
	var late time.Duration
	for i := 0; i < total; i++ {
		at := begin.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		} else {
			late = max(late, -d)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			openid := fmt.Sprintf("o_bench_%07d", (i*7919)%withCredit)
			body := `{"template_id":"` + tplWx + `","openid":"` + openid + `","data":{"thing1":"订单已发货"}}`
			req, _ := http.NewRequest("POST", app.srv.URL+"/api/v1/messages", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", run+"-"+strconv.Itoa(i))
			start := time.Now()
			res, err := client.Do(req)
			if err != nil {
				lat[i], codes[i] = time.Since(start), -1
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			lat[i], codes[i] = time.Since(start), res.StatusCode
		}(i)
	}
	offered := time.Since(begin)
	wg.Wait()
	elapsed := time.Since(begin)
	client.CloseIdleConnections()
	byCode := map[int]int{}
	for _, c := range codes {
		byCode[c]++
	}
	report(t, fmt.Sprintf("POST /api/v1/messages at %d/s for %d s: answers %v, %.0f accepted/s (offered in %.2f s, generator at most %s late, all answered in %.2f s)",
		rate, secs, byCode, float64(byCode[202])/elapsed.Seconds(), offered.Seconds(), late.Round(time.Millisecond), elapsed.Seconds()), lat)
}

// sqlStats is a GORM logger that keeps each statement's latency by shape.
type sqlStats struct {
	mu      sync.Mutex
	byShape map[string][]time.Duration
}

var sqlLiterals = regexp.MustCompile(`'[^']*'|\b\d+(\.\d+)?\b|\(\?(,\?)*\)(,\(\?(,\?)*\))*`)

func (s *sqlStats) LogMode(logger.LogLevel) logger.Interface      { return s }
func (s *sqlStats) Info(context.Context, string, ...interface{})  {}
func (s *sqlStats) Warn(context.Context, string, ...interface{})  {}
func (s *sqlStats) Error(context.Context, string, ...interface{}) {}
func (s *sqlStats) Trace(_ context.Context, begin time.Time, fc func() (string, int64), _ error) {
	d := time.Since(begin)
	q, _ := fc()
	q = sqlLiterals.ReplaceAllString(q, "?")
	if len(q) > 110 {
		q = q[:110]
	}
	s.add(q, d)
}

func (s *sqlStats) add(shape string, d time.Duration) {
	s.mu.Lock()
	s.byShape[shape] = append(s.byShape[shape], d)
	s.mu.Unlock()
}

func (s *sqlStats) reset() {
	s.mu.Lock()
	s.byShape = map[string][]time.Duration{}
	s.mu.Unlock()
}

func (s *sqlStats) report(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	shapes := make([]string, 0, len(s.byShape))
	for k := range s.byShape {
		shapes = append(shapes, k)
	}
	sort.Slice(shapes, func(i, j int) bool { return total(s.byShape[shapes[i]]) > total(s.byShape[shapes[j]]) })
	for _, k := range shapes {
		report(t, fmt.Sprintf("  %s (total %.1f s)", k, total(s.byShape[k]).Seconds()), s.byShape[k])
	}
}

func total(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s
}

// timedQueue times each whole enqueue (its transaction and commit).
type timedQueue struct {
	q handlers.Enqueuer
	s *sqlStats
}

func (q *timedQueue) Enqueue(ctx context.Context, nd models.NewDelivery) (*models.Delivery, bool, error) {
	start := time.Now()
	d, created, err := q.q.Enqueue(ctx, nd)
	q.s.add("ENQUEUE (whole call)", time.Since(start))
	return d, created, err
}
