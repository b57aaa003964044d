package web

import (
	"github.com/labstack/echo/v4/middleware"

	"github.com/minipush/minipush/handlers"
	"github.com/minipush/minipush/models"
)

const (
	admin    = models.RoleAdmin
	operator = models.RoleOperator
	support  = models.RoleSupport
)

// routes is the whole route table. Each line shows who may call it:
// need(admin) is admins only; need(operator) is operators and admins;
// anyone is every signed-in staff member; no guard means no sign-in.
func (s *Server) routes() {
	env := s.env
	auth := &handlers.Auth{Env: env, Setup: s.setup, AccountPolicy: handlers.DefaultAccountPolicy, IPPolicy: handlers.DefaultIPPolicy}
	staff := &handlers.Staff{Env: env}
	account := &handlers.Account{Env: env}
	audit := &handlers.Audit{Env: env}
	dash := &handlers.Dashboard{Env: env}
	health := &handlers.Health{Env: env}
	wxpush := &handlers.WxPush{Env: env, Events: s.events, SentEvents: s.sentEvents}
	jobsPage := &handlers.Jobs{Env: env, Runner: s.jobs}
	apps := &handlers.Apps{Env: env, HTTP: s.wechatHTTP, PublicURL: s.publicURL}
	templates := &handlers.Templates{Env: env, HTTP: s.wechatHTTP, Queue: s.queue}
	apiKeys := &handlers.APIKeys{Env: env, Usage: s.keyUsage}
	users := &handlers.Users{Env: env}
	deliveries := &handlers.Deliveries{Env: env}
	imports := &handlers.Imports{Env: env}

	e := s.Echo
	e.GET("/healthz", health.Live)
	e.GET("/readyz", health.Ready)
	e.GET("/static/*", staticHandler())
	if s.metrics != nil {
		e.GET("/metrics", s.metricsHandler()) // Prometheus; MINIPUSH_METRICS_TOKEN guards it
	}

	// WeChat's message push: verified by signature, not by session or CSRF.
	e.GET("/wx/push/:appid", wxpush.Verify)
	e.POST("/wx/push/:appid", wxpush.Receive)

	// JSON API for business backends: API keys, not sessions or CSRF.
	api := &handlers.API{Env: env, Queue: s.apiQueue, Usage: s.keyUsage}
	e.GET("/api/v1/openapi.json", api.OpenAPI)
	v1 := e.Group("/api/v1", api.Errors, middleware.BodyLimit("1M"), api.Auth)
	v1.PUT("/users/:openid", api.PutUser)
	v1.GET("/users/:openid", api.GetUser)
	v1.POST(`/users\:batch`, api.BatchUsers)
	v1.GET("/users/:openid/subscriptions", api.GetSubscriptions)
	v1.GET("/users/:openid/messages", api.GetUserMessages)
	v1.POST("/subscriptions", api.ReportSubscription)
	v1.POST("/messages", api.SendMessage)
	v1.GET("/messages/:id", api.GetMessage)

	g := s.guarded(e.Group("", s.consoleMiddleware()...)) // records each route's roles for the menu (nav.go)
	g.GET("/setup", auth.SetupPage)
	g.POST("/setup", auth.SetupCreate)
	g.GET("/login", auth.LoginPage)
	g.POST("/login", auth.Login)
	g.POST("/lang", auth.SetLang)
	g.POST("/logout", auth.Logout, anyone)

	g.GET("/", dash.Show, anyone)
	g.GET("/account", account.Show, anyone)
	g.POST("/account/password", account.ChangePassword, anyone)
	g.POST("/account/lang", account.SetLang, anyone)

	// Campaigns (issue 9).
	campaigns := &handlers.Campaigns{Env: env, Queue: s.queue, Kick: s.kickCampaigns}
	g.GET("/campaigns", campaigns.List, need(operator))
	g.GET("/campaigns/new", campaigns.New, need(operator))
	g.POST("/campaigns", campaigns.Create, need(operator))
	g.POST("/campaigns/check", campaigns.Check, need(operator))
	g.GET("/campaigns/:id", campaigns.Show, need(operator))
	g.GET("/campaigns/:id/edit", campaigns.Edit, need(operator))
	g.POST("/campaigns/:id", campaigns.Update, need(operator))
	g.GET("/campaigns/:id/audience", campaigns.Audience, need(operator))
	g.GET("/campaigns/:id/progress", campaigns.Progress, need(operator))
	g.POST(campaignListUploadPath, campaigns.Upload, need(operator))
	g.POST("/campaigns/:id/test-send", campaigns.TestSend, need(operator))
	g.POST("/campaigns/:id/schedule", campaigns.Schedule, need(operator))
	g.POST("/campaigns/:id/unschedule", campaigns.Unschedule, need(operator))
	g.POST("/campaigns/:id/approve", campaigns.Approve, need(admin))
	g.GET("/campaigns/approvals", campaigns.Approvals, need(admin))
	g.POST("/campaigns/:id/reject", campaigns.Reject, need(admin))
	g.POST("/campaigns/:id/pause", campaigns.Pause, need(operator))
	g.POST("/campaigns/:id/resume", campaigns.Resume, need(operator))
	g.POST("/campaigns/:id/cancel", campaigns.Cancel, need(operator))
	g.POST("/campaigns/:id/clone", campaigns.Clone, need(operator))
	g.POST("/campaigns/:id/runs/:run/resend", campaigns.Resend, need(operator))
	g.GET("/templates", templates.List, need(operator, support))
	g.POST("/templates/sync", templates.Sync, need(admin))
	g.GET("/templates/library", templates.Library, need(admin))
	g.POST("/templates/library", templates.LibraryAdd, need(admin))
	g.GET("/templates/new", templates.New, need(admin))
	g.POST("/templates", templates.Create, need(admin))
	g.GET("/templates/:id", templates.Show, need(operator, support))
	g.POST("/templates/:id/check", templates.Check, need(operator, support))
	g.POST("/templates/:id/test-send", templates.TestSend, need(operator))
	g.GET("/templates/:id/test-send/:delivery", templates.TestSendStatus, need(operator))
	g.POST("/templates/:id/delete", templates.Delete, need(admin))
	g.GET("/users", users.List, need(operator, support))
	g.GET("/users/:id", users.Show, need(operator, support))
	g.POST("/users/:id/credits", users.AdjustCredits, need(admin))
	g.GET("/users/import", imports.New, need(operator))
	g.POST("/users/import", imports.Create, need(operator))
	g.GET("/users/imports/:id", imports.Show, need(operator))
	g.GET("/users/imports/:id/rejected.csv", imports.Rejected, need(operator))
	g.GET("/deliveries", deliveries.List, need(operator, support))
	g.GET("/deliveries/export.csv", deliveries.Export, need(operator, support))
	g.GET("/deliveries/:id", deliveries.Show, need(operator, support))
	g.POST("/deliveries/:id/settle", deliveries.Settle, need(operator))

	g.GET("/settings/apps", apps.List, need(admin))
	g.GET("/settings/apps/new", apps.New, need(admin))
	g.POST("/settings/apps", apps.Create, need(admin))
	g.GET("/settings/apps/:id", apps.Show, need(admin))
	g.GET("/settings/apps/:id/edit", apps.Edit, need(admin))
	g.POST("/settings/apps/:id", apps.Update, need(admin))
	g.POST("/settings/apps/:id/test", apps.TestConnection, need(admin))
	g.GET("/settings/apikeys", apiKeys.List, need(admin))
	g.POST("/settings/apikeys", apiKeys.Create, need(admin))
	g.POST("/settings/apikeys/:id/revoke", apiKeys.Revoke, need(admin))
	g.GET("/settings/jobs", jobsPage.List, need(admin))
	g.POST("/settings/jobs/:name/run", jobsPage.RunNow, need(admin))
	g.GET("/settings/staff", staff.List, need(admin))
	g.GET("/settings/staff/new", staff.New, need(admin))
	g.POST("/settings/staff", staff.Create, need(admin))
	g.GET("/settings/staff/:id/edit", staff.Edit, need(admin))
	g.POST("/settings/staff/:id", staff.Update, need(admin))
	g.POST("/settings/staff/:id/password", staff.ResetPassword, need(admin))
	g.GET("/settings/audit", audit.List, need(admin))
}

// campaignListUploadPath takes uploaded recipient lists (up to 64 MB; every
// other request is limited to 2 MB).
const campaignListUploadPath = "/campaigns/:id/recipients"

// kickCampaigns asks the campaigns job to run now (a run just started or
// resumed is expanded at once rather than at the next tick).
func (s *Server) kickCampaigns() {
	if s.jobs != nil {
		_ = s.jobs.RunNow("campaigns")
	}
}
