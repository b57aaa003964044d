package models

import (
	"context"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// AutoPauseMinAnswers is how many WeChat answers a run needs before its
// error shares are judged (a few early failures do not stop a run).
const AutoPauseMinAnswers = 50

// AutoPausePrefix starts the reason of a run paused automatically; the
// WeChat errcode follows ("auto_pause_43101").
const AutoPausePrefix = "auto_pause_"

// AutoPauseCode returns the errcode of an automatic pause reason.
func AutoPauseCode(reason string) (int, bool) {
	s, ok := strings.CutPrefix(reason, AutoPausePrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// AutoPauseRuns pauses sending runs of campaigns with a threshold set
// (auto_pause_pct) once one WeChat errcode makes up at least that share of
// the run's answers so far (at least AutoPauseMinAnswers of them). The
// share is over the whole run, not a sliding window. It returns the runs
// paused, with the errcode in their reason.
func AutoPauseRuns(ctx context.Context, db *gorm.DB, now time.Time) ([]CampaignRun, error) {
	var runs []struct {
		CampaignRun
		Pct int
	}
	err := db.WithContext(ctx).Table("campaign_runs r").Select("r.*, c.auto_pause_pct AS pct").
		Joins("JOIN campaigns c ON c.id = r.campaign_id").
		Where("r.status = ? AND c.auto_pause_pct > 0 AND r.sent + r.delivered + r.failed >= ?", RunSending, AutoPauseMinAnswers).
		Limit(200).Scan(&runs).Error
	if err != nil {
		return nil, err
	}
	var paused []CampaignRun
	for i := range runs {
		r := &runs[i].CampaignRun
		stats, err := RunStats(ctx, db, r.AppID, r.ID)
		if err != nil {
			return paused, err
		}
		answered := r.Sent + r.Delivered + r.Failed
		worst, worstN := "", int64(0)
		for detail, n := range stats[DeliveryFailed] {
			if _, err := strconv.Atoi(detail); err == nil && n > worstN {
				worst, worstN = detail, n
			}
		}
		if worst == "" || worstN*100 < int64(runs[i].Pct)*answered {
			continue
		}
		changed, err := PauseRun(ctx, db, r, AutoPausePrefix+worst, now)
		if err != nil {
			return paused, err
		}
		if changed {
			r.Status, r.Reason = RunPaused, AutoPausePrefix+worst
			paused = append(paused, *r)
		}
	}
	return paused, nil
}
