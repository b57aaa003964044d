package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat"
)

const maxIdempotencyKey = 128

type apiMessageBody struct {
	TemplateID       string                     `json:"template_id"`
	OpenID           string                     `json:"openid"`
	BusinessID       string                     `json:"business_id"`
	Data             map[string]json.RawMessage `json:"data"`
	Page             string                     `json:"page"`
	MiniprogramState string                     `json:"miniprogram_state"`
	Lang             string                     `json:"lang"`
}

type apiMessage struct {
	ID             int64             `json:"id"`
	Status         string            `json:"status"`
	Reason         string            `json:"reason,omitempty"`
	TemplateID     string            `json:"template_id"`
	OpenID         string            `json:"openid"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
	Data           map[string]string `json:"data"`
	Page           string            `json:"page"`
	MPState        string            `json:"miniprogram_state"`
	Lang           string            `json:"lang"`
	Attempts       int               `json:"attempts"`
	ErrCode        int               `json:"errcode"`
	ErrMsg         string            `json:"errmsg,omitempty"`
	Explanation    string            `json:"explanation,omitempty"`
	MsgID          string            `json:"msgid,omitempty"` // a string: msgids exceed 2^53
	QueuedAt       time.Time         `json:"queued_at"`
	CalledAt       *time.Time        `json:"called_at"`
	SentAt         *time.Time        `json:"sent_at"`
	SettledAt      *time.Time        `json:"settled_at"`
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// messageJSON is a message as the API answers it; app gives the
// miniprogram_state and lang of a message that did not set its own. The
// engine stores the values it sends with {{attributes}} filled in; until
// then (queued) they are filled from attrs, the user's attributes now.
func messageJSON(d *models.Delivery, app *models.App, wxTemplateID, lang string, attrs map[string]any) apiMessage {
	data, _ := d.DataMap()
	if d.Status == models.DeliveryQueued && attrs != nil {
		data = renderAll(data, attrs)
	}
	mpState, mpLang := models.SendSettings(d, app)
	m := apiMessage{ID: d.ID, Status: d.Status, Reason: d.Reason, TemplateID: wxTemplateID, OpenID: d.OpenID, Data: data,
		Page: d.Page, MPState: mpState, Lang: mpLang, Attempts: d.Attempts, ErrCode: d.ErrCode, ErrMsg: d.ErrMsg, QueuedAt: d.QueuedAt.UTC(),
		CalledAt: utcPtr(d.CalledAt), SentAt: utcPtr(d.SentAt), SettledAt: utcPtr(d.SettledAt)}
	if d.IdempotencyKey != nil {
		m.IdempotencyKey = *d.IdempotencyKey
	}
	if d.MsgID != nil {
		m.MsgID = strconv.FormatInt(*d.MsgID, 10)
	}
	if d.ErrCode != 0 {
		m.Explanation = wechat.Explain(d.ErrCode, lang)
	}
	return m
}

// messageData reads data values given as "v" or as WeChat's {"value": "v"}.
func messageData(raw map[string]json.RawMessage) (map[string]string, error) {
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			out[k] = s
			continue
		}
		var obj struct {
			Value *string `json:"value"`
		}
		if err := json.Unmarshal(v, &obj); err != nil || obj.Value == nil {
			return nil, wrongType("data."+k, jsonValueType(v), "string_or_value")
		}
		out[k] = *obj.Value
	}
	return out, nil
}

// wechatLangs are the message languages WeChat takes (lang).
var wechatLangs = map[string]bool{"zh_CN": true, "en_US": true, "zh_HK": true, "zh_TW": true}

// SendMessage queues one transactional message. The Idempotency-Key header
// is required: a retry with the same key answers the first message and
// queues nothing. Everything that can be checked before sending is checked
// at once (template, user, values, credit); a refused message is not queued.
func (h *API) SendMessage(c echo.Context) error {
	key, app := CurrentAPIKey(c)
	idem := c.Request().Header.Get("Idempotency-Key")
	switch {
	case idem == "":
		return apiErr(http.StatusBadRequest, "idempotency_key_required", "Idempotency-Key")
	case len(idem) > maxIdempotencyKey || !utf8.ValidString(idem):
		return apiErr(http.StatusBadRequest, "idempotency_key_invalid", "Idempotency-Key", maxIdempotencyKey)
	}
	var b apiMessageBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	data, err := messageData(b.Data)
	if err != nil {
		return err
	}
	switch {
	case b.TemplateID == "":
		return apiErr(http.StatusUnprocessableEntity, "required", "template_id")
	case b.OpenID == "" && b.BusinessID == "":
		return apiErr(http.StatusUnprocessableEntity, "user_required", "openid")
	case b.OpenID != "" && b.BusinessID != "":
		return apiErr(http.StatusUnprocessableEntity, "one_user_only", "business_id")
	case utf8.RuneCountInString(b.Page) > models.MaxPageLen:
		return apiErr(http.StatusUnprocessableEntity, "too_long", "page", models.MaxPageLen)
	case b.MiniprogramState != "" && !models.MPState(b.MiniprogramState).Valid():
		return apiErr(http.StatusUnprocessableEntity, "invalid_choice", "miniprogram_state", "developer, trial, formal")
	case b.Lang != "" && !wechatLangs[b.Lang]:
		return apiErr(http.StatusUnprocessableEntity, "invalid_choice", "lang", "zh_CN, en_US, zh_HK, zh_TW")
	}
	ctx := c.Request().Context()
	if d, err := models.GetDeliveryByIdempotencyKey(ctx, h.DB, app.ID, idem); err == nil {
		return h.replay(c, d, &b, data)
	} else if !errors.Is(err, models.ErrNotFound) {
		return err
	}

	tpl, err := models.GetTemplateByWxID(ctx, h.DB, app.ID, b.TemplateID)
	if errors.Is(err, models.ErrNotFound) {
		return apiErr(http.StatusUnprocessableEntity, "unknown_template", "template_id")
	} else if err != nil {
		return err
	}
	if tpl.Status != models.TemplateActive {
		return apiErr(http.StatusUnprocessableEntity, "template_deleted", "template_id")
	}
	u, sub, userField, err := h.messageUser(c, app.ID, tpl.ID, &b, idem)
	if err != nil {
		return err
	}
	probs, err := models.CheckMessageFor(tpl, u, sub, data, userField)
	if err != nil {
		return err
	}
	if len(probs) > 0 {
		return problemError(c, probs[0])
	}
	keyID := key.ID
	d, created, err := h.Queue.Enqueue(ctx, models.NewDelivery{AppID: app.ID, UserID: u.ID, TemplateID: tpl.ID, OpenID: u.OpenID,
		APIKeyID: &keyID, IdempotencyKey: idem, Page: b.Page, Data: data, MPState: b.MiniprogramState, Lang: b.Lang})
	if err != nil {
		return err
	}
	if !created { // a concurrent retry of the same key won the race
		return h.replay(c, d, &b, data)
	}
	return c.JSON(http.StatusAccepted, messageJSON(d, app, tpl.TemplateID, apiLang(c), u.Attrs()))
}

// messageUser finds the message's user (by openid or business id) with
// their subscription to the template.
func (h *API) messageUser(c echo.Context, appID, templateID int64, b *apiMessageBody, idem string) (*models.User, *models.Subscription, string, error) {
	field, value := "openid", b.OpenID
	if b.OpenID == "" {
		field, value = "business_id", b.BusinessID
	}
	u, sub, err := models.MessageRecipient(c.Request().Context(), h.DB, appID, field, value, templateID, idem)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return nil, nil, "", apiErr(http.StatusUnprocessableEntity, "user_not_found", field)
	case errors.Is(err, models.ErrAmbiguous):
		return nil, nil, "", apiErr(http.StatusUnprocessableEntity, "business_id_ambiguous", field)
	}
	return u, sub, field, err
}

func problemError(c echo.Context, p models.MessageProblem) error {
	e := apiErr(http.StatusUnprocessableEntity, p.Code, p.Field)
	switch p.Code {
	case "invalid_value":
		e.Message = p.Value.Message(apiLang(c))
	case "missing_attribute":
		e.Args = []any{p.Attr}
	}
	return e
}

// replay answers a request whose Idempotency-Key was used before: the same
// message when the request is the same, 409 when it differs.
func (h *API) replay(c echo.Context, d *models.Delivery, b *apiMessageBody, data map[string]string) error {
	ctx := c.Request().Context()
	_, app := CurrentAPIKey(c)
	tpl, err := models.GetTemplate(ctx, h.DB, d.TemplateID)
	if err != nil {
		return err
	}
	u, err := models.GetUser(ctx, h.DB, d.UserID)
	if err != nil {
		return err
	}
	same := tpl.TemplateID == b.TemplateID && d.Page == b.Page && d.MPState == b.MiniprogramState && d.Lang == b.Lang &&
		((b.OpenID != "" && d.OpenID == b.OpenID) || (b.OpenID == "" && u.BusinessID == b.BusinessID))
	if same {
		// The engine stores the values it sent, {{attributes}} filled in.
		old, _ := d.DataMap()
		same = reflect.DeepEqual(old, data) || (len(old) == 0 && len(data) == 0) || reflect.DeepEqual(old, renderAll(data, u.Attrs()))
	}
	if !same {
		return apiErr(http.StatusConflict, "idempotency_key_reused", "Idempotency-Key")
	}
	c.Response().Header().Set("Idempotent-Replayed", "true")
	return c.JSON(http.StatusOK, messageJSON(d, app, tpl.TemplateID, apiLang(c), u.Attrs()))
}

// GetMessage answers one message of the key's account.
func (h *API) GetMessage(c echo.Context) error {
	_, app := CurrentAPIKey(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return apiErr(http.StatusNotFound, "message_not_found", "id")
	}
	ctx := c.Request().Context()
	d, err := models.GetDelivery(ctx, h.DB, id)
	if errors.Is(err, models.ErrNotFound) || (err == nil && d.AppID != app.ID) {
		return apiErr(http.StatusNotFound, "message_not_found", "id")
	} else if err != nil {
		return err
	}
	tpl, err := models.GetTemplate(ctx, h.DB, d.TemplateID)
	if err != nil {
		return err
	}
	var attrs map[string]any
	if d.Status == models.DeliveryQueued {
		u, err := models.GetUser(ctx, h.DB, d.UserID)
		if err != nil {
			return err
		}
		attrs = u.Attrs()
	}
	return c.JSON(http.StatusOK, messageJSON(d, app, tpl.TemplateID, apiLang(c), attrs))
}

// renderAll fills each value's {{attributes}} from attrs; a value naming an
// attribute the user lacks stays as written (its send will be skipped with
// missing_attribute, and an empty value would hide why).
func renderAll(data map[string]string, attrs map[string]any) map[string]string {
	out := make(map[string]string, len(data))
	for k, v := range data {
		r, missing := models.RenderValue(v, attrs)
		if missing != "" {
			r = v
		}
		out[k] = r
	}
	return out
}
