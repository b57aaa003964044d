package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/minipush/minipush/logctx"
)

// logFormatArg takes --log-format VALUE (or --log-format=VALUE, one dash
// or two) out of args, wherever it stands, and returns the other args and
// the format: the flag's value, else env (MINIPUSH_LOG_FORMAT), else "text".
func logFormatArg(args []string, env string) ([]string, string, error) {
	format := env
	rest := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "log-format" {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, "", fmt.Errorf("--log-format needs a value: text or json")
			}
			i++
			val = args[i]
		}
		format = val
	}
	switch format {
	case "":
		format = "text"
	case "text", "json":
	default:
		return nil, "", fmt.Errorf("--log-format %q (or MINIPUSH_LOG_FORMAT): use text or json", format)
	}
	return rest, format, nil
}

// newLogger makes the program's logger: logfmt-style text or one JSON
// object a line, at info level, each line carrying the request or job
// run it belongs to (see package logctx).
func newLogger(w io.Writer, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(logctx.Handler(h))
}
