package handlers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
	"github.com/minipush/minipush/wechat"
)

// Apps is the admin page for mini program accounts.
type Apps struct {
	Env
	HTTP *http.Client // for WeChat calls; nil: the client's default
	// PublicURL is the configured base URL of the console ("" when unset:
	// the push URL is built from the request's Host, with a hint to set it).
	PublicURL string
}

func (h *Apps) page(c echo.Context, title string) views.Page {
	crumbs := []views.Crumb{{Label: T(c, "nav.group.settings")}, {Label: T(c, "nav.apps"), Href: "/settings/apps"}}
	if title != "" {
		crumbs = append(crumbs, views.Crumb{Label: title})
	}
	return views.Page{Title: T(c, "nav.apps"), Nav: "apps", Crumbs: crumbs}
}

// List shows every account.
func (h *Apps) List(c echo.Context) error {
	ctx := c.Request().Context()
	apps, err := models.ListApps(ctx, h.DB)
	if err != nil {
		return err
	}
	counts, err := models.CountTemplatesByApp(ctx, h.DB)
	if err != nil {
		return err
	}
	rows := make([]views.AppRow, len(apps))
	for i, a := range apps {
		rows[i] = views.AppRow{ID: a.ID, Name: a.Name, AppID: a.AppID, RateLimit: a.RateLimit, Timezone: a.Timezone, Templates: counts[a.ID], Disabled: a.Disabled}
	}
	return Render(c, http.StatusOK, h.page(c, ""), views.AppList(rows))
}

// New shows an empty account form with sensible defaults.
func (h *Apps) New(c echo.Context) error {
	f := views.AppForm{PushMode: string(models.PushSafe), PushFormat: string(models.PushJSON), RateLimit: "20", DailyQuota: "0",
		Timezone: h.Location.String(), QuietPolicy: string(models.QuietDefer), MPState: string(models.MPFormal), Lang: "zh_CN", SyncEveryHours: "6"}
	return Render(c, http.StatusOK, h.page(c, T(c, "apps.add")), views.AppFormPage(f))
}

type appInput struct {
	Name           string             `form:"name"`
	AppID          string             `form:"app_id"`
	Secret         string             `form:"secret"`
	OriginalID     string             `form:"original_id"`
	PushToken      string             `form:"push_token"`
	AESKey         string             `form:"aes_key"`
	PushMode       models.PushMode    `form:"push_mode"`
	PushFormat     models.PushFormat  `form:"push_format"`
	APIBaseURL     string             `form:"api_base_url"`
	RateLimit      string             `form:"rate_limit"`
	DailyQuota     string             `form:"daily_quota"`
	Timezone       string             `form:"timezone"`
	QuietStart     string             `form:"quiet_start"`
	QuietEnd       string             `form:"quiet_end"`
	QuietPolicy    models.QuietPolicy `form:"quiet_policy"`
	MPState        models.MPState     `form:"mp_state"`
	Lang           string             `form:"lang"`
	SyncEveryHours string             `form:"sync_every_hours"`
	Disabled       string             `form:"disabled"`
	Approval       string             `form:"require_approval"`
}

var (
	reAppID      = regexp.MustCompile(`^wx[0-9a-zA-Z]{16}$`)
	reOriginalID = regexp.MustCompile(`^gh_[0-9a-zA-Z]{12}$`)
	reSecret     = regexp.MustCompile(`^[0-9a-zA-Z]{16,64}$`)
	rePushToken  = regexp.MustCompile(`^[0-9a-zA-Z]{3,32}$`)
	reAESKey     = regexp.MustCompile(`^[0-9a-zA-Z]{43}$`)
	reClock      = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
)

// validated is an app form checked and converted.
type validated struct {
	rate, hours int
	quota       int64
}

// check validates the input; creating says whether the secret is required.
// Stored secrets (existing) count as present when left blank on edit.
func (h *Apps) check(c echo.Context, in *appInput, existing *models.App) (validated, Errors) {
	errs := Errors{}
	var v validated
	for _, p := range []*string{&in.Name, &in.AppID, &in.Secret, &in.OriginalID, &in.PushToken, &in.AESKey, &in.APIBaseURL, &in.Timezone, &in.QuietStart, &in.QuietEnd} {
		*p = strings.TrimSpace(*p)
	}
	switch n := len([]rune(in.Name)); {
	case n == 0:
		errs.Add("name", T(c, "form.required"))
	case n > 60:
		errs.Add("name", T(c, "form.too_long", 60))
	}
	if existing == nil && !reAppID.MatchString(in.AppID) {
		errs.Add("app_id", T(c, "apps.appid_invalid"))
	}
	switch {
	case in.Secret == "" && existing == nil:
		errs.Add("secret", T(c, "form.required"))
	case in.Secret != "" && !reSecret.MatchString(in.Secret):
		errs.Add("secret", T(c, "apps.secret_invalid"))
	}
	if in.OriginalID != "" && !reOriginalID.MatchString(in.OriginalID) {
		errs.Add("original_id", T(c, "apps.original_id_invalid"))
	}
	if in.PushToken != "" && !rePushToken.MatchString(in.PushToken) {
		errs.Add("push_token", T(c, "apps.push_token_invalid"))
	}
	if in.AESKey != "" && !reAESKey.MatchString(in.AESKey) {
		errs.Add("aes_key", T(c, "apps.aes_key_invalid", len(in.AESKey)))
	}
	aesSet := in.AESKey != "" || (existing != nil && existing.AESKeyEnc != "")
	if !in.PushMode.Valid() {
		errs.Add("push_mode", T(c, "form.choose"))
	} else if in.PushMode == models.PushSafe && !aesSet && errs["aes_key"] == "" {
		errs.Add("aes_key", T(c, "apps.aes_key_needed"))
	}
	if !in.PushFormat.Valid() {
		errs.Add("push_format", T(c, "form.choose"))
	}
	if in.APIBaseURL != "" {
		u, err := url.Parse(in.APIBaseURL)
		if err != nil || len(in.APIBaseURL) > 180 || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			errs.Add("api_base_url", T(c, "apps.url_invalid"))
		}
		in.APIBaseURL = strings.TrimRight(in.APIBaseURL, "/")
	}
	var err error
	if v.rate, err = strconv.Atoi(in.RateLimit); err != nil || v.rate < 1 || v.rate > 100000 {
		errs.Add("rate_limit", T(c, "form.int_range", 1, 100000))
	}
	if in.DailyQuota == "" {
		in.DailyQuota = "0"
	}
	if v.quota, err = strconv.ParseInt(in.DailyQuota, 10, 64); err != nil || v.quota < 0 || v.quota > 1_000_000_000 {
		errs.Add("daily_quota", T(c, "form.int_range", 0, 1000000000))
	}
	if in.Timezone == "" {
		errs.Add("timezone", T(c, "form.required"))
	} else if _, err := models.LoadZone(in.Timezone); err != nil {
		errs.Add("timezone", T(c, "apps.timezone_invalid"))
	}
	if (in.QuietStart == "") != (in.QuietEnd == "") {
		errs.Add("quiet_end", T(c, "apps.quiet_both"))
	}
	if in.QuietStart != "" && !reClock.MatchString(in.QuietStart) {
		errs.Add("quiet_start", T(c, "apps.clock_invalid"))
	}
	if in.QuietEnd != "" && !reClock.MatchString(in.QuietEnd) {
		errs.Add("quiet_end", T(c, "apps.clock_invalid"))
	}
	if in.QuietStart != "" && in.QuietStart == in.QuietEnd {
		errs.Add("quiet_end", T(c, "apps.quiet_same"))
	}
	if !in.QuietPolicy.Valid() {
		errs.Add("quiet_policy", T(c, "form.choose"))
	}
	if !in.MPState.Valid() {
		errs.Add("mp_state", T(c, "form.choose"))
	}
	switch in.Lang {
	case "zh_CN", "en_US", "zh_HK", "zh_TW":
	default:
		errs.Add("lang", T(c, "form.choose"))
	}
	if v.hours, err = strconv.Atoi(in.SyncEveryHours); err != nil || v.hours < 0 || v.hours > 168 {
		errs.Add("sync_every_hours", T(c, "form.int_range", 0, 168))
	}
	return v, errs
}

// formFromInput re-fills the form after a validation failure (secrets never:
// a banner asks to type again the ones that were typed).
func formFromInput(c echo.Context, id int64, in appInput, existing *models.App, errs Errors) views.AppForm {
	if in.Secret != "" || in.PushToken != "" || in.AESKey != "" {
		errs.Add("_", T(c, "apps.retype_secrets"))
	}
	f := views.AppForm{ID: id, Name: in.Name, AppID: in.AppID, OriginalID: in.OriginalID, PushMode: string(in.PushMode), PushFormat: string(in.PushFormat),
		APIBaseURL: in.APIBaseURL, RateLimit: in.RateLimit, DailyQuota: in.DailyQuota, Timezone: in.Timezone, QuietStart: in.QuietStart,
		QuietEnd: in.QuietEnd, QuietPolicy: string(in.QuietPolicy), MPState: string(in.MPState), Lang: in.Lang, SyncEveryHours: in.SyncEveryHours,
		Disabled: in.Disabled == "1", RequireApproval: in.Approval == "1", Errors: errs}
	if existing != nil {
		f.AppID = existing.AppID
		f.SecretSet, f.TokenSet, f.AESKeySet = existing.SecretEnc != "", existing.PushTokenEnc != "", existing.AESKeyEnc != ""
	}
	return f
}

// Create registers an account.
func (h *Apps) Create(c echo.Context) error {
	var in appInput
	if err := c.Bind(&in); err != nil {
		return badForm(c, err)
	}
	v, errs := h.check(c, &in, nil)
	ctx := c.Request().Context()
	if !errs.Any() {
		now := h.Now()
		a := &models.App{AppID: in.AppID, Name: in.Name, OriginalID: in.OriginalID, SecretEnc: h.Sealer.Seal(in.Secret),
			PushTokenEnc: h.Sealer.Seal(in.PushToken), AESKeyEnc: h.Sealer.Seal(in.AESKey), PushMode: in.PushMode, PushFormat: in.PushFormat,
			APIBaseURL: in.APIBaseURL, RateLimit: v.rate, DailyQuota: v.quota, Timezone: in.Timezone, QuietStart: in.QuietStart,
			QuietEnd: in.QuietEnd, QuietPolicy: in.QuietPolicy, MPState: in.MPState, Lang: in.Lang, SyncEveryHours: v.hours,
			RequireApproval: in.Approval == "1", CreatedAt: now, UpdatedAt: now}
		err := models.CreateApp(ctx, h.DB, a)
		switch {
		case errors.Is(err, models.ErrDuplicate):
			errs.Add("app_id", T(c, "apps.appid_taken"))
		case err != nil:
			return err
		default:
			if err := models.Audit(ctx, h.DB, Actor(c), "app.create", "app", a.AppID, map[string]any{"name": a.Name}); err != nil {
				return err
			}
			savedFlash(c, T(c, "apps.created", a.Name), in.PushToken != "")
			return Redirect(c, "/settings/apps/"+strconv.FormatInt(a.ID, 10))
		}
	}
	return Render(c, http.StatusUnprocessableEntity, h.page(c, T(c, "apps.add")), views.AppFormPage(formFromInput(c, 0, in, nil, errs)))
}

func (h *Apps) load(c echo.Context) (*models.App, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusNotFound)
	}
	a, err := models.GetApp(c.Request().Context(), h.DB, id)
	return a, NotFound(err)
}

// Edit shows an account's form; secrets show only whether they are set.
func (h *Apps) Edit(c echo.Context) error {
	a, err := h.load(c)
	if err != nil {
		return err
	}
	f := views.AppForm{ID: a.ID, Name: a.Name, AppID: a.AppID, OriginalID: a.OriginalID, SecretSet: a.SecretEnc != "", TokenSet: a.PushTokenEnc != "",
		AESKeySet: a.AESKeyEnc != "", PushMode: string(a.PushMode), PushFormat: string(a.PushFormat), APIBaseURL: a.APIBaseURL,
		RateLimit: strconv.Itoa(a.RateLimit), DailyQuota: strconv.FormatInt(a.DailyQuota, 10), Timezone: a.Timezone,
		QuietStart: a.QuietStart, QuietEnd: a.QuietEnd, QuietPolicy: string(a.QuietPolicy), MPState: string(a.MPState), Lang: a.Lang,
		SyncEveryHours: strconv.Itoa(a.SyncEveryHours), Disabled: a.Disabled, RequireApproval: a.RequireApproval}
	return Render(c, http.StatusOK, h.page(c, a.Name), views.AppFormPage(f))
}

// auditCodeFields are settings whose values are codes (safe, defer,
// zh_CN…): the audit names them changed without their raw values, as it
// does switches (bools).
var auditCodeFields = map[string]bool{"push_mode": true, "push_format": true, "quiet_policy": true, "mp_state": true, "lang": true}

// auditChange writes one changed setting for the audit log: "old → new"
// ("—" for empty).
func auditChange(old, now any) string {
	str := func(v any) string {
		if s := fmt.Sprint(v); s != "" {
			return s
		}
		return "—"
	}
	return str(old) + " → " + str(now)
}

// Update saves an account; blank secret fields keep the stored ones.
func (h *Apps) Update(c echo.Context) error {
	a, err := h.load(c)
	if err != nil {
		return err
	}
	var in appInput
	if err := c.Bind(&in); err != nil {
		return badForm(c, err)
	}
	v, errs := h.check(c, &in, a)
	if errs.Any() {
		return Render(c, http.StatusUnprocessableEntity, h.page(c, a.Name), views.AppFormPage(formFromInput(c, a.ID, in, a, errs)))
	}
	disabled := in.Disabled == "1"
	fields := map[string]any{"name": in.Name, "original_id": in.OriginalID, "push_mode": in.PushMode, "push_format": in.PushFormat,
		"api_base_url": in.APIBaseURL, "rate_limit": v.rate, "daily_quota": v.quota, "timezone": in.Timezone, "quiet_start": in.QuietStart,
		"quiet_end": in.QuietEnd, "quiet_policy": in.QuietPolicy, "mp_state": in.MPState, "lang": in.Lang, "sync_every_hours": v.hours,
		"disabled": disabled, "require_approval": in.Approval == "1"}
	// What changed, for the audit log: names only for secrets, never values.
	changed := []string{}
	values := map[string]any{} // old → new, for the fields that are not secrets
	for col, old := range map[string]any{"name": a.Name, "original_id": a.OriginalID, "push_mode": a.PushMode, "push_format": a.PushFormat,
		"api_base_url": a.APIBaseURL, "rate_limit": a.RateLimit, "daily_quota": a.DailyQuota, "timezone": a.Timezone,
		"quiet_start": a.QuietStart, "quiet_end": a.QuietEnd, "quiet_policy": a.QuietPolicy, "mp_state": a.MPState, "lang": a.Lang,
		"sync_every_hours": a.SyncEveryHours, "disabled": a.Disabled, "require_approval": a.RequireApproval} {
		if fields[col] != old {
			changed = append(changed, col)
			if _, isBool := old.(bool); !isBool && !auditCodeFields[col] {
				values[col] = auditChange(old, fields[col])
			}
		}
	}
	for col, val := range map[string]string{"secret_enc": in.Secret, "push_token_enc": in.PushToken, "aes_key_enc": in.AESKey} {
		if val != "" {
			fields[col] = h.Sealer.Seal(val)
			changed = append(changed, strings.TrimSuffix(col, "_enc"))
		}
	}
	ctx := c.Request().Context()
	if err := models.UpdateAppFields(ctx, h.DB, a.ID, fields); err != nil {
		return err
	}
	if in.Secret != "" || in.APIBaseURL != a.APIBaseURL {
		// A new secret makes the cached token suspect, and a token must never
		// travel to another host (WeChat ↔ a sandbox): fetch a fresh one next time.
		if err := (&models.TokenStore{DB: h.DB, Sealer: h.Sealer}).Drop(ctx, a.AppID); err != nil {
			return err
		}
	}
	sort.Strings(changed)
	if err := models.Audit(ctx, h.DB, Actor(c), "app.update", "app", a.AppID, map[string]any{"changed": changed, "values": values}); err != nil {
		return err
	}
	savedFlash(c, T(c, "apps.updated", in.Name), in.PushToken != "" || a.PushTokenEnc != "")
	return Redirect(c, "/settings/apps/"+strconv.FormatInt(a.ID, 10))
}

// savedFlash confirms a save, or, when the account has no push Token,
// warns that WeChat's pushes will be refused until one is given.
func savedFlash(c echo.Context, saved string, tokenSet bool) {
	if tokenSet {
		SetFlash(c, "success", saved)
		return
	}
	SetFlash(c, "error", saved+" "+T(c, "sec.push.no_token"))
}

// Show is the account page: test connection and the push settings to paste
// into WeChat's console.
func (h *Apps) Show(c echo.Context) error {
	a, err := h.load(c)
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, h.page(c, a.Name), views.AppShow(h.detail(c, a, nil)))
}

func (h *Apps) detail(c echo.Context, a *models.App, result *components.Flash) views.AppDetail {
	counts, _ := models.CountTemplatesByApp(c.Request().Context(), h.DB)
	base := a.APIBaseURL
	if base == "" {
		base = wechat.DefaultBaseURL
	}
	quiet := T(c, "apps.quiet_none")
	if a.QuietStart != "" {
		quiet = a.QuietStart + " – " + a.QuietEnd + " (" + T(c, "apps.quiet_"+string(a.QuietPolicy)) + ")"
	}
	return views.AppDetail{ID: a.ID, Name: a.Name, AppID: a.AppID,
		PushURL: h.pushURL(c, a.AppID), PushURLGuessed: h.PublicURL == "", PushMode: string(a.PushMode), PushFormat: string(a.PushFormat),
		TokenSet: a.PushTokenEnc != "", AESKeySet: a.AESKeyEnc != "", APIBaseURL: base, RateLimit: a.RateLimit, DailyQuota: a.DailyQuota,
		Timezone: a.Timezone, Quiet: quiet, Disabled: a.Disabled, Templates: counts[a.ID], TestResult: result}
}

// TestConnection fetches an access token and reports WeChat's answer, explained.
func (h *Apps) TestConnection(c echo.Context) error {
	a, err := h.load(c)
	if err != nil {
		return err
	}
	result := h.testToken(c.Request().Context(), a, Lang(c))
	_ = models.Audit(c.Request().Context(), h.DB, Actor(c), "app.test_connection", "app", a.AppID, map[string]any{"ok": result.Kind == "success"})
	if IsPartial(c) {
		return RenderBare(c, http.StatusOK, components.FlashBox(result))
	}
	return Render(c, http.StatusOK, h.page(c, a.Name), views.AppShow(h.detail(c, a, &result)))
}

func (h *Apps) testToken(ctx context.Context, a *models.App, lang string) components.Flash {
	client, err := models.WeChatClient(h.DB, h.Sealer, a, h.HTTP)
	if err != nil {
		return components.Flash{Kind: "error", Message: ExplainWeChat(err, lang)}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := client.Token(ctx); err != nil {
		return components.Flash{Kind: "error", Message: ExplainWeChat(err, lang)}
	}
	return components.Flash{Kind: "success", Message: components.Translate(lang, "apps.test_ok")}
}

// ExplainWeChat turns a client error into a sentence for people: WeChat's
// errcode with what it means, or what went wrong on the way.
func ExplainWeChat(err error, lang string) string {
	var we *wechat.Error
	if errors.As(err, &we) {
		return components.Translate(lang, "wechat.error", we.Explain(lang))
	}
	if errors.Is(err, models.ErrUnseal) {
		return components.Translate(lang, "error.unseal")
	}
	return components.Translate(lang, "wechat.unreachable", components.Translate(lang, netProblem(err)))
}

// netProblem names, as a catalogue key, why a call to WeChat got no
// answer: the Go error chain (URL, syscall, wrapped layers) is for the log,
// not for the people reading the page.
func netProblem(err error) string {
	var re *wechat.RequestError
	var dns *net.DNSError
	var ne net.Error
	var cert *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &re) && re.StatusCode != 0:
		return "wechat.net.http"
	case errors.As(err, &dns):
		return "wechat.net.dns"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "wechat.net.refused"
	case errors.As(err, &cert), errors.As(err, &unknownCA), errors.As(err, &hostname):
		return "wechat.net.tls"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "wechat.net.timeout"
	}
	return "wechat.net.other"
}

// pushURL is the address WeChat should push an account's events to: the
// configured public URL, else this request's scheme and Host (which a
// client chooses, so the page says to configure it).
func (h *Apps) pushURL(c echo.Context, appID string) string {
	base := h.PublicURL
	if base == "" {
		base = scheme(c) + "://" + c.Request().Host
	}
	return base + "/wx/push/" + url.PathEscape(appID)
}

func scheme(c echo.Context) string {
	if IsHTTPS(c) {
		return "https"
	}
	return "http"
}
