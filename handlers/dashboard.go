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

// Coming is a placeholder page for an area a later version fills.
type Coming struct{}

// Page returns a handler showing the "coming" page for a navigation entry.
func (Coming) Page(nav string) echo.HandlerFunc {
	return func(c echo.Context) error {
		title := T(c, "nav."+nav)
		return Render(c, http.StatusOK, views.Page{Title: title, Nav: nav, Crumbs: []views.Crumb{{Label: title}}},
			views.Coming(views.ComingData{Title: title, What: T(c, "coming."+nav)}))
	}
}
