package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
)

// Limits of what the API accepts about a user.
const (
	maxBatchUsers   = 1000
	maxTags         = 50
	maxTagLen       = 64
	maxAttrBytes    = 16 << 10
	maxBusinessID   = 191
	maxUnionIDLen   = 64
	maxPageSize     = 100
	defaultPageSize = 20
)

var openIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

type apiUserBody struct {
	UnionID    *string         `json:"unionid"`
	BusinessID *string         `json:"business_id"`
	Attributes json.RawMessage `json:"attributes"`
	Tags       *[]string       `json:"tags"`
}

type apiBatchUser struct {
	OpenID string `json:"openid"`
	apiUserBody
}

type apiBatchBody struct {
	Users []apiBatchUser `json:"users"`
}

// userInput validates one user of a request; prefix names it in errors
// ("users[3]." in a batch).
func userInput(prefix, openid string, b *apiUserBody) (models.UserInput, error) {
	// Surrounding spaces are dropped, as the CSV import does: a stray
	// space kept would make the user unfindable by the id typed in search.
	for _, p := range []*string{b.UnionID, b.BusinessID} {
		if p != nil {
			*p = strings.TrimSpace(*p)
		}
	}
	in := models.UserInput{OpenID: openid, UnionID: b.UnionID, BusinessID: b.BusinessID}
	if !openIDPattern.MatchString(openid) {
		return in, apiErr(http.StatusUnprocessableEntity, "invalid_openid", prefix+"openid")
	}
	switch {
	case b.UnionID != nil && models.HasHiddenChars(*b.UnionID):
		return in, apiErr(http.StatusUnprocessableEntity, "hidden_chars", prefix+"unionid")
	case b.BusinessID != nil && models.HasHiddenChars(*b.BusinessID):
		return in, apiErr(http.StatusUnprocessableEntity, "hidden_chars", prefix+"business_id")
	}
	if b.UnionID != nil && (utf8.RuneCountInString(*b.UnionID) > maxUnionIDLen) {
		return in, apiErr(http.StatusUnprocessableEntity, "too_long", prefix+"unionid", maxUnionIDLen)
	}
	if b.BusinessID != nil && utf8.RuneCountInString(*b.BusinessID) > maxBusinessID {
		return in, apiErr(http.StatusUnprocessableEntity, "too_long", prefix+"business_id", maxBusinessID)
	}
	if len(b.Attributes) > 0 && !bytes.Equal(bytes.TrimSpace(b.Attributes), []byte("null")) {
		if len(b.Attributes) > maxAttrBytes {
			return in, apiErr(http.StatusUnprocessableEntity, "too_long", prefix+"attributes", maxAttrBytes)
		}
		var m map[string]any
		if err := json.Unmarshal(b.Attributes, &m); err != nil || m == nil {
			return in, apiErr(http.StatusUnprocessableEntity, "not_an_object", prefix+"attributes")
		}
		in.Attributes = m
	}
	if b.Tags != nil {
		if len(*b.Tags) > maxTags {
			return in, apiErr(http.StatusUnprocessableEntity, "too_many", prefix+"tags", maxTags)
		}
		in.Tags = []string{}
		for i, t := range *b.Tags {
			t = strings.TrimSpace(t)
			if t == "" || utf8.RuneCountInString(t) > maxTagLen || models.HasHiddenChars(t) {
				return in, apiErr(http.StatusUnprocessableEntity, "invalid_tag", prefix+"tags["+strconv.Itoa(i)+"]", maxTagLen)
			}
			in.Tags = append(in.Tags, t)
		}
	}
	return in, nil
}

type apiUser struct {
	OpenID     string         `json:"openid"`
	UnionID    string         `json:"unionid"`
	BusinessID string         `json:"business_id"`
	Attributes map[string]any `json:"attributes"`
	Tags       []string       `json:"tags"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

func userJSON(u *models.User) apiUser {
	tags := u.TagList()
	if tags == nil {
		tags = []string{}
	}
	return apiUser{OpenID: u.OpenID, UnionID: u.UnionID, BusinessID: u.BusinessID, Attributes: u.Attrs(), Tags: tags,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()}
}

// PutUser creates or updates one user; fields left out are kept.
func (h *API) PutUser(c echo.Context) error {
	_, app := CurrentAPIKey(c)
	var b apiUserBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	in, err := userInput("", c.Param("openid"), &b)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	created, err := models.UpsertUsers(ctx, h.DB, app.ID, []models.UserInput{in})
	if err != nil {
		return err
	}
	u, err := models.GetUserByOpenID(ctx, h.DB, app.ID, in.OpenID)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created == 1 {
		status = http.StatusCreated
	}
	return c.JSON(status, userJSON(u))
}

// BatchUsers creates or updates up to 1,000 users at once: all or none.
func (h *API) BatchUsers(c echo.Context) error {
	_, app := CurrentAPIKey(c)
	var b apiBatchBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if len(b.Users) == 0 {
		return apiErr(http.StatusUnprocessableEntity, "required", "users")
	}
	if len(b.Users) > maxBatchUsers {
		return apiErr(http.StatusUnprocessableEntity, "too_many", "users", maxBatchUsers)
	}
	ins := make([]models.UserInput, len(b.Users))
	seen := make(map[string]int, len(b.Users))
	for i := range b.Users {
		prefix := "users[" + strconv.Itoa(i) + "]."
		in, err := userInput(prefix, b.Users[i].OpenID, &b.Users[i].apiUserBody)
		if err != nil {
			return err
		}
		if j, dup := seen[in.OpenID]; dup {
			return apiErr(http.StatusUnprocessableEntity, "duplicate_openid", prefix+"openid", j)
		}
		seen[in.OpenID] = i
		ins[i] = in
	}
	created, err := models.UpsertUsers(c.Request().Context(), h.DB, app.ID, ins)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"created": created, "updated": len(ins) - created})
}

// loadUser finds the path's user of the key's account.
func (h *API) loadUser(c echo.Context) (*models.User, error) {
	_, app := CurrentAPIKey(c)
	u, err := models.GetUserByOpenID(c.Request().Context(), h.DB, app.ID, c.Param("openid"))
	if errors.Is(err, models.ErrNotFound) {
		return nil, apiErr(http.StatusNotFound, "user_not_found", "openid")
	}
	return u, err
}

// GetUser answers one user.
func (h *API) GetUser(c echo.Context) error {
	u, err := h.loadUser(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, userJSON(u))
}

type apiSubscription struct {
	TemplateID string    `json:"template_id"`
	Title      string    `json:"title"`
	Kind       string    `json:"kind"`
	Credits    int       `json:"credits"`
	LongTerm   bool      `json:"long_term"`
	Status     string    `json:"status"`
	CanReceive bool      `json:"can_receive"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// templateMap returns the account's templates by row id.
func (h *API) templateMap(c echo.Context, appID int64) (map[int64]models.Template, error) {
	ts, err := models.ListTemplates(c.Request().Context(), h.DB, models.TemplateFilter{AppID: appID})
	if err != nil {
		return nil, err
	}
	m := make(map[int64]models.Template, len(ts))
	for _, t := range ts {
		m[t.ID] = t
	}
	return m, nil
}

// GetSubscriptions answers a user's standing per template.
func (h *API) GetSubscriptions(c echo.Context) error {
	u, err := h.loadUser(c)
	if err != nil {
		return err
	}
	subs, err := models.ListUserSubscriptions(c.Request().Context(), h.DB, u.ID)
	if err != nil {
		return err
	}
	tpls, err := h.templateMap(c, u.AppID)
	if err != nil {
		return err
	}
	out := make([]apiSubscription, 0, len(subs))
	for _, s := range subs {
		t := tpls[s.TemplateID]
		out = append(out, apiSubscription{TemplateID: t.TemplateID, Title: t.Title, Kind: t.Kind, Credits: s.Credits,
			LongTerm: s.LongTerm, Status: s.Status, CanReceive: s.CanReceive(t.LongTerm()), UpdatedAt: s.UpdatedAt.UTC()})
	}
	return c.JSON(http.StatusOK, map[string]any{"openid": u.OpenID, "subscriptions": out})
}

// pageParams reads ?cursor= and ?limit=.
func pageParams(c echo.Context) (before int64, limit int, err error) {
	limit = defaultPageSize
	if v := c.QueryParam("limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > maxPageSize {
			return 0, 0, apiErr(http.StatusBadRequest, "bad_limit", "limit", maxPageSize)
		}
		limit = n
	}
	if v := c.QueryParam("cursor"); v != "" {
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n <= 0 {
			return 0, 0, apiErr(http.StatusBadRequest, "bad_cursor", "cursor")
		}
		before = n
	}
	return before, limit, nil
}

// GetUserMessages answers a user's messages, newest first, by cursor.
func (h *API) GetUserMessages(c echo.Context) error {
	u, err := h.loadUser(c)
	if err != nil {
		return err
	}
	before, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	ds, err := models.ListUserDeliveries(c.Request().Context(), h.DB, u.ID, before, limit+1)
	if err != nil {
		return err
	}
	tpls, err := h.templateMap(c, u.AppID)
	if err != nil {
		return err
	}
	next := ""
	if len(ds) > limit {
		ds = ds[:limit]
		next = strconv.FormatInt(ds[len(ds)-1].ID, 10)
	}
	_, app := CurrentAPIKey(c)
	out := make([]apiMessage, 0, len(ds))
	attrs := u.Attrs()
	for i := range ds {
		out = append(out, messageJSON(&ds[i], app, tpls[ds[i].TemplateID].TemplateID, apiLang(c), attrs))
	}
	return c.JSON(http.StatusOK, map[string]any{"messages": out, "next_cursor": next})
}
