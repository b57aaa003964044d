package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/web"
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
