package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/minipush/minipush/wechat/sandbox"
)

func cmdSandbox(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr("MINIPUSH_SANDBOX_ADDR", "127.0.0.1:9099"), "address to listen on (env MINIPUSH_SANDBOX_ADDR)")
	shortThing := fs.Int("short-thing-max", 5, "longest short_thing value accepted (WeChat does not document the rule)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: minipush sandbox [flags]\n\nRuns a fake WeChat API (tokens, send, template management, quota, message pushes)\nwith a control API under /sandbox/ to register apps, users and templates, simulate\nusers and faults, and read what was delivered. State is kept in memory.\nPoint an account's API base URL at it to try minipush without WeChat.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	sb := sandbox.New(sandbox.Options{Logger: log, ShortThingMax: *shortThing})
	url, err := sb.Start(*addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %v", *addr, err)
	}
	log.Info("sandbox serving", "url", url)
	fmt.Fprintf(stdout, "minipush sandbox: fake WeChat at %s (control API under %s/sandbox/)\n", url, url)
	<-ctx.Done()
	return sb.Close()
}
