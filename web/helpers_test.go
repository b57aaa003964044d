package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/web"
)

// testApp is the real router on a real database behind an httptest server.
type testApp struct {
	t   *testing.T
	db  *gorm.DB
	srv *httptest.Server
	log *syncBuffer
}

// syncBuffer captures the server's log lines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newTestApp(t *testing.T, db *gorm.DB, opts ...func(*web.Deps)) *testApp {
	t.Helper()
	key, _ := models.ParseSecretKey(models.NewSecretKey())
	sealer, err := models.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	loc, _ := time.LoadLocation("Asia/Shanghai")
	deps := web.Deps{DB: db, Logger: slog.New(slog.NewTextHandler(logs, nil)), Sealer: sealer, Location: loc}
	for _, o := range opts {
		o(&deps)
	}
	s := web.New(deps)
	srv := httptest.NewServer(s.Echo)
	t.Cleanup(srv.Close)
	return &testApp{t: t, db: db, srv: srv, log: logs}
}

// client is a browser: it keeps cookies and does not follow redirects.
type client struct {
	app  *testApp
	http *http.Client
	lang string
}

func (a *testApp) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{app: a, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// signedIn returns a client holding a fresh session of s (no password round trip).
func (a *testApp) signedIn(s *models.Staff) *client {
	c := a.client()
	tok, err := models.CreateSession(context.Background(), a.db, s.ID, "127.0.0.1", "test", time.Now().UTC())
	if err != nil {
		a.t.Fatal(err)
	}
	u, _ := url.Parse(a.srv.URL)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "minipush_session", Value: tok, Path: "/"}})
	return c
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) doc(t *testing.T) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (c *client) do(method, path string, form url.Values, headers map[string]string) response {
	c.app.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.app.srv.URL+path, body)
	if err != nil {
		c.app.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.app.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (c *client) get(path string) response { return c.do(http.MethodGet, path, nil, nil) }

// csrf returns the CSRF token, fetching a page first when no cookie is held yet.
func (c *client) csrf() string {
	u, _ := url.Parse(c.app.srv.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == "minipush_csrf" {
			return ck.Value
		}
	}
	c.get("/healthz")
	c.get("/login")
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == "minipush_csrf" {
			return ck.Value
		}
	}
	c.app.t.Fatal("no CSRF cookie issued")
	return ""
}

// post submits a form with the CSRF token, as the browser does.
func (c *client) post(path string, form url.Values) response {
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", c.csrf())
	return c.do(http.MethodPost, path, form, nil)
}

// want fails with the body dumped when the status is wrong.
func want(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		b := r.body
		if len(b) > 3000 {
			b = b[:3000] + "…"
		}
		t.Fatalf("status %d, want %d; Location=%q\n%s", r.status, status, r.header.Get("Location"), b)
	}
}

func wantRedirect(t *testing.T, r response, prefix string) {
	t.Helper()
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), prefix) {
		t.Fatalf("got %d Location=%q, want 303 to %s\n%.2000s", r.status, r.header.Get("Location"), prefix, r.body)
	}
}

func mustStaff(t *testing.T, db *gorm.DB, email string, role models.Role) *models.Staff {
	t.Helper()
	s, err := models.CreateStaff(context.Background(), db, email, "", "correct horse battery", role, "en")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

// withEngine runs a delivery engine for the test app, as serve does.
func withEngine(t *testing.T) func(*web.Deps) {
	return withEngineConfig(t, func(*scheduler.Config) {}) // support_calls_test.go
}
