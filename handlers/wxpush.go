package handlers

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat"
)

// WxPush receives WeChat's message pushes at /wx/push/:appid: the URL
// check (GET) and subscribe/reject/sent events (POST), plaintext or safe
// mode. Forged pushes are refused; retried pushes are applied once.
type WxPush struct {
	Env
	// Events is told what each push changed (the delivery engine: metrics,
	// and waking its workers on new credits); nil when no engine runs.
	Events PushObserver
	// SentEvents batches the inserts of sent events (nil: one insert each).
	SentEvents *models.SentEventWriter

	cache   pushCache
	replays pushReplays
}

// pushCacheTTL is how long an account and its push verifier are reused
// between pushes: a flood of sent events does not read and unseal the
// account for each one, and a changed Token or key applies within it.
const pushCacheTTL = 5 * time.Second

type pushCache struct {
	mu sync.Mutex
	m  map[string]pushEntry
}

type pushEntry struct {
	app    *models.App
	push   *wechat.Push
	loaded time.Time
}

// PushObserver is told what an applied push changed.
type PushObserver interface {
	PushApplied(res models.PushResult)
}

// pushFor returns the app and its verifier (cached for pushCacheTTL); a
// missing app or push Token is a 404.
func (h *WxPush) pushFor(c echo.Context) (*models.App, *wechat.Push, error) {
	appid, now := c.Param("appid"), time.Now()
	h.cache.mu.Lock()
	e, ok := h.cache.m[appid]
	h.cache.mu.Unlock()
	if ok && now.Sub(e.loaded) < pushCacheTTL {
		return e.app, e.push, nil
	}
	a, p, err := h.loadPush(c, appid)
	if err != nil {
		return nil, nil, err
	}
	h.cache.mu.Lock()
	if h.cache.m == nil {
		h.cache.m = map[string]pushEntry{}
	}
	h.cache.m[appid] = pushEntry{app: a, push: p, loaded: now}
	h.cache.mu.Unlock()
	return a, p, nil
}

func (h *WxPush) loadPush(c echo.Context, appid string) (*models.App, *wechat.Push, error) {
	ctx := c.Request().Context()
	a, err := models.GetAppByAppID(ctx, h.DB, appid)
	if err != nil {
		return nil, nil, NotFound(err)
	}
	token, err := h.Sealer.Open(a.PushTokenEnc)
	if err != nil {
		return nil, nil, err
	}
	if token == "" {
		return nil, nil, echo.NewHTTPError(http.StatusNotFound, "message push is not configured for this account: set its push Token in the console")
	}
	aesKey, err := h.Sealer.Open(a.AESKeyEnc)
	if err != nil {
		return nil, nil, err
	}
	p, err := wechat.NewPush(token, aesKey, a.AppID)
	if err != nil {
		return nil, nil, err
	}
	p.RequireAES = a.PushMode == models.PushSafe
	return a, p, nil
}

// Verify answers WeChat's URL check with echostr when the signature matches.
func (h *WxPush) Verify(c echo.Context) error {
	a, p, err := h.pushFor(c)
	if err != nil {
		return err
	}
	echostr, err := p.VerifyURL(c.QueryParams())
	if err != nil {
		h.Log.WarnContext(c.Request().Context(), "wx push: URL check refused", "app", a.AppID, "ip", c.RealIP(), "err", err)
		return echoForbidden()
	}
	return c.String(http.StatusOK, echostr)
}

func echoForbidden() error {
	return echo.NewHTTPError(http.StatusForbidden, refusal(wechat.ErrBadSignature))
}

// maxPushBody bounds what a push may send.
const maxPushBody = 1 << 20

// Receive verifies, decodes and applies one push, then answers "success".
func (h *WxPush) Receive(c echo.Context) error {
	a, p, err := h.pushFor(c)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxPushBody+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "the push body could not be read")
	}
	if len(body) > maxPushBody {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "push body over 1 MiB")
	}
	q := c.QueryParams()
	ev, err := p.Parse(q, body)
	if err == nil {
		// Only a correctly signed push reaches the replay memory.
		err = h.replays.check(a.AppID, q, body, h.Now())
	}
	switch {
	case errors.Is(err, wechat.ErrBadSignature), errors.Is(err, wechat.ErrAppIDMismatch), errors.Is(err, wechat.ErrNotEncrypted),
		errors.Is(err, wechat.ErrBadPadding), errors.Is(err, wechat.ErrBadCiphertext), errors.Is(err, wechat.ErrNoAESKey),
		errors.Is(err, errPushStale), errors.Is(err, errPushReplayed):
		h.Log.WarnContext(c.Request().Context(), "wx push: refused", "app", a.AppID, "ip", c.RealIP(), "err", err)
		return echo.NewHTTPError(http.StatusForbidden, refusal(err))
	case err != nil:
		h.Log.WarnContext(c.Request().Context(), "wx push: undecodable", "app", a.AppID, "ip", c.RealIP(), "err", err)
		return echo.NewHTTPError(http.StatusBadRequest, "malformed push body")
	}
	if err := checkPushEvent(ev); err != nil {
		h.Log.WarnContext(c.Request().Context(), "wx push: refused", "app", a.AppID, "ip", c.RealIP(), "err", err)
		return echo.NewHTTPError(http.StatusBadRequest, "push refused: "+err.Error())
	}
	res, err := models.ApplyPushEvent(c.Request().Context(), h.DB, h.SentEvents, a, ev, h.Now())
	if err != nil {
		// A 5xx makes WeChat retry; every change is deduplicated, so a retry is safe.
		return err
	}
	if h.Events != nil {
		h.Events.PushApplied(res)
	}
	return c.String(http.StatusOK, "success")
}
