package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/web"
)

func TestMetricsBehindToken(t *testing.T) {
	db, _ := dbtest.Open(t, "sqlite", true)
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("minipush_up 1\n")) })
	get := func(deps web.Deps, auth string) int {
		srv := httptest.NewServer(web.New(deps).Echo)
		defer srv.Close()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	open := web.Deps{DB: db, Metrics: metrics}
	if code := get(open, ""); code != http.StatusOK {
		t.Fatalf("without a token set: %d", code)
	}
	guarded := web.Deps{DB: db, Metrics: metrics, MetricsToken: "s3cret"}
	for auth, want := range map[string]int{"": 401, "Bearer wrong": 401, "s3cret": 401, "Basic s3cret": 401, "Bearer s3cret": 200, "bearer s3cret": 200} {
		if code := get(guarded, auth); code != want {
			t.Errorf("Authorization %q: %d, want %d", auth, code, want)
		}
	}
}
