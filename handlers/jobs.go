package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/scheduler/jobs"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
)

// JobRunner is what the Jobs page needs of the scheduler.
type JobRunner interface {
	List() []jobs.Info
	RunNow(name string) error
}

// Jobs is the admin page of named scheduled jobs.
type Jobs struct {
	Env
	Runner JobRunner // nil when this process runs no jobs
}

// List shows every job with its schedule, last run, duration and error.
func (h *Jobs) List(c echo.Context) error {
	ctx := c.Request().Context()
	rows, err := models.ListJobs(ctx, h.DB)
	if err != nil {
		return err
	}
	next := map[string]string{}
	if h.Runner != nil {
		for _, i := range h.Runner.List() {
			next[i.Name] = components.FormatTime(ctx, i.Next)
		}
	}
	var d []views.JobRow
	for _, j := range rows {
		r := views.JobRow{Name: j.Name, Schedule: j.Schedule, Next: next[j.Name], Runs: j.Runs, Failures: j.Failures,
			LastOK: j.LastOK, LastError: j.LastError, DurationMs: j.LastDurationMs, Running: j.RunningUntil != nil && j.RunningUntil.After(h.Now()),
			CanRun: h.Runner != nil}
		if j.LastStartedAt != nil {
			r.LastRun = components.FormatTime(ctx, *j.LastStartedAt)
		}
		d = append(d, r)
	}
	page := views.Page{Title: T(c, "nav.jobs"), Nav: "jobs", Crumbs: []views.Crumb{{Label: T(c, "nav.group.settings")}, {Label: T(c, "nav.jobs")}}}
	return Render(c, http.StatusOK, page, views.JobList(d))
}

// RunNow starts a job at once through the same wrappers as its schedule.
func (h *Jobs) RunNow(c echo.Context) error {
	name := c.Param("name")
	if h.Runner == nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err := h.Runner.RunNow(name); err != nil {
		if errors.Is(err, jobs.ErrUnknownJob) {
			return echo.NewHTTPError(http.StatusNotFound)
		}
		if errors.Is(err, jobs.ErrRunning) {
			SetFlash(c, "error", T(c, "jobs.already_running", views.JobName(c.Request().Context(), name)))
			return Redirect(c, "/settings/jobs")
		}
		h.Log.Error("job run now failed", "job", name, "err", err)
		SetFlash(c, "error", T(c, "ux.jobs.run_failed", views.JobName(c.Request().Context(), name)))
		return Redirect(c, "/settings/jobs")
	}
	if err := models.Audit(c.Request().Context(), h.DB, Actor(c), "job.run_now", "job", name, nil); err != nil {
		return err
	}
	SetFlash(c, "success", T(c, "jobs.started", views.JobName(c.Request().Context(), name)))
	return Redirect(c, "/settings/jobs")
}
