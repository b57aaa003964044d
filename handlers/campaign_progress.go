package handlers

import (
	"encoding/json"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
)

// chartSamples bounds the samples one progress answer reads (about three
// hours at the job's 5 s tick); chartMinutes the minutes drawn.
const (
	chartSamples = 2200
	chartMinutes = 180
)

// runChart is the JSON the campaign chart block of static/app.js draws.
type runChart struct {
	Labels []string      `json:"labels"`
	Series []chartSeries `json:"series"`
}

type chartSeries struct {
	Key  string  `json:"key"`
	Name string  `json:"name"`
	Data []int64 `json:"data"`
}

// liveFigures adds what the samples tell to a run's progress: the rate
// over the last 30 s, the ETA at that rate, and sends per minute.
func (h *Campaigns) liveFigures(c echo.Context, r *models.CampaignRun, d *views.ProgressData) error {
	ctx := c.Request().Context()
	now := h.Now().UTC()
	loc := components.Req(ctx).TZ
	if loc == nil {
		loc = time.UTC
	}
	d.Zone = components.ZoneLabel(ctx)
	if r.Status == models.RunExpanding || r.Status == models.RunSending {
		rate, ok, err := models.CurrentRate(ctx, h.DB, r, now)
		if err != nil {
			return err
		}
		d.RateNow, d.HasRateNow = rate, ok
		d.ETA, d.ETAMore = "", false
		if rate <= 0 {
			rate = d.Rate // no recent sample yet: the average
		}
		if left := r.Queued + r.Sending; left > 0 && rate > 0 {
			d.ETA = views.FormatDuration(ctx, max(time.Duration(float64(left)/rate)*time.Second, time.Second).Round(time.Second).Milliseconds())
			d.ETAMore = r.ExpandedAt == nil
		}
	}
	samples, err := models.RunSamples(ctx, h.DB, r.ID, chartSamples)
	if err != nil {
		return err
	}
	mins := models.SendsPerMinute(samples, chartMinutes)
	if len(mins) == 0 {
		d.ChartEmpty = true
		return nil
	}
	ch := runChart{Series: []chartSeries{
		{Key: "accepted", Name: T(c, "cmp.series.accepted")},
		{Key: "delivered", Name: T(c, "cmp.series.delivered")},
		{Key: "failed", Name: T(c, "cmp.series.failed")},
	}}
	for _, m := range mins {
		ch.Labels = append(ch.Labels, m.Minute.In(loc).Format("15:04"))
		ch.Series[0].Data = append(ch.Series[0].Data, m.Accepted)
		ch.Series[1].Data = append(ch.Series[1].Data, m.Delivered)
		ch.Series[2].Data = append(ch.Series[2].Data, m.Failed)
	}
	b, err := json.Marshal(ch)
	if err != nil {
		return err
	}
	d.Chart = string(b)
	return nil
}
