package web_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/web"
)

// TestMetricsScrapeGzip scrapes /metrics as Prometheus does (Accept-Encoding:
// gzip) from the engine's real handler: the body is gzip once, and reads as
// the text format (it was compressed twice, by promhttp and by the
// server's gzip middleware, which Prometheus cannot read: "INVALID is not
// a valid start token").
func TestMetricsScrapeGzip(t *testing.T) {
	db, _ := dbtest.Open(t, "sqlite", true)
	key, _ := models.ParseSecretKey(models.NewSecretKey())
	sealer, _ := models.NewSealer(key)
	e, err := scheduler.NewEngine(scheduler.Config{DB: db, Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.New(web.Deps{DB: db, Metrics: e.MetricsHandler()}).Echo)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("status %d, Content-Encoding %q", res.StatusCode, res.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(body), "# HELP ") || !strings.Contains(string(body), "minipush_leases_expired_total") {
		t.Fatalf("after one gunzip the body is not the text format: %.60q", body)
	}
}
