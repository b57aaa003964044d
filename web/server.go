package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"gorm.io/gorm"

	"github.com/minipush/minipush/handlers"
	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/static"
	"github.com/minipush/minipush/views"
)

// Deps is everything the server is built from.
type Deps struct {
	DB       *gorm.DB
	Logger   *slog.Logger
	Sealer   *models.Sealer
	Location *time.Location
	Now      func() time.Time // nil: time.Now
	// TrustProxy takes the client address and scheme from X-Forwarded-* headers.
	TrustProxy bool
	// WeChatHTTP is the HTTP client for WeChat calls (nil: the client's default).
	WeChatHTTP *http.Client
	// Queue queues messages for the delivery engine (template test sends).
	Queue handlers.Enqueuer
	// Jobs runs the named scheduled jobs (nil: the Jobs page only reads history).
	Jobs handlers.JobRunner
	// Events applies WeChat's pushed events and wakes the engine (nil: database only).
	Events handlers.PushObserver
	// SentEvents batches the inserts of pushed sent events (nil: one insert
	// each). Close it after the server has stopped.
	SentEvents *models.SentEventWriter
	// APIKeyUsage counts API calls per key in memory and writes them every
	// few seconds (nil: each call updates its key's row). Close it after
	// the server has stopped.
	APIKeyUsage *models.APIKeyUsage
	// Metrics serves /metrics (nil: not served); with MetricsToken set it
	// asks for "Authorization: Bearer <token>".
	Metrics      http.Handler
	MetricsToken string
	Version      string
	// PublicURL is the base URL the console is reached at (see Config);
	// empty: the request's Host.
	PublicURL string
}

// Server is the console and API HTTP server.
type Server struct {
	Echo  *echo.Echo
	env   handlers.Env
	setup *handlers.SetupState
	log   *slog.Logger

	wechatHTTP *http.Client
	queue      handlers.Enqueuer
	jobs       handlers.JobRunner
	events     handlers.PushObserver
	sentEvents *models.SentEventWriter
	apiQueue   handlers.Enqueuer
	keyUsage   *models.APIKeyUsage
	metrics    http.Handler
	metricsTok string
	roles      routeRoles // who may call each console route (nav.go)
	publicURL  string
}

// New builds the server with its middleware and every route.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = func() time.Time { return time.Now().UTC() }
	}
	if d.Location == nil {
		d.Location = time.UTC
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	if d.TrustProxy {
		e.IPExtractor = echo.ExtractIPFromXFFHeader()
	} else {
		e.IPExtractor = echo.ExtractIPDirect()
	}
	s := &Server{
		Echo:  e,
		env:   handlers.Env{DB: d.DB, Log: d.Logger, Now: d.Now, Sealer: d.Sealer, Location: d.Location},
		setup: &handlers.SetupState{},
		log:   d.Logger,

		wechatHTTP: d.WeChatHTTP,
		queue:      d.Queue,
		jobs:       d.Jobs,
		events:     d.Events,
		sentEvents: d.SentEvents,
		apiQueue:   apiQueue(d),
		keyUsage:   d.APIKeyUsage,
		metrics:    d.Metrics,
		metricsTok: d.MetricsToken,
		publicURL:  d.PublicURL,
	}
	e.HTTPErrorHandler = s.errorHandler

	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic", "err", err, "path", c.Request().URL.Path, "stack", string(stack))
			return err
		},
	}))
	if d.TrustProxy {
		e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error { handlers.MarkTrustProxy(c); return next(c) }
		})
	}
	e.Use(requestID()) // web/requestid.go: X-Request-ID honoured when sane, carried in every line logged with the request's context
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURIPath: true, LogMethod: true, LogLatency: true, LogRemoteIP: true, LogRequestID: true, LogError: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			switch {
			case v.Status >= 500:
				level = slog.LevelError
			case v.Status < 400 && strings.HasPrefix(v.URIPath, "/wx/"):
				// WeChat pushes a sent event per message accepted: thousands
				// of lines a second when a campaign runs, each saying only
				// "stored". Refused and failed pushes stay at info and above.
				level = slog.LevelDebug
			}
			if !s.log.Enabled(c.Request().Context(), level) {
				return nil
			}
			attrs := []any{"method", v.Method, "path", v.URIPath, "status", v.Status, "latency_ms", v.Latency.Milliseconds(), "ip", v.RemoteIP, "request_id", v.RequestID}
			if v.Error != nil {
				attrs = append(attrs, "err", v.Error.Error())
			}
			s.log.Log(c.Request().Context(), level, "http", attrs...)
			return nil
		},
	}))
	e.Use(hsts)
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection: "0", ContentTypeNosniff: "nosniff", XFrameOptions: "DENY", ReferrerPolicy: "same-origin",
		HSTSMaxAge:            0,
		ContentSecurityPolicy: "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
	}))
	// WeChat's pushes are answered "success": no compression, whose writer
	// set-up cost a quarter of the push endpoint's CPU. The API's writes
	// (POST, PUT) answer a few hundred bytes: none either (the set-up was
	// 7% of POST /api/v1/messages' CPU).
	e.Use(middleware.GzipWithConfig(middleware.GzipConfig{Level: 5, MinLength: 1024,
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return strings.HasPrefix(p, "/wx/") || (strings.HasPrefix(p, "/api/") && c.Request().Method != http.MethodGet)
		}}))
	// Bodies are small, except uploads: a CSV of users being imported and
	// a campaign's list of recipients.
	isImport := func(c echo.Context) bool { return c.Request().URL.Path == "/users/import" }
	isList := func(c echo.Context) bool { return c.Path() == campaignListUploadPath }
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: "2M", Skipper: func(c echo.Context) bool { return isImport(c) || isList(c) }}))
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: "512M", Skipper: func(c echo.Context) bool { return !isImport(c) }}))
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: "64M", Skipper: func(c echo.Context) bool { return !isList(c) }}))
	// Parse the upload with 1 MiB of memory, the rest of the file on disk,
	// before the CSRF check reads its token from the form.
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if isImport(c) && r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get(echo.HeaderContentType), echo.MIMEMultipartForm) {
				var he *echo.HTTPError
				if err := r.ParseMultipartForm(1 << 20); errors.As(err, &he) {
					return he
				}
			}
			return next(c)
		}
	})

	s.routes()
	return s
}

// consoleMiddleware is the chain every console page runs through.
func (s *Server) consoleMiddleware() []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{s.loadSession, noStore, s.requestInfo, csrfGuard, csrfInfo, s.setupGate}
}

// staticHandler serves embedded files; a request carrying the current
// content hash may be cached forever.
func staticHandler() echo.HandlerFunc {
	fsys := static.FS()
	files := http.FileServer(http.FS(fsys))
	return func(c echo.Context) error {
		name := strings.TrimPrefix(c.Param("*"), "/")
		if _, err := fs.Stat(fsys, name); err != nil || name == "" || strings.HasSuffix(name, ".go") {
			return echo.NewHTTPError(http.StatusNotFound)
		}
		if v := c.QueryParam("v"); v != "" && v == static.Hash(name) {
			c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			c.Response().Header().Set("Cache-Control", "no-cache")
		}
		req := c.Request().Clone(c.Request().Context())
		req.URL.Path = "/" + name
		files.ServeHTTP(c.Response(), req)
		return nil
	}
}

// metricsHandler serves Prometheus metrics, behind a bearer token when one is set.
func (s *Server) metricsHandler() echo.HandlerFunc {
	h := echo.WrapHandler(s.metrics)
	want := []byte(s.metricsTok)
	return func(c echo.Context) error {
		tok, _ := handlers.BearerToken(c.Request().Header.Get("Authorization"))
		if s.metricsTok != "" && subtle.ConstantTimeCompare([]byte(tok), want) != 1 {
			return echo.NewHTTPError(http.StatusUnauthorized, "send Authorization: Bearer <MINIPUSH_METRICS_TOKEN>")
		}
		return h(c)
	}
}

// errorHandler renders one error page for 403, 404 and 500 (JSON under /api).
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code := http.StatusInternalServerError
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
	}
	if code >= 500 {
		s.log.Error("request failed", "err", err, "path", c.Request().URL.Path, "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
	if strings.HasPrefix(c.Request().URL.Path, "/api/") {
		_ = handlers.WriteAPIError(c, handlers.StatusError(code))
		return
	}
	if strings.HasPrefix(c.Request().URL.Path, "/wx/") || c.Request().URL.Path == "/metrics" ||
		strings.HasPrefix(c.Request().URL.Path, "/healthz") || strings.HasPrefix(c.Request().URL.Path, "/readyz") {
		msg := http.StatusText(code)
		if he != nil && code < 500 {
			msg = fmt.Sprint(he.Message)
		}
		_ = c.JSON(code, map[string]any{"error": map[string]any{"status": code, "code": handlers.StatusError(code).Code, "message": msg}})
		return
	}
	info := views.ErrorInfo{Code: code, Title: http.StatusText(code)}
	switch code {
	case http.StatusForbidden:
		info.Title, info.Message = handlers.T(c, "error.403"), handlers.T(c, "error.403_hint")
		if he != nil && he.Message == "csrf" {
			info.Title, info.Message = handlers.T(c, "sec.csrf.title"), handlers.T(c, "sec.csrf.hint")
		}
	case http.StatusNotFound:
		info.Title, info.Message = handlers.T(c, "error.404"), handlers.T(c, "error.404_hint")
	case http.StatusBadRequest:
		info.Title = handlers.T(c, "error.400")
		if he != nil {
			info.Message = fmt.Sprint(he.Message)
		}
	default:
		if code >= 500 {
			info.Title, info.Message = handlers.T(c, "error.500"), handlers.T(c, "error.500_hint", c.Response().Header().Get(echo.HeaderXRequestID))
		}
	}
	var rerr error
	if handlers.CurrentStaff(c) != nil {
		rerr = handlers.Render(c, code, views.Page{Title: info.Title}, views.ErrorBody(info))
	} else {
		rerr = handlers.RenderBare(c, code, views.ErrorPage(info))
	}
	if rerr != nil {
		s.log.Error("render error page", "err", rerr)
		_ = c.String(code, http.StatusText(code))
	}
}

// Start listens on addr until ctx is done, then shuts down in order:
// stop accepting HTTP and let in-flight requests finish (bounded).
func (s *Server) Start(ctx context.Context, addr string, onListen func(addr string)) error {
	srv := &http.Server{Addr: addr, Handler: s.Echo, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 120 * time.Second, IdleTimeout: 120 * time.Second}
	ln, err := listen(addr)
	if err != nil {
		return err
	}
	if onListen != nil {
		onListen(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// apiQueue is what queues API messages: Deps.Queue (the engine), else the
// database alone (an engine elsewhere polls it).
func apiQueue(d Deps) handlers.Enqueuer {
	if d.Queue != nil {
		return d.Queue
	}
	return handlers.DBQueue{DB: d.DB}
}
