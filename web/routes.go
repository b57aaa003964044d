package web

import (
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
	coming := handlers.Coming{}
	wxpush := &handlers.WxPush{Env: env, Events: s.events}
	jobsPage := &handlers.Jobs{Env: env, Runner: s.jobs}
	apps := &handlers.Apps{Env: env, HTTP: s.wechatHTTP}
	templates := &handlers.Templates{Env: env, HTTP: s.wechatHTTP, Sender: s.testSender}

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

	g := e.Group("", s.consoleMiddleware()...)
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
	campaigns := &handlers.Campaigns{Env: env, Sender: s.testSender, Kick: s.kickCampaigns}
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
	g.GET("/users", coming.Page("users"), need(operator, support))
	g.GET("/deliveries", coming.Page("deliveries"), need(operator, support))

	g.GET("/settings/apps", apps.List, need(admin))
	g.GET("/settings/apps/new", apps.New, need(admin))
	g.POST("/settings/apps", apps.Create, need(admin))
	g.GET("/settings/apps/:id", apps.Show, need(admin))
	g.GET("/settings/apps/:id/edit", apps.Edit, need(admin))
	g.POST("/settings/apps/:id", apps.Update, need(admin))
	g.POST("/settings/apps/:id/test", apps.TestConnection, need(admin))
	g.GET("/settings/apikeys", coming.Page("apikeys"), need(admin))
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
