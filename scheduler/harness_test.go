package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

// testClock is real time plus an offset tests can move.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.off = time.Until(t)
	c.mu.Unlock()
}

// harness is a database, an in-process sandbox with one app whose pushes
// reach ApplyEvent, and helpers to seed users and deliveries.
type harness struct {
	t      *testing.T
	db     *gorm.DB
	dsn    string
	sb     *sandbox.Server
	url    string
	sealer *models.Sealer
	clock  *testClock
	app    *models.App
	tpl    *models.Template // one-time: thing1 + number2
	quiet  *slog.Logger

	arrMu    sync.Mutex
	arrivals map[int64]int // unix second → sends the sandbox received
}

const (
	testAppID   = "wx00000000000000a1"
	testSecret  = "sandbox-secret"
	testToken   = "pushtoken"
	testTplID   = "TPL_ORDER"
	testContent = "商品名称:{{thing1.DATA}}\n数量:{{number2.DATA}}"
)

func newHarness(t *testing.T, db *gorm.DB, dsn string) *harness {
	t.Helper()
	h := &harness{t: t, db: db, dsn: dsn, clock: &testClock{}, arrivals: map[int64]int{},
		quiet: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h.sb = sandbox.New(sandbox.Options{Now: h.clock.Now, PushRetryDelay: 50 * time.Millisecond, PushWorkers: 8, PushQueue: 100000})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == wechat.PathSend {
			h.arrMu.Lock()
			h.arrivals[time.Now().Unix()]++
			h.arrMu.Unlock()
		}
		h.sb.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); _ = h.sb.Close() })
	h.url = srv.URL
	key := make([]byte, 32)
	sealer, err := models.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	h.sealer = sealer
	now := time.Now().UTC()
	h.app = &models.App{AppID: testAppID, Name: "Test shop", SecretEnc: sealer.Seal(testSecret), APIBaseURL: h.url,
		PushMode: "plain", PushFormat: "json", RateLimit: 0, Timezone: "Asia/Shanghai", QuietPolicy: "defer",
		MPState: "formal", Lang: "zh_CN", SyncEveryHours: 6, CreatedAt: now, UpdatedAt: now}
	if err := db.Create(h.app).Error; err != nil {
		t.Fatal(err)
	}
	push, err := wechat.NewPush(testToken, "", testAppID)
	if err != nil {
		t.Fatal(err)
	}
	// As serve takes pushes: sent events through a writer, which settles
	// the plain ones on arrival (the settle pass takes the rest).
	events := models.NewSentEventWriter(db)
	t.Cleanup(events.Close) // after the push server's Close below (cleanups run last first)
	pushSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := push.ParseRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := models.ApplyPushEvent(r.Context(), db, events, h.app, ev, h.clock.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "success")
	}))
	t.Cleanup(pushSrv.Close)
	if err := h.sb.AddApp(sandbox.AppConfig{AppID: testAppID, Secret: testSecret, PushURL: pushSrv.URL, PushToken: testToken}); err != nil {
		t.Fatal(err)
	}
	h.tpl = h.addTemplate(testTplID, testContent, wechat.TemplateOneTime)
	return h
}

func (h *harness) addTemplate(wxID, content string, typ int) *models.Template {
	h.t.Helper()
	if _, err := h.sb.AddTemplate(testAppID, wechat.Template{PriTmplID: wxID, Title: "订单通知", Content: content, Type: typ}); err != nil {
		h.t.Fatal(err)
	}
	kws, err := wechat.ParseContent(content)
	if err != nil {
		h.t.Fatal(err)
	}
	tk := models.KeywordsFromWeChat(kws)
	kind := models.TemplateOneTime
	if typ == wechat.TemplateLongTerm {
		kind = models.TemplateLongTerm
	}
	tpl := &models.Template{AppID: h.app.ID, TemplateID: wxID, Title: "订单通知", Content: content, Kind: kind}
	tpl.SetKeywords(tk)
	if err := models.CreateTemplate(context.Background(), h.db, tpl); err != nil {
		h.t.Fatal(err)
	}
	return tpl
}

// seedUsers creates n users "<prefix>N" with dbCredits credits of tpl in the
// database and wxCredits in the sandbox (for a long-term template: on when
// > 0; < 0: unknown to WeChat). attrs is stored as each user's attributes.
func (h *harness) seedUsers(prefix string, n int, tpl *models.Template, dbCredits, wxCredits int, attrs map[string]any) []models.User {
	h.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	ab, _ := json.Marshal(attrs)
	if attrs == nil {
		ab = []byte("{}")
	}
	users := make([]models.User, n)
	for i := range users {
		users[i] = models.User{AppID: h.app.ID, OpenID: fmt.Sprintf("%s%05d", prefix, i), Attributes: string(ab), Tags: "[]", CreatedAt: now, UpdatedAt: now}
	}
	if err := h.db.WithContext(ctx).CreateInBatches(users, 500).Error; err != nil {
		h.t.Fatal(err)
	}
	subs := make([]models.Subscription, n)
	for i := range users {
		subs[i] = models.Subscription{UserID: users[i].ID, TemplateID: tpl.ID, Credits: dbCredits, LongTerm: tpl.LongTerm() && dbCredits > 0,
			Status: models.SubAccept, CreatedAt: now, UpdatedAt: now}
		if wxCredits < 0 {
			continue // not a user WeChat knows: 40003
		}
		if err := h.sb.AddUser(testAppID, users[i].OpenID); err != nil {
			h.t.Fatal(err)
		}
		if wxCredits > 0 {
			if err := h.sb.Grant(testAppID, users[i].OpenID, tpl.TemplateID, wxCredits); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	if err := h.db.WithContext(ctx).CreateInBatches(subs, 500).Error; err != nil {
		h.t.Fatal(err)
	}
	return users
}

var goodData = map[string]string{"thing1": "咖啡豆 250g", "number2": "2"}

// enqueue queues one delivery per user with data.
func (h *harness) enqueue(users []models.User, tpl *models.Template, data map[string]string) {
	h.t.Helper()
	nds := make([]models.NewDelivery, len(users))
	for i, u := range users {
		nds[i] = models.NewDelivery{AppID: h.app.ID, UserID: u.ID, TemplateID: tpl.ID, OpenID: u.OpenID, Data: data}
	}
	for start := 0; start < len(nds); start += 1000 {
		if _, err := models.EnqueueDeliveries(context.Background(), h.db, nds[start:min(start+1000, len(nds))]); err != nil {
			h.t.Fatal(err)
		}
	}
}

// engine starts an engine on its own connection pool (another instance).
func (h *harness) engine(ctx context.Context, mod func(*Config)) *Engine {
	h.t.Helper()
	db, err := models.Open(context.Background(), h.dsn, models.OpenOptions{Logger: h.quiet})
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := Config{DB: db, Sealer: h.sealer, Logger: h.quiet, Workers: 2, BatchSize: 50, Concurrency: 8,
		PollInterval: 20 * time.Millisecond, MaintainInterval: 100 * time.Millisecond, RetryBase: 10 * time.Millisecond,
		RetryMax: 40 * time.Millisecond, UserBusyDelay: 20 * time.Millisecond, AppRefresh: 50 * time.Millisecond,
		LeaseFor: 30 * time.Second, SettleWindow: time.Minute, SettleInterval: 50 * time.Millisecond, Now: h.clock.Now}
	if mod != nil {
		mod(&cfg)
	}
	e, err := NewEngine(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Stop(sctx)
		_ = models.Close(db)
	})
	return e
}

// waitFor polls cond until it holds; the timeout only keeps a broken
// engine from hanging the suite (no performance is asserted).
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			st, _ := models.CountDeliveriesByStatus(context.Background(), h.db, 0)
			h.t.Fatalf("gave up waiting for %s; deliveries by status: %v; sandbox: %+v", what, st, h.sb.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) statuses() map[string]int64 {
	st, err := models.CountDeliveriesByStatus(context.Background(), h.db, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// settledAll waits until no delivery is queued, sending or sent (all
// answered and their sent events applied) and the sandbox pushed
// everything.
func (h *harness) settledAll() map[string]int64 {
	h.t.Helper()
	var st map[string]int64
	h.waitFor("every delivery settled", func() bool {
		st = h.statuses()
		return st[models.DeliveryQueued]+st[models.DeliverySending]+st[models.DeliverySent] == 0 && h.sb.Stats().PushesPending == 0
	})
	return h.statuses()
}

// count is the sandbox's accepted messages for a user of a template.
func (h *harness) count(openid, tpl string) int64 { return h.sb.Count(testAppID, openid, tpl) }

// checkNoDuplicates fails on any (user, template) WeChat accepted more
// messages for than deliveries were sent to it, and returns the total.
func (h *harness) checkNoDuplicates(tplID int64, wxTpl string) int64 {
	h.t.Helper()
	var rows []struct {
		OpenID string `gorm:"column:openid"`
		N      int64
	}
	if err := h.db.Raw(`SELECT openid, COUNT(*) AS n FROM deliveries WHERE template_id = ? AND status IN ('delivered','sent','failed','unknown')
		AND (msgid IS NOT NULL OR status = 'unknown') GROUP BY openid`, tplID).Scan(&rows).Error; err != nil {
		h.t.Fatal(err)
	}
	want := map[string]int64{}
	for _, r := range rows {
		want[r.OpenID] = r.N
	}
	var total int64
	for _, c := range h.sb.Counts(testAppID) {
		if c.TemplateID != wxTpl {
			continue
		}
		total += c.Accepted
		if c.Accepted > want[c.OpenID] {
			h.t.Errorf("duplicate: WeChat accepted %d messages for %s, the ledger sent %d", c.Accepted, c.OpenID, want[c.OpenID])
		}
	}
	return total
}

// checkCredits verifies spent − refunded = messages WeChat accepted.
func (h *harness) checkCredits(tpl *models.Template) {
	h.t.Helper()
	tot, err := models.SumCreditEvents(context.Background(), h.db, tpl.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	var accepted int64
	for _, c := range h.sb.Counts(testAppID) {
		if c.TemplateID == tpl.TemplateID {
			accepted += c.Accepted
		}
	}
	// An unknown delivery keeps its credit spent: nobody can tell whether
	// WeChat took it. One cut on the wire before WeChat read it (WeChat
	// has no message for that user) is a credit spent without a message.
	var unknown []models.Delivery
	if err := h.db.Where("template_id = ? AND status = ?", tpl.ID, models.DeliveryUnknown).Find(&unknown).Error; err != nil {
		h.t.Fatal(err)
	}
	var cut int64
	for _, d := range unknown {
		if h.count(d.OpenID, tpl.TemplateID) == 0 {
			cut++
		}
	}
	if tot.Spent-tot.Refunded != accepted+cut {
		h.t.Errorf("credits: spent %d − refunded %d = %d, WeChat accepted %d, unknown and never at WeChat %d",
			tot.Spent, tot.Refunded, tot.Spent-tot.Refunded, accepted, cut)
	}
}

// checkCounters verifies the delivery_stats counters equal the statuses.
func (h *harness) checkCounters() {
	h.t.Helper()
	off, err := models.CounterDrift(context.Background(), h.db)
	if err != nil {
		h.t.Fatal(err)
	}
	for status, d := range off { // a counter left behind for a status no row has is drift too
		h.t.Errorf("counter %s = %d, deliveries in that status: %d", status, d[0], d[1])
	}
}
