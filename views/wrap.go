// Package views holds the templ pages of the console and their layout.
// Pages take one view model built by a handler; views never query and never
// import handlers, web or GORM. Shared pieces live in views/components.
package views

import (
	"context"
	"time"

	"github.com/minipush/minipush/views/components"
)

// Short names for the helpers every page uses.

func T(ctx context.Context, key string, args ...any) string  { return components.T(ctx, key, args...) }
func Req(ctx context.Context) *components.Request            { return components.Req(ctx) }
func Can(ctx context.Context, roles ...string) bool          { return components.Can(ctx, roles...) }
func CanOpen(ctx context.Context, path string) bool          { return components.CanOpen(ctx, path) }
func FormatTime(ctx context.Context, t time.Time) string     { return components.FormatTime(ctx, t) }
func FormatTimePtr(ctx context.Context, t *time.Time) string { return components.FormatTimePtr(ctx, t) }
func FormatInt(n int64) string                               { return components.FormatInt(n) }
