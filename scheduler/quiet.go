package scheduler

import (
	"time"

	"github.com/minipush/minipush/models"
)

// quietDecision holds back a campaign delivery claimed inside its
// account's quiet hours: deferred to the window's end, or skipped with
// reason quiet_hours, as the account says. Other deliveries (test sends,
// API messages) are not affected. ok is false when the delivery may go.
func (e *Engine) quietDecision(d *models.Delivery, now time.Time) (models.Decision, bool) {
	if d.RunID == nil {
		return models.Decision{}, false
	}
	e.state.mu.Lock()
	st := e.state.apps[d.AppID]
	e.state.mu.Unlock()
	if st == nil {
		return models.Decision{}, false
	}
	in, end := models.QuietWindow(&st.app, now)
	if !in {
		return models.Decision{}, false
	}
	if st.app.QuietPolicy == models.QuietSkip {
		return models.Decision{Action: models.ActSkip, Reason: models.ReasonQuietHours}, true
	}
	return models.Decision{Action: models.ActDefer, Until: end}, true
}
