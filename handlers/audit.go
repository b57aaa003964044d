package handlers

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
)

// Audit is the admin's view of the audit log.
type Audit struct{ Env }

const auditPageSize = 50

// List shows the audit log, newest first, filtered and keyset-paginated.
func (h *Audit) List(c echo.Context) error {
	ctx := c.Request().Context()
	f := models.AuditFilter{Action: c.QueryParam("action"), ObjectType: c.QueryParam("type"), ObjectID: c.QueryParam("object"), Limit: auditPageSize + 1}
	f.StaffID, _ = strconv.ParseInt(c.QueryParam("staff"), 10, 64)
	f.Before, _ = strconv.ParseInt(c.QueryParam("before"), 10, 64)
	rows, err := models.ListAudit(ctx, h.DB, f)
	if err != nil {
		return err
	}
	staff, err := models.ListStaff(ctx, h.DB)
	if err != nil {
		return err
	}
	d := views.AuditData{StaffID: c.QueryParam("staff"), Action: f.Action, ObjectType: f.ObjectType, Object: f.ObjectID}
	for _, s := range staff {
		d.Staff = append(d.Staff, components.Option{Value: strconv.FormatInt(s.ID, 10), Label: s.Email})
	}
	if len(rows) > auditPageSize {
		rows = rows[:auditPageSize]
		q := c.QueryParams()
		q.Set("before", strconv.FormatInt(rows[len(rows)-1].ID, 10))
		d.NextHref = "/settings/audit?" + url.Values(q).Encode()
	}
	for _, r := range rows {
		d.Rows = append(d.Rows, views.AuditRow{ID: r.ID, At: r.CreatedAt, Who: r.StaffEmail, Action: r.Action,
			ObjectType: r.ObjectType, Object: r.ObjectID, Detail: r.Detail, IP: r.IP})
	}
	page := views.Page{Title: T(c, "nav.audit"), Nav: "audit", Crumbs: []views.Crumb{{Label: T(c, "nav.group.settings")}, {Label: T(c, "nav.audit")}}}
	return Render(c, http.StatusOK, page, views.AuditLog(d))
}
