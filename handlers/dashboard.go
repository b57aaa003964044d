package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
)

// Dashboard is the landing page after sign-in.
type Dashboard struct{ Env }

// Show shows the dashboard.
func (h *Dashboard) Show(c echo.Context) error {
	counts, err := models.CountOverview(c.Request().Context(), h.DB)
	if err != nil {
		return err
	}
	d := views.DashboardData{Apps: counts.Apps, Templates: counts.Templates, Campaigns: counts.Campaigns, Staff: counts.Staff}
	return Render(c, http.StatusOK, views.Page{Title: T(c, "nav.dashboard"), Nav: "dashboard"}, views.Dashboard(d))
}
