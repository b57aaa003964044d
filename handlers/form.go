package handlers

import (
	"net/http"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
)

// badForm answers a form the server could not read (a value of the wrong
// type, a body that is not a form): a worded 400 for the person, the
// binder's own text for the log only.
func badForm(c echo.Context, err error) error {
	c.Logger().Warnf("form not readable: %v", err)
	return echo.NewHTTPError(http.StatusBadRequest, T(c, "error.400_form"))
}

// Errors collects one translated message per form field.
type Errors map[string]string

// Add records msg for field unless it already has one.
func (e Errors) Add(field, msg string) {
	if _, ok := e[field]; !ok {
		e[field] = msg
	}
}

// Any tells whether there is at least one error.
func (e Errors) Any() bool { return len(e) > 0 }

// checkEmail validates an email address field.
func checkEmail(c echo.Context, errs Errors, field, value string) {
	switch {
	case value == "":
		errs.Add(field, T(c, "form.required"))
	case len(value) > 180:
		errs.Add(field, T(c, "form.too_long", 180))
	default:
		if a, err := mail.ParseAddress(value); err != nil || a.Address != value {
			errs.Add(field, T(c, "form.email_invalid"))
		}
	}
}

// checkName validates an optional display name.
func checkName(c echo.Context, errs Errors, field, value string) {
	if utf8.RuneCountInString(value) > 60 {
		errs.Add(field, T(c, "form.too_long", 60))
	}
}

// checkNewPassword validates a new password (and its repetition when again != nil).
func checkNewPassword(c echo.Context, errs Errors, pw string, again *string) {
	switch {
	case pw == "":
		errs.Add("password", T(c, "form.required"))
	case utf8.RuneCountInString(pw) < models.MinPasswordLen:
		errs.Add("password", T(c, "staff.password_short", models.MinPasswordLen))
	case len(pw) > 72:
		errs.Add("password", T(c, "staff.password_long"))
	}
	if again != nil && *again != pw {
		errs.Add("password2", T(c, "staff.password_mismatch"))
	}
}

// checkRole validates a role field.
func checkRole(c echo.Context, errs Errors, value string) {
	if !models.Role(value).Valid() {
		errs.Add("role", T(c, "staff.role_invalid"))
	}
}

func trim(s string) string { return strings.TrimSpace(s) }
