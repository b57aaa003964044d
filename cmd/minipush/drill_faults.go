package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/web"
	"github.com/minipush/minipush/wechat/sandbox"
)

// drillClock is the wall clock moved forward by an offset: the engine,
// the campaigns job, the push endpoint and the sandbox all read it, so
// "the next day" comes when the drill says.
type drillClock struct{ offset atomic.Int64 }

func (c *drillClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// jumpTo moves the clock forward to t.
func (c *drillClock) jumpTo(t time.Time) { c.offset.Add(int64(t.Sub(c.Now()))) }

// drillFaults: WeChat on a bad day during a campaign. `serve` takes no
// clock, so this scenario runs the same engine, campaigns job and push
// endpoint `serve` runs, in this process, on the drill's clock. WeChat
// answers 10 % of sends -1 and cuts 1 % after counting them; at 25 % of
// the messages accepted every token expires (42001), at 45 % every token
// is revoked (40001); the daily quota runs out at 60 % (45009), the drill
// waits until the engine has paused the account and nothing is in flight,
// then moves the clock to the pause's end (midnight China time): the
// campaign must finish the next day.
func drillFaults(ctx context.Context, c drillConfig) (*drillReport, error) {
	clk := &drillClock{}
	quota := int64(0.6 * float64(c.users))
	f := sandbox.Faults{ErrorRate: 0.10, TimeoutAfterCountRate: 0.01, DailyQuota: quota}
	e, err := newDrillEnv(ctx, "faults", c.dsn, c.serveBin, sandbox.Options{Now: clk.Now}, c.stderr)
	if err != nil {
		return nil, err
	}
	defer e.close()
	e.say("seeding %d users...", c.users)
	if err := drillSeedUsers(ctx, e, c.users); err != nil {
		return nil, err
	}
	f.Latency = c.latency
	if err := e.sb.SetFaults(benchAppID, f); err != nil {
		return nil, err
	}
	stop, err := e.startInProcess(ctx, clk)
	if err != nil {
		return nil, err
	}
	defer stop()

	t0 := time.Now()
	runID, err := drillStartCampaign(ctx, e, clk.Now())
	if err != nil {
		return nil, err
	}
	rep := &drillReport{Users: c.users, Logs: e.logDir, Injected: []string{fmt.Sprintf(
		"engine in this process, %s latency; WeChat answers 10 %% of sends -1, cuts 1 %% after counting, daily quota %d (60 %%)", c.latency, quota)}}
	e.say("run #%d started in this process (log in %s)", runID, e.logDir)

	for _, step := range []struct {
		share float64
		what  string
		do    func(string) error
	}{
		{0.25, "every access token expired (42001)", e.sb.ExpireTokens},
		{0.45, "every access token revoked (40001)", e.sb.RevokeTokens},
	} {
		if err := waitFor(ctx, 15*time.Minute, "messages accepted", func() (bool, error) {
			return e.sb.TotalAccepted() >= int64(step.share*float64(c.users)), nil
		}); err != nil {
			return nil, err
		}
		n := e.sb.TotalAccepted()
		if err := step.do(benchAppID); err != nil {
			return nil, err
		}
		refused := e.sb.Stats().TokenRefused
		rep.Injected = append(rep.Injected, fmt.Sprintf("%s at %d accepted", step.what, n))
		_ = waitFor(ctx, time.Minute, "sending again", func() (bool, error) { return e.sb.TotalAccepted() > n+100, nil })
		rep.Notes = append(rep.Notes, fmt.Sprintf("after the %s: %d sends refused, sending again", step.what[len("every access token "):],
			e.sb.Stats().TokenRefused-refused))
	}

	note, err := e.nextDay(ctx, clk, quota)
	if err != nil {
		return nil, err
	}
	rep.Notes = append(rep.Notes, note)
	return rep, e.settleAndCount(ctx, c, rep, runID, t0)
}

// nextDay waits until the quota is used up, the engine has paused the
// account and nothing is in flight or unsettled, then moves the clock to
// the end of the pause and waits until WeChat accepts again.
func (e *drillEnv) nextDay(ctx context.Context, clk *drillClock, quota int64) (string, error) {
	var app models.App
	err := waitFor(ctx, 15*time.Minute, "the account paused on 45009 with nothing in flight", func() (bool, error) {
		if e.sb.Stats().QuotaRefused == 0 || e.sb.Stats().PushesPending > 0 {
			return false, nil
		}
		if err := e.db.WithContext(ctx).First(&app, e.app.ID).Error; err != nil {
			return false, err
		}
		if app.PausedUntil == nil || !app.PausedUntil.After(clk.Now()) {
			return false, nil
		}
		st, err := models.CountDeliveriesByStatus(ctx, e.db, 0)
		if err != nil || st[models.DeliverySending] > 0 {
			return false, err
		}
		o, err := drillOpenRows(ctx, e.db, e.sb)
		return o.Accepted == o.PushLost, err
	})
	if err != nil {
		return "", err
	}
	accepted, refused := e.sb.TotalAccepted(), e.sb.Stats().QuotaRefused
	time.Sleep(3 * time.Second) // paused: nothing goes out
	if a := e.sb.TotalAccepted(); a != accepted {
		return "", fmt.Errorf("%d messages accepted while the account was paused on its quota", a-accepted)
	}
	china := time.FixedZone("CST", 8*3600)
	from := clk.Now()
	clk.jumpTo(app.PausedUntil.Add(time.Second))
	t := time.Now()
	if err := waitFor(ctx, 2*time.Minute, "sending the next day", func() (bool, error) { return e.sb.TotalAccepted() > accepted, nil }); err != nil {
		return "", err
	}
	return fmt.Sprintf("quota used up at %d accepted (45009 answered %d times); account paused %s until %s; clock moved %.1f h forward; sending again %.1f s later",
		accepted, refused, app.PauseReason, app.PausedUntil.In(china).Format("2006-01-02 15:04 MST"), app.PausedUntil.Sub(from).Hours(),
		time.Since(t).Seconds()), nil
}

// startInProcess runs what `serve` runs for sending, on clk: the delivery
// engine, the campaigns job (every second) and the push endpoint, which
// receives the sandbox's pushes. It returns a function stopping them.
func (e *drillEnv) startInProcess(ctx context.Context, clk *drillClock) (func(), error) {
	lf, err := os.Create(filepath.Join(e.logDir, "engine.log"))
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(lf, nil))
	eng, err := scheduler.NewEngine(scheduler.Config{DB: e.db, Sealer: e.sealer, Logger: log, Now: clk.Now})
	if err != nil {
		lf.Close()
		return nil, err
	}
	if err := eng.Start(context.WithoutCancel(ctx)); err != nil {
		lf.Close()
		return nil, err
	}
	events := models.NewSentEventWriter(e.db)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		lf.Close()
		return nil, err
	}
	hs := &http.Server{Handler: web.New(web.Deps{DB: e.db, Logger: log, Sealer: e.sealer, Events: eng, SentEvents: events, Now: clk.Now}).Echo,
		ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(l) }()
	e.mu.Lock()
	e.target = l.Addr().String()
	e.mu.Unlock()

	jctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		job := &scheduler.Campaigns{DB: e.db, Log: log, Now: clk.Now, Notify: eng.Notify}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if err := job.Tick(jctx); err != nil && jctx.Err() == nil {
				log.Error("campaigns job", "err", err)
			}
			select {
			case <-jctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		_ = hs.Close()
		events.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = eng.Stop(sctx)
		scancel()
		lf.Close()
	}, nil
}
