package models

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// AutoPauseMinAnswers is how many WeChat answers a run needs before its
// error shares are judged (a few early failures do not stop a run).
const AutoPauseMinAnswers = 50

// AutoPauseDefaultWindow is how many of a run's latest answers are judged
// when the campaign does not say (campaigns.auto_pause_window = 0).
const AutoPauseDefaultWindow = 200

// AutoPauseMaxWindow bounds the window a campaign may ask for.
const AutoPauseMaxWindow = 10000

// AutoPausePrefix starts the reason of a run paused automatically:
// "auto_pause_43101:120/200:50" — the WeChat errcode, how many of the
// window's answers carried it, the window's size and the threshold (%).
const AutoPausePrefix = "auto_pause_"

// AutoPauseReason is what an automatic pause records.
type AutoPauseReason struct {
	Code         int
	Hits, Window int
	Pct          int
}

// String encodes the reason as stored.
func (r AutoPauseReason) String() string {
	return fmt.Sprintf("%s%d:%d/%d:%d", AutoPausePrefix, r.Code, r.Hits, r.Window, r.Pct)
}

// ParseAutoPause reads an automatic pause reason (also the older form
// "auto_pause_43101" with the code alone).
func ParseAutoPause(reason string) (AutoPauseReason, bool) {
	s, ok := strings.CutPrefix(reason, AutoPausePrefix)
	if !ok {
		return AutoPauseReason{}, false
	}
	var r AutoPauseReason
	code, rest, _ := strings.Cut(s, ":")
	n, err := strconv.Atoi(code)
	if err != nil {
		return r, false
	}
	r.Code = n
	if rest != "" {
		if _, err := fmt.Sscanf(rest, "%d/%d:%d", &r.Hits, &r.Window, &r.Pct); err != nil {
			return AutoPauseReason{Code: n}, true
		}
	}
	return r, true
}

// AutoPauseCode returns the errcode of an automatic pause reason.
func AutoPauseCode(reason string) (int, bool) {
	r, ok := ParseAutoPause(reason)
	return r.Code, ok
}

// Window is the number of latest answers the campaign's automatic pause judges.
func (c *Campaign) Window() int {
	if c.AutoPauseWindow <= 0 {
		return AutoPauseDefaultWindow
	}
	return min(c.AutoPauseWindow, AutoPauseMaxWindow)
}

// Answer is one WeChat answer of a run: the delivery, when it came, and
// its errcode (0: accepted).
type Answer struct {
	ID       int64
	At       time.Time
	ErrCode  int
	Accepted bool
}

// RunLastAnswers returns the run's n latest answers (accepted, delivered or
// failed), newest first. Answer time is sent_at for an accepted message
// and settled_at for a failure. Each answered status is read newest id
// first through the (run_id, status) index, 2n rows at most each, and
// the candidates are ordered by answer time: deliveries are sent in id
// order, so only a send retried long after its neighbours can fall out of
// the window it belongs to.
func RunLastAnswers(ctx context.Context, db *gorm.DB, runID int64, n int) ([]Answer, error) {
	type row struct {
		ID        int64
		Status    string
		Errcode   int
		SentAt    *time.Time
		SettledAt *time.Time
	}
	var all []Answer
	for _, st := range []string{DeliverySent, DeliveryDelivered, DeliveryFailed} {
		var rows []row
		err := db.WithContext(ctx).Table("deliveries").Select("id, status, errcode, sent_at, settled_at").
			Where("run_id = ? AND status = ?", runID, st).Order("id DESC").Limit(2 * n).Scan(&rows).Error
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			a := Answer{ID: r.ID, Accepted: st != DeliveryFailed}
			if r.SentAt != nil {
				a.At = *r.SentAt
			}
			if st == DeliveryFailed {
				a.ErrCode = r.Errcode
				if r.SentAt == nil && r.SettledAt != nil {
					a.At = *r.SettledAt
				}
			}
			all = append(all, a)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].At.Equal(all[j].At) {
			return all[i].At.After(all[j].At)
		}
		return all[i].ID > all[j].ID
	})
	if len(all) > n {
		all = all[:n]
	}
	return all, nil
}

// JudgeWindow finds the errcode that makes up the largest share of the
// answers; it returns the reason when that share reaches pct (at least
// AutoPauseMinAnswers answers are needed).
func JudgeWindow(answers []Answer, pct int) (AutoPauseReason, bool) {
	if len(answers) < AutoPauseMinAnswers || pct <= 0 {
		return AutoPauseReason{}, false
	}
	counts := map[int]int{}
	for _, a := range answers {
		if !a.Accepted && a.ErrCode != 0 {
			counts[a.ErrCode]++
		}
	}
	worst, worstN := 0, 0
	for code, n := range counts {
		if n > worstN || (n == worstN && code < worst) {
			worst, worstN = code, n
		}
	}
	if worstN == 0 || worstN*100 < pct*len(answers) {
		return AutoPauseReason{}, false
	}
	return AutoPauseReason{Code: worst, Hits: worstN, Window: len(answers), Pct: pct}, true
}

// AutoPauseRuns pauses sending runs of campaigns with a threshold set
// (auto_pause_pct) once one WeChat errcode makes up at least that share of
// the run's last N answers (N: the campaign's window; judged from
// AutoPauseMinAnswers answers on). Earlier failures that the run has since
// left behind do not count. It returns the runs paused, the reason
// ("auto_pause_43101:120/200:50") on each.
func AutoPauseRuns(ctx context.Context, db *gorm.DB, now time.Time) ([]CampaignRun, error) {
	var runs []struct {
		CampaignRun
		Pct, Win int
	}
	err := db.WithContext(ctx).Table("campaign_runs r").Select("r.*, c.auto_pause_pct AS pct, c.auto_pause_window AS win").
		Joins("JOIN campaigns c ON c.id = r.campaign_id").
		Where("r.status = ? AND c.auto_pause_pct > 0 AND r.failed > 0 AND r.sent + r.delivered + r.failed >= ?", RunSending, AutoPauseMinAnswers).
		Limit(200).Scan(&runs).Error
	if err != nil {
		return nil, err
	}
	var paused []CampaignRun
	for i := range runs {
		r := &runs[i].CampaignRun
		c := Campaign{AutoPauseWindow: runs[i].Win}
		answers, err := RunLastAnswers(ctx, db, r.ID, c.Window())
		if err != nil {
			return paused, err
		}
		reason, hit := JudgeWindow(answers, runs[i].Pct)
		if !hit {
			continue
		}
		changed, err := PauseRun(ctx, db, r, reason.String(), now)
		if err != nil {
			return paused, err
		}
		if changed {
			r.Status, r.Reason = RunPaused, reason.String()
			paused = append(paused, *r)
		}
	}
	return paused, nil
}
