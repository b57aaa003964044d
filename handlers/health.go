package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
)

// Health answers the liveness and readiness probes.
type Health struct{ Env }

// Live answers while the process runs.
func (h *Health) Live(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// Ready answers 200 when the database is reachable, the schema current and
// the secret key opens the stored secrets (an instance with another key
// would fail every push and every WeChat call).
func (h *Health) Ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	sqlDB, err := h.DB.DB()
	if err == nil {
		err = sqlDB.PingContext(ctx)
	}
	if err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": err.Error()})
	}
	if err := models.CheckSchema(ctx, h.DB); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "schema": err.Error()})
	}
	if err := models.CheckSecretKey(ctx, h.DB, h.Sealer); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "secret_key": err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
