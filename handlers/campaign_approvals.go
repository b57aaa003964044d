package handlers

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
)

const approvalsURL = "/campaigns/approvals"

// Approvals lists the campaigns awaiting an admin's approval, oldest
// first, with approve and reject buttons (admins; an admin's own campaign
// shows no approve button).
func (h *Campaigns) Approvals(c echo.Context) error {
	ctx := c.Request().Context()
	after, _ := strconv.ParseInt(c.QueryParam("after"), 10, 64)
	rows, err := models.PendingCampaigns(ctx, h.DB, after, campaignPageSize)
	if err != nil {
		return err
	}
	me := CurrentStaff(c).ID
	names := map[int64]string{}
	staffName := func(id *int64) string {
		if id == nil {
			return "—"
		}
		if n, ok := names[*id]; ok {
			return n
		}
		n := "—"
		if s, err := models.GetStaff(ctx, h.DB, *id); err == nil {
			n = s.Email
		}
		names[*id] = n
		return n
	}
	var d views.ApprovalsData
	for i := range rows {
		cp := &rows[i]
		t, a, err := h.template(ctx, cp.TemplateID)
		if err != nil {
			return err
		}
		by := cp.SubmittedBy
		if by == nil {
			by = cp.CreatedBy
		}
		own := (cp.SubmittedBy != nil && *cp.SubmittedBy == me) || (cp.CreatedBy != nil && *cp.CreatedBy == me)
		d.Rows = append(d.Rows, views.ApprovalRow{ID: cp.ID, Name: cp.Name, AppName: a.Name, Template: t.Title,
			Schedule: scheduleSummary(c, cp), Audience: T(c, "cmp.aud."+cp.AudienceSpec().Kind), SubmittedBy: staffName(by),
			SubmittedAt: components.FormatTime(ctx, cp.UpdatedAt), Own: own})
	}
	if len(rows) == campaignPageSize {
		d.Next = approvalsURL + "?after=" + strconv.FormatInt(rows[len(rows)-1].ID, 10)
	}
	page := h.page(c, T(c, "cmp.approvals"))
	return Render(c, http.StatusOK, page, views.CampaignApprovals(d))
}

// Reject sends a campaign awaiting approval back to draft (admins).
func (h *Campaigns) Reject(c echo.Context) error {
	cp, _, _, err := h.load(c)
	if err != nil {
		return err
	}
	// The author is told why: a reason is required (the form asks for it).
	reason := strings.TrimSpace(c.FormValue("reason"))
	switch {
	case reason == "":
		SetFlash(c, "error", T(c, "cmp.reject_reason_required"))
		return Redirect(c, h.back(c, cp))
	case utf8.RuneCountInString(reason) > maxRejectReason:
		SetFlash(c, "error", T(c, "cmp.reject_reason_too_long", maxRejectReason))
		return Redirect(c, h.back(c, cp))
	}
	if err := models.RejectCampaign(c.Request().Context(), h.DB, cp, reason, h.Now().UTC()); err != nil {
		return h.refuseBack(c, cp, err)
	}
	if err := h.audit(c, "campaign.reject", cp, map[string]any{"reason": reason}); err != nil {
		return err
	}
	SetFlash(c, "success", T(c, "cmp.flash_rejected"))
	return Redirect(c, h.back(c, cp))
}

// maxRejectReason is the longest reason a rejection keeps (the column is
// VARCHAR(191) on MySQL).
const maxRejectReason = 190

// back is where an approval decision returns: the approvals screen when
// it was taken there, else the campaign.
func (h *Campaigns) back(c echo.Context, cp *models.Campaign) string {
	if c.QueryParam("back") == "approvals" {
		return approvalsURL
	}
	return campaignURL(cp.ID, "")
}

// refuseBack is refuse, returning where the decision was taken.
func (h *Campaigns) refuseBack(c echo.Context, cp *models.Campaign, err error) error {
	if key, ok := campaignErrorKey(err); ok {
		SetFlash(c, "error", T(c, key))
		return Redirect(c, h.back(c, cp))
	}
	return err
}
