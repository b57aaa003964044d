package handlers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/minipush/minipush/handlers/apidoc"
	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views/components"
)

// API is the JSON API under /api/v1 for business backends. Every call
// carries an API key (Authorization: Bearer <key>) scoped to one account.
type API struct {
	Env
	// Queue queues messages and wakes the delivery engine.
	Queue Enqueuer
	// Usage counts calls per key in memory and writes them every few
	// seconds (nil: each call updates its key's row at once).
	Usage *models.APIKeyUsage
}

// APIError is an error answered as {"error":{"code","message","field"}}.
type APIError struct {
	Status int
	Code   string // stable: bad_json, unknown_field, no_credit, …
	Field  string // the request field it concerns, "" when none
	// Args fill the message's %-verbs (api.err.<code> in the catalog).
	Args []any
	// Message, when set, replaces the catalog's message.
	Message string
}

func (e *APIError) Error() string { return e.Code + " " + e.Field }

func apiErr(status int, code, field string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Field: field, Args: args}
}

type apiKeyState int

const keyAPIKey apiKeyState = iota

type apiCaller struct {
	Key *models.APIKey
	App *models.App
}

// CurrentAPIKey returns the key and account of an API call (nil outside /api/v1).
func CurrentAPIKey(c echo.Context) (*models.APIKey, *models.App) {
	s, _ := c.Request().Context().Value(keyAPIKey).(*apiCaller)
	if s == nil {
		return nil, nil
	}
	return s.Key, s.App
}

// apiLang is the language of API error messages: Chinese when the caller
// asks for it, English otherwise.
func apiLang(c echo.Context) string {
	if strings.HasPrefix(strings.ToLower(c.Request().Header.Get("Accept-Language")), "zh") {
		return "zh"
	}
	return "en"
}

// Errors answers every error of the API group in the API's shape.
func (h *API) Errors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed {
			return err
		}
		return h.writeError(c, err)
	}
}

func (h *API) writeError(c echo.Context, err error) error {
	var ae *APIError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, echo.ErrNotFound):
		ae = StatusError(http.StatusNotFound)
		// The path as the router matched it (escaped when the client escaped
		// it: users%3Abatch is no route, whatever it decodes to).
		allow := allowedMethods(c.Echo().Routes(), echo.GetPath(c.Request()))
		if len(allow) > 0 && !slices.Contains(allow, c.Request().Method) {
			c.Response().Header().Set(echo.HeaderAllow, strings.Join(allow, ", "))
			ae = StatusError(http.StatusMethodNotAllowed)
		}
	case errors.As(err, &he):
		ae = StatusError(he.Code)
	default:
		ae = StatusError(http.StatusInternalServerError)
	}
	if ae.Status >= 500 {
		h.Log.Error("api request failed", "err", err, "path", c.Request().URL.Path, "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
	return WriteAPIError(c, ae)
}

// allowedMethods lists the methods of the routes whose path matches path
// (a ":name" segment matches any one segment): the router answers a known
// path with a method it does not take as not found, because the group's
// own not-found route matches every method.
func allowedMethods(routes []*echo.Route, path string) []string {
	segs := strings.Split(path, "/")
	var out []string
	for _, r := range routes {
		if !strings.HasPrefix(r.Method, "echo_route_") && !slices.Contains(out, r.Method) && routeMatches(r.Path, segs) {
			out = append(out, r.Method)
		}
	}
	slices.Sort(out)
	return out
}

func routeMatches(pattern string, segs []string) bool {
	ps := strings.Split(pattern, "/")
	if len(ps) != len(segs) {
		return false
	}
	for i, p := range ps {
		switch {
		case strings.Contains(p, "*"):
			return false
		case strings.HasPrefix(p, ":"):
			if segs[i] == "" {
				return false
			}
		case strings.ReplaceAll(p, `\:`, ":") != segs[i]:
			return false
		}
	}
	return true
}

// StatusError is the API error of an HTTP status the framework answers.
func StatusError(status int) *APIError { return &APIError{Status: status, Code: statusCode(status)} }

// WriteAPIError answers ae in the API's shape, {"error":{code, message,
// field}}, in the caller's language; a 5xx names the request id. The
// server's error handler uses it too, for what never reached the API group
// (no route, a body over the server-wide limit).
func WriteAPIError(c echo.Context, ae *APIError) error {
	if ae.Status >= 500 {
		ae.Args = []any{c.Response().Header().Get(echo.HeaderXRequestID)}
	}
	msg := ae.Message
	if msg == "" {
		args := slices.Clone(ae.Args)
		for i, a := range args {
			if w, ok := a.(typeWord); ok {
				args[i] = components.Translate(apiLang(c), "api.json."+string(w))
			}
		}
		msg = components.Translate(apiLang(c), "api.err."+ae.Code, args...)
	}
	body := map[string]any{"code": ae.Code, "message": msg}
	if ae.Field != "" {
		body["field"] = ae.Field
	}
	return c.JSON(ae.Status, map[string]any{"error": body})
}

// statusCode is the stable code of an HTTP status the framework answers.
func statusCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	}
	if status >= 500 {
		return "internal_error"
	}
	return "bad_request"
}

// BearerToken reads "Authorization: Bearer <token>". The scheme's name is
// case-insensitive (RFC 9110 §11.1): some clients send "bearer".
func BearerToken(authz string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authz), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// Auth checks the bearer key, counts the call and records the account.
func (h *API) Auth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := BearerToken(c.Request().Header.Get("Authorization"))
		if !ok {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="minipush"`)
			return apiErr(http.StatusUnauthorized, "unauthorized", "")
		}
		ctx := c.Request().Context()
		k, app, err := models.AuthenticateAPIKeyApp(ctx, h.DB, token)
		if errors.Is(err, models.ErrNotFound) {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="minipush", error="invalid_token"`)
			return apiErr(http.StatusUnauthorized, "invalid_key", "")
		}
		if err != nil {
			return err
		}
		if h.Usage != nil {
			h.Usage.Count(k.ID, h.Now())
		} else if err := models.TouchAPIKey(ctx, h.DB, k.ID, h.Now()); err != nil {
			return err
		}
		if app.Disabled {
			return apiErr(http.StatusForbidden, "account_disabled", "")
		}
		c.SetRequest(c.Request().WithContext(context.WithValue(ctx, keyAPIKey, &apiCaller{Key: k, App: app})))
		return next(c)
	}
}

// decodeJSON reads the request body into v, refusing unknown fields,
// trailing data and anything but JSON.
func decodeJSON(c echo.Context, v any) error {
	ct := c.Request().Header.Get("Content-Type")
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "application/json") {
		return apiErr(http.StatusUnsupportedMediaType, "unsupported_media_type", "")
	}
	body := bufio.NewReader(c.Request().Body)
	if err := refuseNull(body); err != nil {
		return err
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return apiErr(http.StatusBadRequest, "bad_json", "", "trailing data after the JSON value")
	}
	return nil
}

// refuseNull refuses a body of null: it would decode as an empty request
// (PUT /users/{openid} with null made the user). Other bodies that are not
// an object are refused by the decoder (wrong_type).
func refuseNull(body *bufio.Reader) error {
	for {
		b, err := body.Peek(1)
		switch {
		case err != nil:
			return jsonError(err)
		case strings.ContainsRune(" \t\r\n", rune(b[0])):
			_, _ = body.Discard(1)
			continue
		}
		// null alone (what follows it, if anything, is the decoder's to refuse)
		if w, _ := body.Peek(5); bytes.HasPrefix(w, []byte("null")) && (len(w) == 4 || strings.ContainsRune(" \t\r\n", rune(w[4]))) {
			return wrongType("", "null", "object")
		}
		return nil
	}
}

func jsonError(err error) error {
	var he *echo.HTTPError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &mbe):
		return apiErr(http.StatusRequestEntityTooLarge, "body_too_large", "")
	case errors.As(err, &se):
		return apiErr(http.StatusBadRequest, "bad_json", "", fmt.Sprintf("offset %d", se.Offset))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return apiErr(http.StatusBadRequest, "bad_json", "", "empty or cut-off body")
	case errors.As(err, &te):
		return wrongType(te.Field, te.Value, jsonType(te.Type))
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return apiErr(http.StatusUnprocessableEntity, "unknown_field", strings.Trim(f, `"`))
	}
	return apiErr(http.StatusBadRequest, "bad_json", "", "not valid JSON")
}

// typeWord is a JSON type named in an error message, put into the
// caller's language when the message is written.
type typeWord string

// wrongType is a wrong_type error: got is what the JSON held (as
// encoding/json names it: "number", "bool", "number 1e999"…), want what
// the field takes.
func wrongType(field, got, want string) *APIError {
	got, _, _ = strings.Cut(got, " ")
	if got == "bool" {
		got = "boolean"
	}
	return apiErr(http.StatusUnprocessableEntity, "wrong_type", field, typeWord(got), typeWord(want))
}

// jsonValueType names the JSON type of a raw value.
func jsonValueType(raw []byte) string {
	switch v := bytes.TrimSpace(raw); {
	case len(v) == 0:
		return "null"
	case v[0] == '"':
		return "string"
	case v[0] == '{':
		return "object"
	case v[0] == '[':
		return "array"
	case v[0] == 't' || v[0] == 'f':
		return "boolean"
	case v[0] == 'n':
		return "null"
	}
	return "number"
}

// jsonType names a Go type as the JSON a client should send for it (the
// Go type is ours, not the client's).
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem())
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16,
		reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	}
	return "another type"
}

// OpenAPI serves the API's description.
func (h *API) OpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", apidoc.OpenAPI)
}

// DBQueue queues deliveries in the database only; a delivery engine
// running elsewhere picks them up when it next polls.
type DBQueue struct{ DB *gorm.DB }

// Enqueue implements Enqueuer.
func (q DBQueue) Enqueue(ctx context.Context, nd models.NewDelivery) (*models.Delivery, bool, error) {
	return models.EnqueueDelivery(ctx, q.DB, nd)
}
