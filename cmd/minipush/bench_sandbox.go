package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

// benchWeChat is the sandbox the bench sends to: by default a `minipush
// sandbox` process of its own, as WeChat is another machine's process, so
// this process's CPU and memory are minipush's alone; with --sandbox
// inline a sandbox in this process (the only way before that flag).
type benchWeChat interface {
	URL() string
	AddApp(ctx context.Context, cfg sandbox.AppConfig) error
	AddTemplate(ctx context.Context, appid string, t wechat.Template) error
	// Grant gives each openid n credits of the template.
	Grant(ctx context.Context, appid, tplID string, n int, openids []string) error
	Stats(ctx context.Context) (sandbox.Stats, error)
	AcceptedSummary(ctx context.Context, appid string) (pairs, accepted int64, err error)
	// CPUSeconds and PeakRSSMB of the sandbox's own process; -1 inline.
	CPUSeconds() float64
	PeakRSSMB() float64
	Close() error
}

// benchSandboxOptions: no daily quota to speak of, and pushes from many
// connections at once, as WeChat pushes.
type benchSandboxOptions struct {
	pushWorkers, pushQueue int
}

// startBenchWeChat starts the sandbox: mode "process" runs `bin sandbox`,
// "inline" serves one in this process.
func startBenchWeChat(mode, bin string, o benchSandboxOptions) (benchWeChat, error) {
	opts := sandbox.Options{Logger: slog.New(slog.DiscardHandler), DailyQuota: 1 << 40, PushWorkers: o.pushWorkers, PushQueue: o.pushQueue}
	switch mode {
	case "inline":
		sb := sandbox.New(opts)
		url, err := sb.Start("127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		return &inlineWeChat{sb: sb, url: url}, nil
	case "process":
		return startProcessWeChat(bin, opts)
	}
	return nil, fmt.Errorf("--sandbox %q: give process or inline", mode)
}

type inlineWeChat struct {
	sb  *sandbox.Server
	url string
}

func (w *inlineWeChat) URL() string { return w.url }
func (w *inlineWeChat) AddApp(_ context.Context, cfg sandbox.AppConfig) error {
	return w.sb.AddApp(cfg)
}
func (w *inlineWeChat) AddTemplate(_ context.Context, appid string, t wechat.Template) error {
	_, err := w.sb.AddTemplate(appid, t)
	return err
}
func (w *inlineWeChat) Grant(_ context.Context, appid, tplID string, n int, openids []string) error {
	for _, o := range openids {
		if err := w.sb.Grant(appid, o, tplID, n); err != nil {
			return err
		}
	}
	return nil
}
func (w *inlineWeChat) Stats(context.Context) (sandbox.Stats, error) { return w.sb.Stats(), nil }
func (w *inlineWeChat) AcceptedSummary(_ context.Context, appid string) (int64, int64, error) {
	p, a := w.sb.AcceptedSummary(appid)
	return p, a, nil
}
func (w *inlineWeChat) CPUSeconds() float64 { return -1 }
func (w *inlineWeChat) PeakRSSMB() float64  { return -1 }
func (w *inlineWeChat) Close() error        { return w.sb.Close() }

// processWeChat is a `minipush sandbox` child process, driven through its
// control API.
type processWeChat struct {
	*sandbox.Remote
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the child has ended
	waitErr error         // its end, once exited is closed
	peak    float64       // MB, the last VmHWM read while it ran
}

func startProcessWeChat(bin string, opts sandbox.Options) (*processWeChat, error) {
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(bin, "sandbox", "--addr", "127.0.0.1:0", "--daily-quota", strconv.FormatInt(opts.DailyQuota, 10),
		"--push-workers", strconv.Itoa(opts.PushWorkers), "--push-queue", strconv.Itoa(opts.PushQueue))
	// Not this process's collector settings: --memlimit (or GOMEMLIMIT) is
	// sized for minipush, and the sandbox holds every recipient.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "GOGC=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 8 << 10}
	// Its first line names its URL: "minipush sandbox: fake WeChat at URL (...)".
	line := make(chan string, 1)
	cmd.Stdout = &firstLine{c: line}
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s sandbox: %w", bin, err)
	}
	w := &processWeChat{cmd: cmd, exited: make(chan struct{})}
	go func() { w.waitErr = cmd.Wait(); close(w.exited) }()
	select {
	case l := <-line:
		if _, rest, ok := strings.Cut(l, " at "); ok {
			if url, _, ok := strings.Cut(rest, " "); ok && strings.HasPrefix(url, "http://") {
				w.Remote = sandbox.NewRemote(url)
				return w, nil
			}
		}
	case <-w.exited:
	case <-time.After(30 * time.Second):
	}
	_ = w.Close()
	return nil, fmt.Errorf("%s sandbox did not start (use --sandbox-bin to name a minipush binary, or --sandbox inline): %s", bin, strings.TrimSpace(stderr.String()))
}

func (w *processWeChat) URL() string { return w.Remote.URL }
func (w *processWeChat) AddTemplate(ctx context.Context, appid string, t wechat.Template) error {
	_, err := w.Remote.AddTemplate(ctx, appid, t)
	return err
}

// Grant sends the openids in bodies of 10,000 (the control API reads up to
// 1 MiB).
func (w *processWeChat) Grant(ctx context.Context, appid, tplID string, n int, openids []string) error {
	for len(openids) > 0 {
		k := min(len(openids), 10000)
		if err := w.Remote.Grant(ctx, appid, tplID, n, openids[:k]...); err != nil {
			return err
		}
		openids = openids[k:]
	}
	return nil
}

func (w *processWeChat) CPUSeconds() float64 {
	cpu, err := procCPUSeconds(w.cmd.Process.Pid)
	if err != nil {
		return -1
	}
	return cpu
}

func (w *processWeChat) PeakRSSMB() float64 {
	if mb := procStatusMB(w.cmd.Process.Pid, "VmHWM:"); mb > 0 {
		w.peak = mb
	}
	return w.peak
}

// Close stops the child (SIGTERM, then SIGKILL after 10 s).
func (w *processWeChat) Close() error {
	w.PeakRSSMB()
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
	}
	var ee *exec.ExitError
	if errors.As(w.waitErr, &ee) && !ee.Exited() {
		return nil // ended by the signal
	}
	return w.waitErr
}

// firstLine sends the first line written to it on c, and drops the rest.
type firstLine struct {
	c    chan<- string
	buf  []byte
	done bool
}

func (f *firstLine) Write(p []byte) (int, error) {
	if !f.done {
		f.buf = append(f.buf, p...)
		if i := bytes.IndexByte(f.buf, '\n'); i >= 0 {
			f.c <- string(f.buf[:i])
			f.done, f.buf = true, nil
		}
	}
	return len(p), nil
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
