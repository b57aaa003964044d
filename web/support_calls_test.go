package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/web"
	"github.com/minipush/minipush/wechat/sandbox"
)

// sentRequest is what the sandbox received in one send call.
type sentRequest struct {
	ToUser           string                       `json:"touser"`
	TemplateID       string                       `json:"template_id"`
	MiniprogramState string                       `json:"miniprogram_state"`
	Lang             string                       `json:"lang"`
	Data             map[string]map[string]string `json:"data"`
}

// sendRecorder stands between the engine and the sandbox and keeps the
// body of every send request the sandbox receives; it changes nothing.
type sendRecorder struct {
	mu    sync.Mutex
	sends []sentRequest
}

func (r *sendRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.Contains(req.URL.Path, "/message/subscribe/send") && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		var s sentRequest
		if json.Unmarshal(b, &s) == nil {
			r.mu.Lock()
			r.sends = append(r.sends, s)
			r.mu.Unlock()
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (r *sendRecorder) all() []sentRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sentRequest(nil), r.sends...)
}

// withEngineConfig runs a delivery engine as withEngine does, its config
// adjusted by tune (retry timing, the recorder in front of WeChat).
func withEngineConfig(t *testing.T, tune func(*scheduler.Config)) func(*web.Deps) {
	return func(d *web.Deps) {
		cfg := scheduler.Config{DB: d.DB, Sealer: d.Sealer, Logger: d.Logger}
		tune(&cfg)
		e, err := scheduler.NewEngine(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = e.Stop(ctx)
		})
		d.Events = e
		w := models.NewSentEventWriter(d.DB)
		t.Cleanup(w.Close)
		d.SentEvents = w
		d.Queue = e
		d.Metrics = e.MetricsHandler()
	}
}

// waitDelivery polls a delivery until ok says it is done (10 s at most).
func waitDelivery(t *testing.T, app *testApp, id int64, ok func(*models.Delivery) bool) *models.Delivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		d, err := models.GetDelivery(context.Background(), app.db, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %d stuck: status %s reason %s attempts %d errcode %d", id, d.Status, d.Reason, d.Attempts, d.ErrCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The calls that did not end a delivery (-1 retried, 45009) are logged and
// shown on the delivery page; a message sent at the first try logs none.
func TestDeliveryPageShowsRetriedCalls(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app := newTestApp(t, db, withEngineConfig(t, func(c *scheduler.Config) {
			c.RetryBase, c.RetryMax, c.MaxAttempts = 20*time.Millisecond, 40*time.Millisecond, 3
			c.PollInterval = 50 * time.Millisecond
		}))
		sb, a, tpl := pushApp(t, app, db, false, "json")
		key, _ := mustAPIKey(t, db, a.ID)
		wantAPI(t, callAPI(t, app, "PUT", "/users/o_alice", key, `{}`), 201)
		for i := 0; i < 3; i++ {
			wantAPI(t, callAPI(t, app, "POST", "/subscriptions", key, `{"openid":"o_alice","result":{"`+tpl+`":"accept"}}`), 200)
		}
		if err := sb.Grant(testAppID, "o_alice", tpl, 3); err != nil {
			t.Fatal(err)
		}
		send := func(idem string) int64 {
			t.Helper()
			r := callAPI(t, app, "POST", "/messages", key, `{"template_id":"`+tpl+`","openid":"o_alice","data":{"thing1":"`+idem+`"}}`, "Idempotency-Key", idem)
			wantAPI(t, r, 202)
			return int64(r.json(t)["id"].(float64))
		}
		calls := func(id int64) []models.DeliveryCall {
			t.Helper()
			cs, err := models.ListDeliveryCalls(ctx, db, id)
			if err != nil {
				t.Fatal(err)
			}
			return cs
		}

		// Sent at the first try: nothing logged.
		if err := sb.SetFaults(testAppID, sandbox.Faults{DailyQuota: 1}); err != nil {
			t.Fatal(err)
		}
		first := send("first")
		waitDelivery(t, app, first, func(d *models.Delivery) bool {
			return d.Status == models.DeliverySent || d.Status == models.DeliveryDelivered
		})
		if cs := calls(first); len(cs) != 0 {
			t.Fatalf("a message sent at once logged %d calls", len(cs))
		}

		// WeChat busy (-1) three times: two calls logged, the third ends it.
		if err := sb.SetFaults(testAppID, sandbox.Faults{DailyQuota: 1, ErrorRate: 1}); err != nil {
			t.Fatal(err)
		}
		busy := send("busy")
		d := waitDelivery(t, app, busy, func(d *models.Delivery) bool { return d.Status == models.DeliveryFailed })
		cs := calls(busy)
		if d.Reason != models.ReasonMaxAttempts || len(cs) != 2 {
			t.Fatalf("busy: %s/%s with %d calls logged (%+v), want max_attempts and 2", d.Status, d.Reason, len(cs), cs)
		}
		for i, c := range cs {
			if c.ErrCode != -1 || c.Reason != models.ReasonRetry || c.Attempt != i+1 || c.NextAttemptAt == nil {
				t.Fatalf("call %d: %+v", i, c)
			}
		}

		// The daily quota (45009): logged, back to the queue for after midnight.
		if err := sb.SetFaults(testAppID, sandbox.Faults{DailyQuota: 1}); err != nil {
			t.Fatal(err)
		}
		quota := send("quota")
		deadline := time.Now().Add(15 * time.Second)
		for len(calls(quota)) == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		cs = calls(quota)
		if len(cs) != 1 || cs[0].ErrCode != 45009 || cs[0].Reason != models.ReasonQuota {
			t.Fatalf("quota: calls %+v", cs)
		}

		// The delivery pages, as support reads them.
		c := app.signedIn(mustStaff(t, db, "help@example.com", models.RoleSupport))
		page := func(id int64) *goquery.Document {
			t.Helper()
			r := c.get("/deliveries/" + strconv.FormatInt(id, 10))
			if r.status != 200 {
				t.Fatalf("delivery page %d: %.500s", r.status, r.body)
			}
			return r.doc(t)
		}
		if n := page(first).Find(`[data-testid="delivery-call"]`).Length(); n != 0 {
			t.Fatalf("first: %d calls shown", n)
		}
		doc := page(busy)
		rows := doc.Find(`[data-testid="delivery-call"]`)
		if rows.Length() != 2 || !strings.Contains(rows.First().Find(`[data-testid="call-errcode"]`).Text(), "-1") ||
			!strings.Contains(rows.First().Find(`[data-testid="call-then"]`).Text(), "retried later") {
			t.Fatalf("busy page calls: %q", rows.Text())
		}
		rows = page(quota).Find(`[data-testid="delivery-call"]`)
		if rows.Length() != 1 || !strings.Contains(rows.Text(), "45009") || !strings.Contains(rows.Text(), "after midnight") {
			t.Fatalf("quota page calls: %q", rows.Text())
		}
	})
}
