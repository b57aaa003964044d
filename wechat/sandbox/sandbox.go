// Package sandbox is a fake WeChat API server for demos, tests and
// benchmarks. It speaks the subscription-message APIs the way WeChat does
// (see /work/shared/wechat-api.md §7): stable_token and token with separate
// pools, the send checks in WeChat's order with real errcodes and errmsg
// shapes, one-time credits and long-term subscriptions, 43108 on concurrent
// sends to one user, the newtmpl APIs over a small built-in public library,
// the quota API, and message pushes (subscribe_msg_sent_event, popup and
// change events) to each app's push URL, signed, plaintext or safe mode, XML
// or JSON.
//
// Tests drive it with Go methods (AddApp, AddUser, AddTemplate, Popup,
// SetFaults, Count...) or the JSON control API under /sandbox/ documented in
// README.md. It keeps every accepted message's count per (openid, template)
// so tests can prove nothing was sent twice.
//
// The send path takes no global lock: tokens are found in a sync.Map,
// templates in a copy-on-write map, users in 256 shards with a mutex each
// (compact pointer-free records, about 70 bytes a user: a million fit in
// well under 100 MB), counters are atomics.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minipush/minipush/wechat"
)

// Options configure a Server. The zero value works.
type Options struct {
	// Now is the clock for token expiry and the daily quota; default
	// time.Now. Tests move it to expire tokens without sleeping.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
	// PushClient sends pushes; default a client with WeChat's 5 s timeout.
	PushClient *http.Client
	// PushWorkers is the number of goroutines delivering pushes; default 4.
	PushWorkers int
	// PushQueue bounds the pushes waiting for a worker; default 10000. When
	// it is full new pushes are dropped (counted in Stats), so pushing never
	// slows sends.
	PushQueue int
	// PushRetryDelay is the wait before trying a failed push again (3 tries
	// in all, as WeChat documents); default 1 s.
	PushRetryDelay time.Duration
	// TokenTTL is the lifetime of a new access token; default 7200 s.
	TokenTTL time.Duration
	// DailyQuota is the send quota of an app without its own; default
	// 10,000,000 (WeChat's cap without WeChat Pay).
	DailyQuota int64
	// TemplateCap is how many private templates an app may hold before
	// addtemplate answers 200012; default 50.
	TemplateCap int
	// ShortThingMax is passed to the value rules (see wechat.Rules).
	ShortThingMax int
	// SensitiveWords make a send whose values contain one fail with 45168.
	SensitiveWords []string
}

// Server is the fake WeChat. It implements http.Handler; serve it with
// Start or httptest.NewServer(s), and Close it to stop its push workers.
type Server struct {
	opts    Options
	now     func() time.Time
	log     *slog.Logger
	rules   wechat.Rules
	control *http.ServeMux

	appsMu sync.RWMutex
	apps   map[string]*app

	tokens sync.Map // token value → *tokenInfo

	msgBase  int64
	msgSeq   atomic.Int64
	accepted atomic.Int64
	requests atomic.Int64

	// what the faults did (Stats)
	injectedErrors atomic.Int64 // -1 answered by Faults.ErrorRate
	injectedCuts   atomic.Int64 // counted, then cut (Faults.TimeoutAfterCountRate)
	injectedEarly  atomic.Int64 // cut before anything was counted (Faults.CutBeforeCountRate)
	refusedQuota   atomic.Int64 // 45009 answered to sends
	refusedToken   atomic.Int64 // 40001 or 42001 answered to sends

	pusher *pusher

	httpMu  sync.Mutex
	httpSrv *http.Server
}

// New returns a Server and starts its push workers.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PushWorkers <= 0 {
		opts.PushWorkers = 4
	}
	if opts.PushClient == nil {
		// Each push worker keeps its connection: the default transport
		// keeps two per host, so with more workers most pushes opened a
		// new connection and left one in TIME_WAIT (tens of thousands in
		// a bench), costing both ends more than the push itself.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = max(tr.MaxIdleConns, opts.PushWorkers)
		tr.MaxIdleConnsPerHost = opts.PushWorkers
		opts.PushClient = &http.Client{Timeout: 5 * time.Second, Transport: tr}
	}
	if opts.PushQueue <= 0 {
		opts.PushQueue = 10000
	}
	if opts.PushRetryDelay <= 0 {
		opts.PushRetryDelay = time.Second
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 7200 * time.Second
	}
	if opts.DailyQuota <= 0 {
		opts.DailyQuota = 10_000_000
	}
	if opts.TemplateCap <= 0 {
		opts.TemplateCap = 50
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	s := &Server{
		opts:  opts,
		now:   opts.Now,
		log:   opts.Logger,
		rules: wechat.Rules{ShortThingMax: opts.ShortThingMax},
		apps:  make(map[string]*app),
		// msgids look like WeChat's: 19 digits, far above 2^53.
		msgBase: 3_000_000_000_000_000_000 + int64(binary.BigEndian.Uint64(b[:])%1_000_000_000_000_000),
	}
	s.control = s.controlMux()
	s.pusher = newPusher(s)
	return s
}

// Start listens on addr ("127.0.0.1:0" for any free port) and serves in the
// background. It returns the base URL, e.g. "http://127.0.0.1:9099".
func (s *Server) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.httpMu.Lock()
	s.httpSrv = srv
	s.httpMu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sandbox: serve", "err", err)
		}
	}()
	return "http://" + ln.Addr().String(), nil
}

// Close stops the HTTP server started by Start (if any) and the push
// workers. Pushes still queued are dropped.
func (s *Server) Close() error {
	s.httpMu.Lock()
	srv := s.httpSrv
	s.httpMu.Unlock()
	var err error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(ctx)
		cancel()
	}
	s.pusher.stop()
	s.opts.PushClient.CloseIdleConnections() // the push workers' kept connections
	return err
}

// ServeHTTP routes WeChat API paths on a fast path and everything under
// /sandbox/ to the control API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	switch r.URL.Path {
	case wechat.PathSend:
		s.handleSend(w, r)
	case wechat.PathStableToken:
		s.handleStableToken(w, r)
	case wechat.PathToken:
		s.handleToken(w, r)
	case wechat.PathQuota:
		s.handleQuota(w, r)
	case wechat.PathGetCategory, wechat.PathGetPubTitles, wechat.PathGetPubKeyword,
		wechat.PathAddTemplate, wechat.PathDelTemplate, wechat.PathGetTemplate:
		s.handleNewTmpl(w, r)
	default:
		s.control.ServeHTTP(w, r)
	}
}

// newRID returns a request id shaped like WeChat's: "6472dfd0-1b2c3d4e-5f607182".
func (s *Server) newRID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	var out [26]byte
	ts := uint32(s.now().Unix())
	hex.Encode(out[0:8], []byte{byte(ts >> 24), byte(ts >> 16), byte(ts >> 8), byte(ts)})
	out[8] = '-'
	hex.Encode(out[9:17], b[0:4])
	out[17] = '-'
	hex.Encode(out[18:26], b[4:8])
	return string(out[:])
}

// writeErr answers HTTP 200 with {"errcode":code,"errmsg":"msg rid: ..."}.
func (s *Server) writeErr(w http.ResponseWriter, code int, msg string) {
	buf := make([]byte, 0, 64+len(msg))
	buf = append(buf, `{"errcode":`...)
	buf = strconv.AppendInt(buf, int64(code), 10)
	buf = append(buf, `,"errmsg":`...)
	buf = strconv.AppendQuote(buf, msg+" rid: "+s.newRID())
	buf = append(buf, '}')
	writeJSON(w, buf)
}

func writeJSON(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	_, _ = w.Write(body)
}

var jsonContentType = []string{"application/json; charset=UTF-8"}

// queryValue returns the first value of key in a raw query without building
// a url.Values (the send hot path only needs access_token).
func queryValue(raw, key string) string {
	for raw != "" {
		var kv string
		kv, raw, _ = cutByte(raw, '&')
		k, v, _ := cutByte(kv, '=')
		if k == key {
			if needsUnescape(v) {
				if u, err := unescape(v); err == nil {
					return u
				}
			}
			return v
		}
	}
	return ""
}

func cutByte(s string, c byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func needsUnescape(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' || s[i] == '+' {
			return true
		}
	}
	return false
}

func unescape(s string) (string, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			out = append(out, ' ')
		case '%':
			if i+2 >= len(s) {
				return "", errors.New("bad escape")
			}
			b, err := hex.DecodeString(s[i+1 : i+3])
			if err != nil {
				return "", err
			}
			out = append(out, b[0])
			i += 2
		default:
			out = append(out, c)
		}
	}
	return string(out), nil
}

// readBody reads a request body up to limit bytes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > 0 && r.ContentLength <= limit {
		buf := make([]byte, r.ContentLength)
		_, err := io.ReadFull(r.Body, buf)
		return buf, err
	}
	return io.ReadAll(io.LimitReader(r.Body, limit))
}

// chinaDay returns the number of days since the epoch in China time
// (UTC+8, no DST): the daily quota resets at its midnight.
func chinaDay(t time.Time) int64 {
	return (t.Unix() + 8*3600) / 86400
}
