package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
)

// Staff is the admin page for staff accounts.
type Staff struct{ Env }

func (h *Staff) page(c echo.Context, title string) views.Page {
	crumbs := []views.Crumb{{Label: T(c, "nav.group.settings")}, {Label: T(c, "nav.staff"), Href: "/settings/staff"}}
	if title != "" {
		crumbs = append(crumbs, views.Crumb{Label: title})
	}
	return views.Page{Title: T(c, "nav.staff"), Nav: "staff", Crumbs: crumbs}
}

// List shows every staff member.
func (h *Staff) List(c echo.Context) error {
	all, err := models.ListStaff(c.Request().Context(), h.DB)
	if err != nil {
		return err
	}
	keys := make([]string, len(all))
	for i, s := range all {
		keys[i] = accountThrottleKey(s.Email)
	}
	locked, err := models.ThrottleLocked(c.Request().Context(), h.DB, keys, h.Now())
	if err != nil {
		return err
	}
	rows := make([]views.StaffRow, len(all))
	for i, s := range all {
		rows[i] = views.StaffRow{ID: s.ID, Email: s.Email, Name: s.Name, Role: string(s.Role), Disabled: s.Disabled,
			LastLoginAt: s.LastLoginAt}
		if until, ok := locked[keys[i]]; ok {
			rows[i].LockedUntil = &until
		}
	}
	return Render(c, http.StatusOK, h.page(c, ""), views.StaffList(rows))
}

// New shows the add-staff form.
func (h *Staff) New(c echo.Context) error {
	return Render(c, http.StatusOK, h.page(c, T(c, "staff.add")), views.StaffNew(views.StaffForm{Role: string(models.RoleOperator)}))
}

type staffInput struct {
	Email    string `form:"email"`
	Name     string `form:"name"`
	Role     string `form:"role"`
	Password string `form:"password"`
	Disabled string `form:"disabled"`
}

// Create adds a staff member.
func (h *Staff) Create(c echo.Context) error {
	var in staffInput
	if err := c.Bind(&in); err != nil {
		return badForm(c, err)
	}
	in.Email, in.Name = models.NormalizeEmail(in.Email), trim(in.Name)
	errs := Errors{}
	checkEmail(c, errs, "email", in.Email)
	checkName(c, errs, "name", in.Name)
	checkRole(c, errs, in.Role)
	checkNewPassword(c, errs, in.Password, nil)
	checkPasswordStrength(c, errs, in.Password, in.Email, in.Name)
	form := views.StaffForm{Email: in.Email, Name: in.Name, Role: in.Role, Errors: errs}
	ctx := c.Request().Context()
	if !errs.Any() {
		s, err := models.CreateStaff(ctx, h.DB, in.Email, in.Name, in.Password, models.Role(in.Role), Lang(c))
		switch {
		case errors.Is(err, models.ErrDuplicate):
			errs.Add("email", T(c, "staff.email_taken"))
		case err != nil:
			return err
		default:
			if err := models.Audit(ctx, h.DB, Actor(c), "staff.create", "staff", s.Email, map[string]any{"role": s.Role}); err != nil {
				return err
			}
			SetFlash(c, "success", T(c, "staff.created", s.Email))
			return Redirect(c, "/settings/staff")
		}
	}
	return Render(c, http.StatusUnprocessableEntity, h.page(c, T(c, "staff.add")), views.StaffNew(form))
}

func (h *Staff) load(c echo.Context) (*models.Staff, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusNotFound)
	}
	s, err := models.GetStaff(c.Request().Context(), h.DB, id)
	return s, NotFound(err)
}

// Edit shows one staff member's form.
func (h *Staff) Edit(c echo.Context) error {
	s, err := h.load(c)
	if err != nil {
		return err
	}
	form := views.StaffForm{ID: s.ID, Email: s.Email, Name: s.Name, Role: string(s.Role), Disabled: s.Disabled}
	return Render(c, http.StatusOK, h.page(c, s.Email), views.StaffEdit(form))
}

// Update changes a staff member's name, role and whether they may sign in.
func (h *Staff) Update(c echo.Context) error {
	s, err := h.load(c)
	if err != nil {
		return err
	}
	var in staffInput
	if err := c.Bind(&in); err != nil {
		return badForm(c, err)
	}
	in.Name = trim(in.Name)
	disabled := in.Disabled == "1" || in.Disabled == "on"
	errs := Errors{}
	checkName(c, errs, "name", in.Name)
	checkRole(c, errs, in.Role)
	ctx := c.Request().Context()
	// Never leave the console without an active admin.
	if !errs.Any() && s.Role == models.RoleAdmin && !s.Disabled && (in.Role != string(models.RoleAdmin) || disabled) {
		n, err := models.CountActiveAdmins(ctx, h.DB)
		if err != nil {
			return err
		}
		if n <= 1 {
			errs.Add("role", T(c, "staff.last_admin"))
		}
	}
	form := views.StaffForm{ID: s.ID, Email: s.Email, Name: in.Name, Role: in.Role, Disabled: disabled, Errors: errs}
	if errs.Any() {
		return Render(c, http.StatusUnprocessableEntity, h.page(c, s.Email), views.StaffEdit(form))
	}
	if err := models.UpdateStaffFields(ctx, h.DB, s.ID, map[string]any{"name": in.Name, "role": in.Role, "disabled": disabled}); err != nil {
		return err
	}
	if disabled && !s.Disabled {
		if err := models.DeleteStaffSessions(ctx, h.DB, s.ID, ""); err != nil {
			return err
		}
	}
	who := Actor(c)
	if string(s.Role) != in.Role {
		if err := models.Audit(ctx, h.DB, who, "staff.role", "staff", s.Email, map[string]any{"from": s.Role, "to": in.Role}); err != nil {
			return err
		}
	}
	if s.Disabled != disabled {
		action := "staff.enable"
		if disabled {
			action = "staff.disable"
		}
		if err := models.Audit(ctx, h.DB, who, action, "staff", s.Email, nil); err != nil {
			return err
		}
	}
	if s.Name != in.Name {
		if err := models.Audit(ctx, h.DB, who, "staff.rename", "staff", s.Email, map[string]any{"from": s.Name, "to": in.Name}); err != nil {
			return err
		}
	}
	SetFlash(c, "success", T(c, "staff.updated", s.Email))
	return Redirect(c, "/settings/staff")
}

// ResetPassword sets a new password for a staff member and signs them out everywhere.
func (h *Staff) ResetPassword(c echo.Context) error {
	s, err := h.load(c)
	if err != nil {
		return err
	}
	pw := c.FormValue("password")
	errs := Errors{}
	checkNewPassword(c, errs, pw, nil)
	checkPasswordStrength(c, errs, pw, s.Email, s.Name)
	if errs.Any() {
		form := views.StaffForm{ID: s.ID, Email: s.Email, Name: s.Name, Role: string(s.Role), Disabled: s.Disabled, Errors: errs}
		return Render(c, http.StatusUnprocessableEntity, h.page(c, s.Email), views.StaffEdit(form))
	}
	ctx := c.Request().Context()
	keep := ""
	if s.ID == CurrentStaff(c).ID {
		keep = SessionToken(c)
	}
	if err := models.SetStaffPassword(ctx, h.DB, s.ID, pw, keep); err != nil {
		return err
	}
	// A new password ends a lock from failed sign-ins: the person locked
	// out is usually who asked for it.
	if err := models.ThrottleReset(ctx, h.DB, accountThrottleKey(s.Email)); err != nil {
		return err
	}
	if err := models.Audit(ctx, h.DB, Actor(c), "staff.reset_password", "staff", s.Email, nil); err != nil {
		return err
	}
	SetFlash(c, "success", T(c, "staff.password_reset", s.Email))
	return Redirect(c, "/settings/staff")
}
