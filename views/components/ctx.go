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

// FormatTime shows t in the console's time zone. The zone is named once
// on every page (ZoneLabel, in the top bar), not after every time.
func FormatTime(ctx context.Context, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(zone(ctx)).Format("2006-01-02 15:04:05")
}

func zone(ctx context.Context) *time.Location {
	if loc := Req(ctx).TZ; loc != nil {
		return loc
	}
	return time.UTC
}

// ZoneLabel names the console's time zone with its offset now, e.g.
// "Asia/Shanghai (UTC+8)".
func ZoneLabel(ctx context.Context) string {
	loc := zone(ctx)
	_, off := time.Now().In(loc).Zone()
	h, m := off/3600, off%3600/60
	if m < 0 {
		m = -m
	}
	utc := fmt.Sprintf("UTC%+d", h)
	if m != 0 {
		utc += fmt.Sprintf(":%02d", m)
	}
	if loc.String() == "UTC" {
		return "UTC"
	}
	return loc.String() + " (" + utc + ")"
}

// FormatTimePtr is FormatTime for optional times.
func FormatTimePtr(ctx context.Context, t *time.Time) string {
	if t == nil {
		return "—"
	}
	return FormatTime(ctx, *t)
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
