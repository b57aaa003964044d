// Package components holds what every page shares: the request facts in the
// context (language, CSRF token, viewer), translation, formatting, and small
// components (form field, flash, pager, tags, empty state).
package components

import (
	"context"
	"fmt"
	"time"
)

// Viewer is the signed-in staff member as views need them.
type Viewer struct {
	ID    int64
	Email string
	Name  string
	Role  string // admin | operator | support
}

// Request carries per-request facts every component may need.
type Request struct {
	Lang   string // "zh" or "en"
	CSRF   string
	Path   string
	Viewer *Viewer // nil when not signed in
	// Allows tells whether the viewer may call a console route (method,
	// path): the route table's own guards answer (nil: nothing allowed).
	Allows func(method, path string) bool
	TZ     *time.Location
}

type ctxKey struct{}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// Req returns the request facts in ctx (never nil).
func Req(ctx context.Context) *Request {
	if r, ok := ctx.Value(ctxKey{}).(*Request); ok && r != nil {
		return r
	}
	return &Request{Lang: DefaultLang}
}

// T translates key into the request's language. Extra args fill %s/%d verbs.
func T(ctx context.Context, key string, args ...any) string {
	return Translate(Req(ctx).Lang, key, args...)
}

// Can tells whether the viewer holds one of roles (admins hold every role).
func Can(ctx context.Context, roles ...string) bool {
	v := Req(ctx).Viewer
	if v == nil {
		return false
	}
	if v.Role == "admin" {
		return true
	}
	for _, r := range roles {
		if v.Role == r {
			return true
		}
	}
	return false
}

// CanOpen tells whether the viewer's role may open the page at path (a
// menu entry or a link is shown only then).
func CanOpen(ctx context.Context, path string) bool { return CanCall(ctx, "GET", path) }

// CanCall tells whether the viewer's role may call method on path.
func CanCall(ctx context.Context, method, path string) bool {
	r := Req(ctx)
	return r.Viewer != nil && r.Allows != nil && r.Allows(method, path)
}

// FormatTime shows t in the console's time zone, with the zone named.
func FormatTime(ctx context.Context, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	loc := Req(ctx).TZ
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	return lt.Format("2006-01-02 15:04:05") + " " + zoneName(lt)
}

// FormatTimePtr is FormatTime for optional times.
func FormatTimePtr(ctx context.Context, t *time.Time) string {
	if t == nil {
		return "—"
	}
	return FormatTime(ctx, *t)
}

func zoneName(t time.Time) string {
	name, off := t.Zone()
	if name != "" && name[0] != '+' && name[0] != '-' {
		if name == "CST" && off == 8*3600 {
			return "CST (UTC+8)"
		}
		return name
	}
	return fmt.Sprintf("UTC%+d", off/3600)
}

// FormatInt prints n with thousands separators.
func FormatInt(n int64) string {
	s := fmt.Sprintf("%d", n)
	neg := false
	if n < 0 {
		neg, s = true, s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func inputType(t string) string {
	if t == "" {
		return "text"
	}
	return t
}
