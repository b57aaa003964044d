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
	quota := fs.Int64("daily-quota", 10_000_000, "daily send quota of each app without one of its own (WeChat's cap without WeChat Pay: 10,000,000)")
	pushWorkers := fs.Int("push-workers", 4, "pushes delivered at once (WeChat pushes from many connections: minipush bench uses 64)")
	pushQueue := fs.Int("push-queue", 10000, "pushes waiting for a worker; when full, new pushes are dropped and counted in /sandbox/stats")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: minipush sandbox [flags]\n\nRuns a fake WeChat API (tokens, send, template management, quota, message pushes)\nwith a control API under /sandbox/ to register apps, users and templates, simulate\nusers and faults, and read what was delivered. State is kept in memory.\nPoint an account's API base URL at it to try minipush without WeChat.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *quota <= 0 || *pushWorkers <= 0 || *pushQueue <= 0 {
		return fmt.Errorf("--daily-quota, --push-workers and --push-queue must be positive")
	}
	sb := sandbox.New(sandbox.Options{Logger: log, ShortThingMax: *shortThing, DailyQuota: *quota, PushWorkers: *pushWorkers, PushQueue: *pushQueue})
	url, err := sb.Start(*addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %v", *addr, err)
	}
	log.Info("sandbox serving", "url", url)
	fmt.Fprintf(stdout, "minipush sandbox: fake WeChat at %s (control API under %s/sandbox/)\n", url, url)
	<-ctx.Done()
	return sb.Close()
}
