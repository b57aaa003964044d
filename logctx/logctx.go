// Package logctx carries log attributes in a context: the request id of
// an HTTP request, the job and run id of a scheduled job's run. Handler
// adds them to every record logged with that context (the *Context
// methods of slog.Logger), so each line of a request or a run names it.
package logctx

import (
	"context"
	"log/slog"
	"time"
)

type key struct{}

// With returns a context whose log lines carry args (key, value pairs or
// slog.Attr values, as slog.Logger.With takes them) after those ctx
// already carries.
func With(ctx context.Context, args ...any) context.Context {
	prev, _ := ctx.Value(key{}).([]slog.Attr)
	r := slog.NewRecord(time.Time{}, 0, "", 0) // a record only to parse args as slog does
	r.Add(args...)
	attrs := make([]slog.Attr, 0, len(prev)+r.NumAttrs())
	attrs = append(attrs, prev...)
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	return context.WithValue(ctx, key{}, attrs)
}

// Attrs returns what ctx carries.
func Attrs(ctx context.Context) []slog.Attr {
	a, _ := ctx.Value(key{}).([]slog.Attr)
	return a
}

// Value returns the value ctx carries under name ("" when none).
func Value(ctx context.Context, name string) string {
	for _, a := range Attrs(ctx) {
		if a.Key == name {
			return a.Value.String()
		}
	}
	return ""
}

// Handler wraps h so records logged with a context carry its attributes.
func Handler(h slog.Handler) slog.Handler { return handler{h} }

type handler struct{ slog.Handler }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if attrs := Attrs(ctx); len(attrs) > 0 {
		// A key the record already has (a request log line naming its
		// request_id itself) is not added twice.
		have := map[string]bool{}
		r.Attrs(func(a slog.Attr) bool { have[a.Key] = true; return true })
		r = r.Clone()
		for _, a := range attrs {
			if !have[a.Key] {
				r.AddAttrs(a)
			}
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h handler) WithAttrs(as []slog.Attr) slog.Handler { return handler{h.Handler.WithAttrs(as)} }
func (h handler) WithGroup(name string) slog.Handler    { return handler{h.Handler.WithGroup(name)} }
