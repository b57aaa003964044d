package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat/sandbox"
)

// drillJobName is the job that fires, expands and finishes campaign runs
// (cmd/minipush/jobs.go), leased to one instance at a time.
const drillJobName = "campaigns"

// drillJob reads the campaigns job's row (its lease and last start).
func drillJob(ctx context.Context, db *gorm.DB) (models.Job, error) {
	var j models.Job
	err := db.WithContext(ctx).Where("name = ?", drillJobName).First(&j).Error
	return j, err
}

// byHolder finds the live instance a lease holder names (host-pid-tag).
func (e *drillEnv) byHolder(holder string) *drillInstance {
	for _, in := range e.instances() {
		if strings.Contains(holder, "-"+strconv.Itoa(in.cmd.Process.Pid)+"-") {
			return in
		}
	}
	return nil
}

// drillThreeInstances: three `serve` on one database send one campaign;
// the instance holding the campaigns job's lease while it expands the
// audience (the leader) is killed with SIGKILL and not restarted. Another
// instance must take the job over once the dead one's lease expires (job
// timeout 2 min + 1 min) and the run must complete exactly once. The short
// version kills an instance not holding the lease, mid-send.
func drillThreeInstances(ctx context.Context, c drillConfig) (*drillReport, error) {
	e, runID, t0, err := drillCampaignEnv(ctx, c, "three-instances", sandbox.Options{}, sandbox.Faults{}, 3)
	if err != nil {
		return nil, err
	}
	defer e.close()
	rep := &drillReport{Users: c.users, Logs: e.logDir, Killed: true, Injected: []string{fmt.Sprintf("3 serve, %s latency", c.latency)}}

	victim, err := e.pickLeader(ctx, c, runID)
	if err != nil {
		return nil, err
	}
	if victim == nil {
		victim, err = e.pickFollower(ctx, c)
		if err != nil {
			return nil, err
		}
	}
	before, err := drillJob(ctx, e.db)
	if err != nil {
		return nil, err
	}
	expanded, err := drillExpanded(ctx, e.db, runID)
	if err != nil {
		return nil, err
	}
	killedAt, accepted := time.Now(), e.sb.TotalAccepted()
	e.kill(victim)
	held := before.RunningUntil != nil && e.holderWas(before.RunningHolder, victim) && before.RunningUntil.After(killedAt)
	k := fmt.Sprintf("SIGKILL %s at %d accepted (%.0f %%), audience expanded: %s, ", victim, accepted, 100*float64(accepted)/float64(c.users), expanded)
	if held {
		k += fmt.Sprintf("holding the campaigns job's lease for %.0f s more", before.RunningUntil.Sub(killedAt).Seconds())
	} else {
		k += "not holding the campaigns job's lease"
	}
	rep.Injected = append(rep.Injected, k)
	e.say("%s", k)

	// Takeover: the job starts again, necessarily on a live instance.
	if err := waitFor(ctx, 5*time.Minute, "campaigns job taken over", func() (bool, error) {
		j, err := drillJob(ctx, e.db)
		return err == nil && j.LastStartedAt != nil && j.LastStartedAt.After(killedAt), err
	}); err != nil {
		return nil, err
	}
	takeover := time.Since(killedAt)
	if err := waitFor(ctx, 10*time.Minute, "audience expanded", func() (bool, error) {
		r, err := models.GetRun(ctx, e.db, runID)
		return err == nil && r.ExpandedAt != nil, err
	}); err != nil {
		return nil, err
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("campaigns job run by another instance %.1f s after the kill; audience fully expanded %.1f s after it",
		takeover.Seconds(), time.Since(killedAt).Seconds()))
	if err := e.settleAndCount(ctx, c, rep, runID, t0); err != nil {
		return nil, err
	}
	if r, err := models.GetRun(ctx, e.db, runID); err == nil && r.FinishedAt != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("run completed %.1f s after the kill", r.FinishedAt.Sub(killedAt).Seconds()))
	}
	return rep, nil
}

func (e *drillEnv) holderWas(holder string, in *drillInstance) bool {
	return strings.Contains(holder, "-"+strconv.Itoa(in.cmd.Process.Pid)+"-")
}

// pickLeader waits until the campaigns job is expanding the run with at
// least a fifth of the audience in, and returns the instance holding the
// job's lease; nil in the short version or when the expansion ended
// before that was seen.
func (e *drillEnv) pickLeader(ctx context.Context, c drillConfig, runID int64) (*drillInstance, error) {
	if c.short {
		return nil, nil
	}
	var leader *drillInstance
	err := waitFor(ctx, 10*time.Minute, "the campaigns job expanding", func() (bool, error) {
		r, err := models.GetRun(ctx, e.db, runID)
		if err != nil || r.ExpandedAt != nil {
			return true, err
		}
		if r.Audience < int64(c.users/5) {
			return false, nil
		}
		j, err := drillJob(ctx, e.db)
		if err != nil {
			return false, err
		}
		if j.RunningUntil != nil && j.RunningUntil.After(time.Now()) {
			leader = e.byHolder(j.RunningHolder)
		}
		return leader != nil, nil
	})
	if leader == nil {
		e.say("the expansion ended before its lease holder was seen: killing another instance mid-send")
	}
	return leader, err
}

// pickFollower waits until WeChat accepted 40 % of the messages and
// returns a live instance not holding the campaigns job's lease.
func (e *drillEnv) pickFollower(ctx context.Context, c drillConfig) (*drillInstance, error) {
	var pick *drillInstance
	err := waitFor(ctx, 15*time.Minute, "40 % accepted, an instance without the lease", func() (bool, error) {
		if e.sb.TotalAccepted() < int64(0.4*float64(c.users)) {
			return false, nil
		}
		j, err := drillJob(ctx, e.db)
		if err != nil {
			return false, err
		}
		for _, in := range e.instances() {
			if j.RunningUntil == nil || j.RunningUntil.Before(time.Now()) || !e.holderWas(j.RunningHolder, in) {
				pick = in
				return true, nil
			}
		}
		return false, nil
	})
	if err == nil && pick == nil {
		err = errors.New("no instance to kill")
	}
	return pick, err
}
