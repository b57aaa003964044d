package wechat

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultBaseURL is WeChat's API host.
const DefaultBaseURL = "https://api.weixin.qq.com"

// DefaultRefreshBefore is how long before expiry a cached token is replaced.
const DefaultRefreshBefore = 2 * time.Minute

// maxRefreshBefore keeps RefreshBefore under the 5 minutes in which
// stable_token starts handing out the next token: asking earlier would only
// get the same token back, with fewer seconds left, on every call.
const maxRefreshBefore = 4 * time.Minute

const (
	pathStableToken = "/cgi-bin/stable_token"
	pathToken       = "/cgi-bin/token"
	pathSend        = "/cgi-bin/message/subscribe/send"
	pathQuota       = "/cgi-bin/openapi/quota/get"
	pathNewTmpl     = "/wxaapi/newtmpl/"
)

// Paths of the WeChat endpoints, exported for the sandbox and for logs.
const (
	PathStableToken   = pathStableToken
	PathToken         = pathToken
	PathSend          = pathSend
	PathQuota         = pathQuota
	PathGetCategory   = pathNewTmpl + "getcategory"
	PathGetPubTitles  = pathNewTmpl + "getpubtemplatetitles"
	PathGetPubKeyword = pathNewTmpl + "getpubtemplatekeywords"
	PathAddTemplate   = pathNewTmpl + "addtemplate"
	PathDelTemplate   = pathNewTmpl + "deltemplate"
	PathGetTemplate   = pathNewTmpl + "gettemplate"
)

const maxResponseBytes = 8 << 20

var errBadTokenResponse = errors.New("token response without access_token or expires_in")

// Config configures a Client for one mini program.
type Config struct {
	AppID  string
	Secret string
	// BaseURL defaults to DefaultBaseURL. Tests and the demo point it at the
	// sandbox.
	BaseURL string
	// HTTPClient defaults to a client with a 10 s timeout. Give it a timeout:
	// a send that hangs forever is a delivery that can never be settled.
	HTTPClient *http.Client
	// Store is the shared token cache; defaults to a new MemoryTokenStore.
	Store TokenStore
	// Now defaults to time.Now.
	Now func() time.Time
	// RefreshBefore is how long before its expiry a token is replaced;
	// default DefaultRefreshBefore. It is capped at 4 minutes: stable_token
	// returns the same token until its last 5 minutes, so a larger value
	// would refetch the same token on every call.
	RefreshBefore time.Duration
}

// Client calls the WeChat APIs for one mini program. It is safe for
// concurrent use; create one per AppID and keep it.
type Client struct {
	cfg     Config
	baseURL string
	memo    atomic.Pointer[Token]
	sem     chan struct{} // serialises token refreshes
}

// NewClient returns a Client for cfg, with defaults filled in.
func NewClient(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = DefaultHTTPClient()
	}
	if cfg.Store == nil {
		cfg.Store = NewMemoryTokenStore()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RefreshBefore <= 0 {
		cfg.RefreshBefore = DefaultRefreshBefore
	}
	if cfg.RefreshBefore > maxRefreshBefore {
		cfg.RefreshBefore = maxRefreshBefore
	}
	return &Client{cfg: cfg, baseURL: strings.TrimRight(cfg.BaseURL, "/"), sem: make(chan struct{}, 1)}
}

// DefaultHTTPClient returns the http.Client a Client uses when none is
// configured: 10 s overall timeout, keep-alive with up to 64 idle
// connections to the host.
func DefaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 128
	tr.MaxIdleConnsPerHost = 64
	tr.ResponseHeaderTimeout = 10 * time.Second
	return &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

// AppID returns the AppID the client is for.
func (c *Client) AppID() string { return c.cfg.AppID }

// baseResponse is the errcode/errmsg pair every answer may carry.
type baseResponse struct {
	ErrCode FlexInt `json:"errcode"`
	ErrMsg  string  `json:"errmsg"`
}

func (b *baseResponse) apiErr() (int, string) { return int(b.ErrCode), b.ErrMsg }

type apiResponse interface{ apiErr() (int, string) }

type roundTripArgs struct {
	method     string
	path       string
	query      url.Values
	token      string
	body       any // JSON-encoded when not nil
	idempotent bool
}

// callJSON obtains a token, does the call, and on a token error drops the
// token (compare-and-swap), gets another and repeats the call once.
func callJSON[T any, P interface {
	*T
	apiResponse
}](ctx context.Context, c *Client, a roundTripArgs) (*T, error) {
	tok, err := c.Token(ctx)
	if err != nil {
		return nil, &TokenError{Err: err}
	}
	a.token = tok
	out := P(new(T))
	err = c.roundTrip(ctx, a, out)
	var we *Error
	if err == nil || !errors.As(err, &we) || we.Class() != ClassToken {
		return (*T)(out), err
	}
	if ierr := c.invalidate(ctx, tok); ierr != nil {
		return nil, errors.Join(err, ierr)
	}
	tok, rerr := c.refresh(ctx, tok)
	if rerr != nil {
		return nil, &TokenError{Err: errors.Join(err, rerr)}
	}
	a.token = tok
	out = P(new(T))
	err = c.roundTrip(ctx, a, out)
	return (*T)(out), err
}

// roundTrip does one HTTP call and decodes the answer into out. It returns
// *Error for a non-zero errcode and *RequestError when no answer could be
// read, telling whether any of the request may have left.
func (c *Client) roundTrip(ctx context.Context, a roundTripArgs, out apiResponse) error {
	var b strings.Builder
	b.Grow(len(c.baseURL) + len(a.path) + 200)
	b.WriteString(c.baseURL)
	b.WriteString(a.path)
	sep := byte('?')
	if a.token != "" {
		b.WriteString("?access_token=")
		b.WriteString(url.QueryEscape(a.token))
		sep = '&'
	}
	if len(a.query) > 0 {
		b.WriteByte(sep)
		b.WriteString(a.query.Encode())
	}
	var body io.Reader
	if a.body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(a.body); err != nil {
			return &RequestError{API: a.path, Idempotent: a.idempotent, Err: err}
		}
		body = bytes.NewReader(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}

	var wrote, gotConn, h2 atomic.Bool
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			gotConn.Store(true)
			if tc, ok := info.Conn.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
				h2.Store(true)
			}
		},
		WroteHeaders: func() { wrote.Store(true) },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), a.method, b.String(), body)
	if err != nil {
		return &RequestError{API: a.path, Idempotent: a.idempotent, Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		redactURL(err)
		// For HTTP/1 the transport waits for its write loop before returning,
		// so "headers never written" is exact: at most a partial header left,
		// which no server acts on. HTTP/2 writes from another goroutine:
		// once it has a connection, count the request as possibly sent.
		written := wrote.Load() || (gotConn.Load() && h2.Load())
		return &RequestError{API: a.path, Written: written, Idempotent: a.idempotent, Err: err}
	}
	defer res.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	if res.StatusCode != http.StatusOK {
		return &RequestError{API: a.path, Written: true, Idempotent: a.idempotent, StatusCode: res.StatusCode,
			Err: fmt.Errorf("HTTP %s: %.200s", res.Status, data)}
	}
	if rerr != nil {
		return &RequestError{API: a.path, Written: true, Idempotent: a.idempotent, Err: rerr}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &RequestError{API: a.path, Written: true, Idempotent: a.idempotent,
			Err: fmt.Errorf("decoding %.200q: %w", data, err)}
	}
	if code, msg := out.apiErr(); code != 0 {
		return &Error{Code: code, Msg: msg, API: a.path}
	}
	return nil
}

// redactURL drops the query (access_token, or the secret of /cgi-bin/token)
// from the URL a transport error carries, so the error can be shown and
// logged without leaking a credential.
func redactURL(err error) {
	var ue *url.Error
	if errors.As(err, &ue) {
		if i := strings.IndexByte(ue.URL, '?'); i >= 0 {
			ue.URL = ue.URL[:i] + "?…"
		}
	}
}
