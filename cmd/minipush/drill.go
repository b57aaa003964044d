package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
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

// drillRun is one scenario of the crash drill: how many `serve` instances
// share the database, and at which shares of the recipients accepted by
// WeChat the first instance is killed with SIGKILL (restarted when
// restart is true).
type drillRun struct {
	Name      string    `json:"name"`
	Instances int       `json:"instances"`
	KillAt    []float64 `json:"kill_at"`
	Restart   bool      `json:"restart"`
}

// drillReport is what one scenario counted at its end.
type drillReport struct {
	Run              drillRun         `json:"run"`
	Users            int              `json:"users"`
	PerUser          [3]int64         `json:"per_user_0_1_2"` // users WeChat accepted 0, 1, 2+ messages for
	Duplicates       int64            `json:"duplicates"`
	Lost             int64            `json:"lost"`
	Spent            int64            `json:"credits_spent"`
	Refunded         int64            `json:"credits_refunded"`
	Left             int64            `json:"credits_left"`
	LedgerOK         bool             `json:"ledger_consistent"`
	Statuses         map[string]int64 `json:"statuses"`
	AcceptedUnsettle int64            `json:"accepted_unknown_or_sent"`
	EventsGivenUp    int64            `json:"events_given_up"`
	PushesDropped    int64            `json:"pushes_dropped"`
	Kills            []string         `json:"kills"`
	SendSeconds      float64          `json:"send_seconds"`   // start → last message accepted by WeChat
	SettleSeconds    float64          `json:"settle_seconds"` // last message accepted → every delivery settled (or the wait ended)
	Settled          bool             `json:"settled"`
	Logs             string           `json:"logs"`
}

func (r *drillReport) ok() bool {
	return r.Duplicates == 0 && r.Lost == 0 && r.LedgerOK && r.AcceptedUnsettle == 0
}

const drillPushToken = "drillpushtoken"

func cmdDrill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("db", envOr("MINIPUSH_DB", "mysql:root@tcp(127.0.0.1:3306)/test"),
		"MySQL/MariaDB server to drill on: mysql:user:pass@tcp(host:3306)/any (a throwaway database is made on it per scenario and dropped)")
	users := fs.Int("users", 20000, "recipients: each holds one credit here and two at the sandbox (a duplicate would be accepted and counted)")
	latency := fs.Duration("latency", 50*time.Millisecond, "sandbox latency of every send")
	wait := fs.Duration("settle-wait", 5*time.Minute, "how long to wait after the last send for every delivery to settle (leases last 2 minutes)")
	bin := fs.String("serve-bin", "", "the minipush binary to run as `serve` (default: this one)")
	only := fs.String("only", "", "run one scenario: one-instance or two-instances")
	asJSON := fs.Bool("json", false, "print one JSON object per scenario instead of a table")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: minipush drill [flags]\n\nThe crash drill: N users with one credit each, one queued delivery each, the sandbox as WeChat\n"+
			"(pushing its events to the instances through a local proxy), and real `minipush serve` processes killed\n"+
			"with SIGKILL mid-run. Scenario one-instance: one serve killed at 39%% and 76%% of the messages accepted,\n"+
			"restarted each time. Scenario two-instances: two serve on one database, one killed at 39%% and not restarted.\n"+
			"Each ends with a table: messages per user at WeChat, lost, credits against the ledger, statuses, accepted\n"+
			"messages left unknown or sent, sent events given up. It exits non-zero when exactly-once or settlement failed.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !strings.HasPrefix(*dsn, "mysql:") {
		return errors.New("--db: the drill runs several instances on one database: give a MySQL/MariaDB server (mysql:…)")
	}
	serveBin := *bin
	if serveBin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		serveBin = exe
	}
	runs := []drillRun{
		{Name: "one-instance", Instances: 1, KillAt: []float64{0.39, 0.76}, Restart: true},
		{Name: "two-instances", Instances: 2, KillAt: []float64{0.39}},
	}
	failed := false
	for _, r := range runs {
		if *only != "" && r.Name != *only {
			continue
		}
		rep, err := runDrill(ctx, r, *dsn, serveBin, *users, *latency, *wait, stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		if *asJSON {
			if err := json.NewEncoder(stdout).Encode(rep); err != nil {
				return err
			}
		} else {
			printDrill(stdout, rep)
		}
		failed = failed || !rep.ok()
	}
	if failed {
		return errors.New("drill failed: see the table")
	}
	return nil
}

// drillInstance is one `serve` process.
type drillInstance struct {
	addr string
	cmd  *exec.Cmd
	log  *os.File
}

func runDrill(ctx context.Context, r drillRun, dsn, serveBin string, n int, latency, wait time.Duration, stderr io.Writer) (*drillReport, error) {
	say := func(format string, a ...any) {
		fmt.Fprintf(stderr, "drill %s: "+format+"\n", append([]any{r.Name}, a...)...)
	}
	quiet := slog.New(slog.DiscardHandler)
	dbDSN, drop, err := benchDatabase(dsn)
	if err != nil {
		return nil, err
	}
	defer drop()
	db, err := models.Open(ctx, dbDSN, models.OpenOptions{Logger: quiet, SlowQuery: time.Minute})
	if err != nil {
		return nil, err
	}
	defer models.Close(db)
	if _, err := models.Migrate(ctx, db); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := models.NewSealer(key)
	if err != nil {
		return nil, err
	}
	logDir, err := os.MkdirTemp("", "minipush-drill-")
	if err != nil {
		return nil, err
	}

	// WeChat's pushes reach the live instances through a proxy, as behind
	// a load balancer; with none alive it answers 502 and WeChat retries.
	var mu sync.Mutex
	var live []*drillInstance
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		mu.Lock()
		defer mu.Unlock()
		if len(live) == 0 {
			pr.Out.URL.Host = "127.0.0.1:1" // nothing listens: 502
			pr.Out.URL.Scheme = "http"
			return
		}
		pr.SetURL(&url.URL{Scheme: "http", Host: live[time.Now().Nanosecond()%len(live)].addr})
	}, ErrorLog: nil, ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	psrv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = psrv.Serve(pl) }()
	defer psrv.Close()

	sb := sandbox.New(sandbox.Options{Logger: quiet, DailyQuota: 1 << 40, PushWorkers: 16, PushQueue: 1 << 20})
	defer sb.Close()
	sbURL, err := sb.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	pushURL := "http://" + pl.Addr().String() + "/wx/push/" + benchAppID
	app, tpl, err := benchSetup(ctx, db, sb, sbURL, sealer, pushURL)
	if err != nil {
		return nil, err
	}
	say("seeding %d users and deliveries...", n)
	if err := benchSeed(ctx, db, sb, app, tpl, n); err != nil {
		return nil, err
	}
	if err := sb.SetFaults(benchAppID, sandbox.Faults{Latency: latency}); err != nil {
		return nil, err
	}

	env := append(os.Environ(), "MINIPUSH_SECRET_KEY="+base64.StdEncoding.EncodeToString(key), "MINIPUSH_DB="+dbDSN)
	start := func(i int) (*drillInstance, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr := l.Addr().String()
		l.Close()
		f, err := os.OpenFile(filepath.Join(logDir, fmt.Sprintf("serve-%d.log", i)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(serveBin, "serve", "--addr", addr)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, f, f
		if err := cmd.Start(); err != nil {
			f.Close()
			return nil, err
		}
		in := &drillInstance{addr: addr, cmd: cmd, log: f}
		deadline := time.Now().Add(30 * time.Second)
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
				return nil, fmt.Errorf("serve on %s not ready after 30 s (log: %s)", addr, f.Name())
			}
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		live = append(live, in)
		mu.Unlock()
		return in, nil
	}
	kill := func(in *drillInstance) {
		mu.Lock()
		for i := range live {
			if live[i] == in {
				live = append(live[:i], live[i+1:]...)
				break
			}
		}
		mu.Unlock()
		_ = in.cmd.Process.Kill() // SIGKILL: no shutdown of any kind
		_ = in.cmd.Wait()
		in.log.Close()
	}
	defer func() {
		mu.Lock()
		rest := append([]*drillInstance(nil), live...)
		mu.Unlock()
		for _, in := range rest {
			_ = in.cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { _ = in.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = in.cmd.Process.Kill()
			}
			in.log.Close()
		}
	}()

	rep := &drillReport{Run: r, Users: n, Logs: logDir}
	t0 := time.Now()
	for i := range r.Instances {
		if _, err := start(i); err != nil {
			return nil, err
		}
	}
	say("%d instance(s) sending (logs in %s)", r.Instances, logDir)
	victim := func() *drillInstance { mu.Lock(); defer mu.Unlock(); return live[0] }
	for _, at := range r.KillAt {
		for sb.TotalAccepted() < int64(at*float64(n)) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if time.Since(t0) > 10*time.Minute {
				return nil, fmt.Errorf("only %d of %d accepted after 10 minutes", sb.TotalAccepted(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		killedAt := sb.TotalAccepted()
		kill(victim())
		k := fmt.Sprintf("SIGKILL at %d accepted (%.0f%%)", killedAt, 100*float64(killedAt)/float64(n))
		if r.Restart {
			t := time.Now()
			if _, err := start(0); err != nil {
				return nil, err
			}
			before := sb.TotalAccepted()
			for sb.TotalAccepted() == before && time.Since(t) < time.Minute {
				time.Sleep(5 * time.Millisecond)
			}
			k += fmt.Sprintf(", restarted, sending again after %.1f s", time.Since(t).Seconds())
		}
		rep.Kills = append(rep.Kills, k)
		say("%s", k)
	}

	// Wait for the end: nothing queued or sending, WeChat's pushes drained,
	// nothing sent but unsettled; or the wait runs out.
	var lastAccepted time.Time
	prev := int64(-1)
	for {
		if a := sb.TotalAccepted(); a != prev {
			prev, lastAccepted = a, time.Now()
		}
		st, err := models.CountDeliveriesByStatus(ctx, db, 0)
		if err != nil {
			return nil, err
		}
		open := st[models.DeliveryQueued] + st[models.DeliverySending] + st[models.DeliverySent]
		pending := sb.Stats().PushesPending
		if open == 0 && pending == 0 {
			unsettled, err := drillAcceptedUnsettled(ctx, db, sb)
			if err != nil {
				return nil, err
			}
			if unsettled == 0 {
				rep.Settled = true
				break
			}
		}
		if time.Since(lastAccepted) > wait {
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		time.Sleep(500 * time.Millisecond)
	}
	rep.SendSeconds = lastAccepted.Sub(t0).Seconds()
	rep.SettleSeconds = time.Since(lastAccepted).Seconds()
	return rep, drillCount(ctx, db, sb, tpl, rep)
}

// drillAcceptedUnsettled counts deliveries left unknown or sent whose user
// WeChat accepted a message for: support would read "outcome unknown" for
// a message the user received.
func drillAcceptedUnsettled(ctx context.Context, db *gorm.DB, sb *sandbox.Server) (int64, error) {
	counts := map[string]int64{}
	for _, c := range sb.Counts(benchAppID) {
		counts[c.OpenID] += c.Accepted
	}
	var open []string
	if err := db.WithContext(ctx).Model(&models.Delivery{}).Where("status IN ?", []string{models.DeliveryUnknown, models.DeliverySent}).
		Pluck("openid", &open).Error; err != nil {
		return 0, err
	}
	var n int64
	for _, o := range open {
		if counts[o] > 0 {
			n++
		}
	}
	return n, nil
}

func drillCount(ctx context.Context, db *gorm.DB, sb *sandbox.Server, tpl *models.Template, rep *drillReport) error {
	counts := map[string]int64{}
	for _, c := range sb.Counts(benchAppID) {
		counts[c.OpenID] += c.Accepted
	}
	var accepted int64
	for i := range rep.Users {
		c := counts[benchOpenID(i)]
		accepted += c
		switch {
		case c == 0:
			rep.PerUser[0]++
		case c == 1:
			rep.PerUser[1]++
		default:
			rep.PerUser[2]++
			rep.Duplicates += c - 1
		}
	}
	var err error
	if rep.Statuses, err = models.CountDeliveriesByStatus(ctx, db, 0); err != nil {
		return err
	}
	// Lost: still waiting at the end, or recorded as delivered or sent
	// while WeChat has no message for the user.
	rep.Lost = rep.Statuses[models.DeliveryQueued] + rep.Statuses[models.DeliverySending]
	var done []string
	if err := db.WithContext(ctx).Model(&models.Delivery{}).Where("status IN ?", []string{models.DeliveryDelivered, models.DeliverySent}).
		Pluck("openid", &done).Error; err != nil {
		return err
	}
	for _, o := range done {
		if counts[o] == 0 {
			rep.Lost++
		}
	}
	if rep.AcceptedUnsettle, err = drillAcceptedUnsettled(ctx, db, sb); err != nil {
		return err
	}
	tot, err := models.SumCreditEvents(ctx, db, tpl.ID)
	if err != nil {
		return err
	}
	rep.Spent, rep.Refunded = tot.Spent, tot.Refunded
	if err := db.WithContext(ctx).Model(&models.Subscription{}).Where("template_id = ?", tpl.ID).
		Select("COALESCE(SUM(credits), 0)").Scan(&rep.Left).Error; err != nil {
		return err
	}
	// Each user was granted one credit: what is left is what the ledger
	// says, and what is spent and not refunded is what WeChat accepted plus
	// what is still unknown (an unknown send keeps its credit until a sent
	// event or staff settle it).
	rep.LedgerOK = int64(rep.Users)-rep.Spent+rep.Refunded == rep.Left &&
		rep.Spent-rep.Refunded == accepted+rep.Statuses[models.DeliveryUnknown]-rep.AcceptedUnsettle
	if err := db.WithContext(ctx).Model(&models.SentEvent{}).Where("delivery_id = 0").Count(&rep.EventsGivenUp).Error; err != nil {
		return err
	}
	rep.PushesDropped = sb.Stats().PushesDropped
	return nil
}

func printDrill(w io.Writer, r *drillReport) {
	verdict := "PASS"
	if !r.ok() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "scenario                  %s (%d instance(s), %d users) — %s\n", r.Run.Name, r.Run.Instances, r.Users, verdict)
	for _, k := range r.Kills {
		fmt.Fprintf(w, "kill                      %s\n", k)
	}
	fmt.Fprintf(w, "users with 0/1/2+ msgs    %d / %d / %d\n", r.PerUser[0], r.PerUser[1], r.PerUser[2])
	fmt.Fprintf(w, "duplicates                %d\n", r.Duplicates)
	fmt.Fprintf(w, "lost                      %d\n", r.Lost)
	fmt.Fprintf(w, "credits                   spent %d, refunded %d, left %d — consistent with the ledger and WeChat: %v\n", r.Spent, r.Refunded, r.Left, r.LedgerOK)
	fmt.Fprintf(w, "statuses                  %s\n", formatCounts(r.Statuses))
	fmt.Fprintf(w, "accepted, unknown or sent %d\n", r.AcceptedUnsettle)
	fmt.Fprintf(w, "sent events given up      %d\n", r.EventsGivenUp)
	fmt.Fprintf(w, "pushes dropped by WeChat  %d\n", r.PushesDropped)
	fmt.Fprintf(w, "timings                   last accepted %.1f s after the start; settled %v %.1f s after it\n", r.SendSeconds, r.Settled, r.SettleSeconds)
	fmt.Fprintf(w, "logs                      %s\n\n", r.Logs)
}

func formatCounts(m map[string]int64) string {
	var parts []string
	for _, s := range []string{models.DeliveryDelivered, models.DeliverySent, models.DeliveryFailed, models.DeliveryUnknown,
		models.DeliverySkipped, models.DeliveryQueued, models.DeliverySending} {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, m[s]))
		}
	}
	return strings.Join(parts, ", ")
}
