package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/minipush/minipush/wechat/sandbox"
)

const drillPushToken = "drillpushtoken"

// drillConfig is what every scenario is given.
type drillConfig struct {
	dsn, serveBin string
	users         int
	latency       time.Duration
	wait          time.Duration // after the last send, for every delivery to settle
	// short: the CI version. The three-instance scenario then kills an
	// instance that does not hold the campaigns job's lease (a killed
	// holder's lease blocks the job for up to 3 minutes).
	short  bool
	stderr io.Writer
}

// drillScenario is one named scenario.
type drillScenario struct {
	name, about string
	run         func(ctx context.Context, c drillConfig) (*drillReport, error)
}

func drillScenarios() []drillScenario {
	return []drillScenario{
		{"one-instance", "queued deliveries; one serve killed at 39 % and 76 % of the messages accepted, restarted each time", drillCrashOne},
		{"two-instances", "queued deliveries; two serve, one killed at 39 % and not restarted", drillCrashTwo},
		{"kill-restart", "a campaign to every user; its only serve killed at 39 % and 76 %, restarted each time", drillKillRestart},
		{"three-instances", "a campaign; three serve, the campaigns job's lease holder killed mid-expansion (short: another one mid-send), not restarted", drillThreeInstances},
		{"faults", "a campaign; engine in this process on an injected clock; WeChat answers 10 % -1, cuts 1 % after counting, expires then revokes the token, runs out of quota at 60 %; then the next day", drillFaults},
		{"push-storm", "a campaign; two serve; WeChat pushes half of the sent events 4 times, out of order over 2 s, 2 % of them failures", drillPushStorm},
	}
}

// Named sets of scenarios for --only.
var drillSets = map[string][]string{
	"crash":  {"one-instance", "two-instances"},
	"drills": {"kill-restart", "three-instances", "faults", "push-storm"},
}

func cmdDrill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("db", envOr("MINIPUSH_DB", "mysql:root@tcp(127.0.0.1:3306)/test"),
		"MySQL/MariaDB server to drill on: mysql:user:pass@tcp(host:3306)/any (a throwaway database is made on it per scenario and dropped)")
	users := fs.Int("users", 20000, "recipients: each holds one credit here and two at the sandbox (a duplicate would be accepted and counted)")
	latency := fs.Duration("latency", 50*time.Millisecond, "sandbox latency of every send")
	wait := fs.Duration("settle-wait", 5*time.Minute, "how long to wait after the last send for every delivery to settle (leases last 2 minutes)")
	bin := fs.String("serve-bin", "", "the minipush binary to run as `serve` (default: this one)")
	only := fs.String("only", "crash", "scenarios to run, comma-separated: names, or the sets crash (one-instance, two-instances) and drills (kill-restart, three-instances, faults, push-storm)")
	short := fs.Bool("short", false, "the CI version: the three-instance scenario kills an instance not holding the campaigns job's lease")
	asJSON := fs.Bool("json", false, "print one JSON object per scenario instead of tables")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: minipush drill [flags]\n\nFault drills on a MySQL/MariaDB server: N users with one credit each (two at the sandbox, so a\n"+
			"duplicate would be accepted and counted), the sandbox as WeChat pushing its events to real `minipush serve`\n"+
			"processes through a local proxy, and faults injected. Each scenario ends with the sandbox's counters and the\n"+
			"database checked: messages per user at WeChat, lost, credits against the ledger, every run's counters against\n"+
			"its rows. It prints a table per scenario and a summary, and exits non-zero when one failed.\n\nScenarios:\n")
		for _, s := range drillScenarios() {
			fmt.Fprintf(stderr, "  %-16s %s\n", s.name, s.about)
		}
		fmt.Fprintf(stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !strings.HasPrefix(*dsn, "mysql:") {
		return errors.New("--db: the drill runs several instances on one database: give a MySQL/MariaDB server (mysql:…)")
	}
	if *users < 100 {
		return errors.New("--users: give at least 100")
	}
	names, err := drillNames(*only)
	if err != nil {
		return err
	}
	serveBin := *bin
	if serveBin == "" {
		if serveBin, err = os.Executable(); err != nil {
			return err
		}
	}
	cfg := drillConfig{dsn: *dsn, serveBin: serveBin, users: *users, latency: *latency, wait: *wait, short: *short, stderr: stderr}
	var reps []*drillReport
	for _, s := range drillScenarios() {
		if !slices.Contains(names, s.name) {
			continue
		}
		rep, err := s.run(ctx, cfg)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		rep.Name = s.name
		reps = append(reps, rep)
		if *asJSON {
			if err := json.NewEncoder(stdout).Encode(rep); err != nil {
				return err
			}
		} else {
			printDrill(stdout, rep)
		}
	}
	if !*asJSON {
		printDrillSummary(stdout, reps)
	}
	for _, r := range reps {
		if !r.ok() {
			return errors.New("drill failed: see the table")
		}
	}
	return nil
}

// drillNames expands --only into scenario names.
func drillNames(only string) ([]string, error) {
	known := map[string]bool{}
	for _, s := range drillScenarios() {
		known[s.name] = true
	}
	var out []string
	for _, n := range strings.Split(only, ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
		case drillSets[n] != nil:
			out = append(out, drillSets[n]...)
		case known[n]:
			out = append(out, n)
		default:
			return nil, fmt.Errorf("--only: no scenario %q (see minipush drill --help)", n)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--only: name at least one scenario")
	}
	return out, nil
}

func drillCrashOne(ctx context.Context, c drillConfig) (*drillReport, error) {
	return drillCrash(ctx, c, "one-instance", 1, []float64{0.39, 0.76}, true)
}

func drillCrashTwo(ctx context.Context, c drillConfig) (*drillReport, error) {
	return drillCrash(ctx, c, "two-instances", 2, []float64{0.39}, false)
}

// drillCrash is the first drill: one queued delivery per user (no
// campaign), instances killed with SIGKILL at shares of the messages
// accepted by WeChat, restarted or not.
func drillCrash(ctx context.Context, c drillConfig, name string, instances int, killAt []float64, restart bool) (*drillReport, error) {
	e, err := newDrillEnv(ctx, name, c.dsn, c.serveBin, sandbox.Options{}, c.stderr)
	if err != nil {
		return nil, err
	}
	defer e.close()
	e.say("seeding %d users and deliveries...", c.users)
	if err := benchSeed(ctx, e.db, &inlineWeChat{sb: e.sb}, e.app, e.tpl, c.users); err != nil {
		return nil, err
	}
	if err := e.sb.SetFaults(benchAppID, sandbox.Faults{Latency: c.latency}); err != nil {
		return nil, err
	}
	rep := &drillReport{Users: c.users, Logs: e.logDir, Killed: true, Injected: []string{fmt.Sprintf("%d serve, %s latency", instances, c.latency)}}
	t0 := time.Now()
	for i := range instances {
		if _, err := e.start(i); err != nil {
			return nil, err
		}
	}
	e.say("%d instance(s) sending (logs in %s)", instances, e.logDir)
	for _, at := range killAt {
		k, err := e.killAt(ctx, at, c.users, restart, nil)
		if err != nil {
			return nil, err
		}
		rep.Injected = append(rep.Injected, k)
	}
	return rep, e.settleAndCount(ctx, c, rep, 0, t0)
}

// killAt waits until WeChat accepted share×n messages, kills the first
// live instance and, when restart, starts it again and waits until
// WeChat accepts again. It describes what it did, with what state says
// (when set) just before the kill.
func (e *drillEnv) killAt(ctx context.Context, share float64, n int, restart bool, state func() (string, error)) (string, error) {
	if err := waitFor(ctx, 15*time.Minute, "messages accepted", func() (bool, error) {
		return e.sb.TotalAccepted() >= int64(share*float64(n)), nil
	}); err != nil {
		return "", fmt.Errorf("%w: %d of %d accepted", err, e.sb.TotalAccepted(), n)
	}
	victim := e.instances()[0]
	seen := ""
	if state != nil {
		s, err := state()
		if err != nil {
			return "", err
		}
		seen = " (" + s + ")"
	}
	killedAt := e.sb.TotalAccepted()
	e.kill(victim)
	k := fmt.Sprintf("SIGKILL %s at %d accepted (%.0f %%)%s", victim, killedAt, 100*float64(killedAt)/float64(n), seen)
	if restart {
		t := time.Now()
		if _, err := e.start(victim.n); err != nil {
			return "", err
		}
		before := e.sb.TotalAccepted()
		_ = waitFor(ctx, 5*time.Minute, "sending again", func() (bool, error) { return e.sb.TotalAccepted() > before, nil })
		k += fmt.Sprintf(", restarted, WeChat accepting again %.1f s later", time.Since(t).Seconds())
	}
	e.say("%s", k)
	return k, nil
}
