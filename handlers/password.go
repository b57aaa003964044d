package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
)

// checkPasswordStrength refuses a new password that is long enough but
// easy to guess (one character repeated, a run like 1234567890, the
// person's email or name, a common password), with a message saying why.
// Call it after checkNewPassword; it adds nothing when that found a fault.
func checkPasswordStrength(c echo.Context, errs Errors, pw, email, name string) {
	if errs["password"] != "" || pw == "" {
		return
	}
	switch why := models.PasswordWeakness(pw, email, name); why {
	case "":
	case models.WeakFewDistinct:
		errs.Add("password", T(c, "sec.password."+why, models.MinPasswordDistinct))
	default:
		errs.Add("password", T(c, "sec.password."+why))
	}
}
