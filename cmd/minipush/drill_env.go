package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat/sandbox"
)

// drillEnv is what every drill scenario runs in: a throwaway database on
// the MySQL/MariaDB server, the bench account and template, the sandbox as
// WeChat pushing its events through a local proxy (as behind a load
// balancer) to the live `serve` instances, and those instances.
type drillEnv struct {
	name     string
	stderr   io.Writer
	db       *gorm.DB
	dsn      string
	key      []byte
	sealer   *models.Sealer
	sb       *sandbox.Server
	app      *models.App
	tpl      *models.Template
	serveBin string
	logDir   string

	mu   sync.Mutex
	live []*drillInstance
	// target, when set, receives the pushes instead of the live
	// instances (a scenario that runs the engine in this process).
	target string
	seq    int

	closers []func()
}

// drillInstance is one `serve` process.
type drillInstance struct {
	n    int
	addr string
	cmd  *exec.Cmd
	log  *os.File
}

func (in *drillInstance) String() string {
	return fmt.Sprintf("serve #%d (pid %d)", in.n, in.cmd.Process.Pid)
}

// newDrillEnv sets up the database, the sandbox (opts; its push settings
// are filled here) and the proxy. Close it.
func newDrillEnv(ctx context.Context, name, dsn, serveBin string, opts sandbox.Options, stderr io.Writer) (_ *drillEnv, err error) {
	e := &drillEnv{name: name, stderr: stderr, serveBin: serveBin}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	quiet := slog.New(slog.DiscardHandler)
	dbDSN, drop, err := benchDatabase(dsn)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, drop)
	e.dsn = dbDSN
	if e.db, err = models.Open(ctx, dbDSN, models.OpenOptions{Logger: quiet, SlowQuery: time.Minute}); err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { models.Close(e.db) })
	// The migration lock is one per server (GET_LOCK), not per database:
	// on a server where other test suites migrate throwaway databases the
	// wait can pass its 60 s. Try again a few times.
	for try := 1; ; try++ {
		_, err := models.Migrate(ctx, e.db)
		if err == nil {
			break
		}
		if try == 5 || !strings.Contains(err.Error(), "waiting for its lock") {
			return nil, err
		}
		e.say("migrating: %v; trying again", err)
	}
	e.key = make([]byte, 32)
	_, _ = rand.Read(e.key)
	if e.sealer, err = models.NewSealer(e.key); err != nil {
		return nil, err
	}
	if e.logDir, err = os.MkdirTemp("", "minipush-drill-"+name+"-"); err != nil {
		return nil, err
	}

	// With no instance alive the proxy answers 502 and WeChat retries.
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(&url.URL{Scheme: "http", Host: e.pushTarget()})
	}, ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	psrv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = psrv.Serve(pl) }()
	e.closers = append(e.closers, func() { _ = psrv.Close() })

	if opts.Logger == nil {
		opts.Logger = quiet
	}
	if opts.DailyQuota == 0 {
		opts.DailyQuota = 1 << 40
	}
	opts.PushWorkers, opts.PushQueue = max(opts.PushWorkers, 16), max(opts.PushQueue, 1<<20)
	e.sb = sandbox.New(opts)
	e.closers = append(e.closers, func() { _ = e.sb.Close() })
	sbURL, err := e.sb.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	pushURL := "http://" + pl.Addr().String() + "/wx/push/" + benchAppID
	if e.app, e.tpl, err = benchSetup(ctx, e.db, &inlineWeChat{sb: e.sb, url: sbURL}, e.sealer, pushURL); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *drillEnv) say(format string, a ...any) {
	fmt.Fprintf(e.stderr, "drill %s: "+format+"\n", append([]any{e.name}, a...)...)
}

// pushTarget picks where the next push goes: the in-process target, else
// a live instance in turn, else a closed port (502).
func (e *drillEnv) pushTarget() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.target != "":
		return e.target
	case len(e.live) == 0:
		return "127.0.0.1:1"
	}
	e.seq++
	return e.live[e.seq%len(e.live)].addr
}

// start runs `serve` number n on a free port and waits until it is ready.
func (e *drillEnv) start(n int) (*drillInstance, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	f, err := os.OpenFile(filepath.Join(e.logDir, fmt.Sprintf("serve-%d.log", n)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(e.serveBin, "serve", "--addr", addr)
	// Migrated already (newDrillEnv): a restart must not queue for the
	// server-wide migration lock.
	cmd.Env = append(os.Environ(), "MINIPUSH_SECRET_KEY="+base64.StdEncoding.EncodeToString(e.key), "MINIPUSH_DB="+e.dsn,
		"MINIPUSH_NO_MIGRATE=true")
	cmd.Stdout, cmd.Stderr = f, f
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	in := &drillInstance{n: n, addr: addr, cmd: cmd, log: f}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			f.Close()
			return nil, fmt.Errorf("serve on %s not ready after 60 s (log: %s)", addr, f.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.mu.Lock()
	e.live = append(e.live, in)
	e.mu.Unlock()
	return in, nil
}

// kill stops an instance with SIGKILL: no shutdown of any kind.
func (e *drillEnv) kill(in *drillInstance) {
	e.mu.Lock()
	for i := range e.live {
		if e.live[i] == in {
			e.live = append(e.live[:i], e.live[i+1:]...)
			break
		}
	}
	e.mu.Unlock()
	_ = in.cmd.Process.Kill()
	_ = in.cmd.Wait()
	in.log.Close()
}

// instances returns the live instances.
func (e *drillEnv) instances() []*drillInstance {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*drillInstance(nil), e.live...)
}

// close stops the live instances gracefully (SIGINT, 30 s), then the
// sandbox and proxy, and drops the database.
func (e *drillEnv) close() {
	for _, in := range e.instances() {
		_ = in.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = in.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = in.cmd.Process.Kill()
			<-done
		}
		in.log.Close()
	}
	e.mu.Lock()
	e.live = nil
	e.mu.Unlock()
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// waitFor polls cond every 20 ms until it holds, ctx ends or limit passes.
func waitFor(ctx context.Context, limit time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
