package web

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/logctx"
)

// maxRequestIDLen is the longest X-Request-ID taken from a client or proxy.
const maxRequestIDLen = 64

// requestID gives every request an id: the X-Request-ID it came with when
// that is sane (1 to 64 letters, digits, '.', '_', ':' or '-', as nginx's
// $request_id or a load balancer's trace id are), else a new random one.
// The id is echoed in the response's X-Request-ID and carried in the
// request's context, so every line logged with it (the request log, errors,
// handlers' warnings) names it.
func requestID() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			id := r.Header.Get(echo.HeaderXRequestID)
			if !saneRequestID(id) {
				id = newRequestID()
			}
			// The request's header too: the request logger reads it first.
			r.Header.Set(echo.HeaderXRequestID, id)
			c.Response().Header().Set(echo.HeaderXRequestID, id)
			c.SetRequest(r.WithContext(logctx.With(r.Context(), "request_id", id)))
			return next(c)
		}
	}
}

// saneRequestID tells whether id may be logged and echoed as it is.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
