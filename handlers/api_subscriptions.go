package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"sort"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
)

type apiSubscriptionReport struct {
	OpenID string                     `json:"openid"`
	Result map[string]json.RawMessage `json:"result"`
}

type apiSubscriptionEffect struct {
	TemplateID string `json:"template_id"`
	Status     string `json:"status"`
	// Effect: credited (one more credit), turned_on (long-term), paired
	// (WeChat's push of this tap counted it already), rejected, banned,
	// ignored (filter), duplicate (this Idempotency-Key was applied before).
	Effect   string `json:"effect"`
	Credits  int    `json:"credits"`
	LongTerm bool   `json:"long_term"`
}

// ReportSubscription records the result object of wx.requestSubscribeMessage
// for one user, as the mini program's backend received it: each accept
// grants a credit unless WeChat's popup push of the same tap did already
// (see models.PairWindow); rejects and bans are recorded like WeChat's.
// An optional Idempotency-Key makes a retried report change nothing.
func (h *API) ReportSubscription(c echo.Context) error {
	_, app := CurrentAPIKey(c)
	var b apiSubscriptionReport
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if !openIDPattern.MatchString(b.OpenID) {
		return apiErr(http.StatusUnprocessableEntity, "invalid_openid", "openid")
	}
	delete(b.Result, "errMsg") // wx.requestSubscribeMessage's own status line
	if len(b.Result) == 0 {
		return apiErr(http.StatusUnprocessableEntity, "required", "result")
	}
	ctx := c.Request().Context()
	ids := make([]string, 0, len(b.Result))
	result := make(map[string]string, len(b.Result))
	for id, raw := range b.Result {
		var st string
		var te *json.UnmarshalTypeError
		if err := json.Unmarshal(raw, &st); errors.As(err, &te) {
			return wrongType("result."+id, te.Value, "string")
		} else if err != nil {
			return jsonError(err)
		}
		ids = append(ids, id)
		result[id] = st
	}
	sort.Strings(ids)
	tpls := make(map[string]*models.Template, len(ids))
	for _, id := range ids {
		if _, ok := reportKinds[result[id]]; !ok {
			return apiErr(http.StatusUnprocessableEntity, "invalid_status", "result."+id)
		}
		t, err := models.GetTemplateByWxID(ctx, h.DB, app.ID, id)
		if errors.Is(err, models.ErrNotFound) {
			return apiErr(http.StatusUnprocessableEntity, "unknown_template", "result."+id)
		} else if err != nil {
			return err
		}
		tpls[id] = t
	}
	idem := c.Request().Header.Get("Idempotency-Key")
	if len(idem) > maxIdempotencyKey {
		return apiErr(http.StatusBadRequest, "idempotency_key_invalid", "Idempotency-Key", maxIdempotencyKey)
	}
	dedupKey := func(id string) string {
		if idem == "" {
			return ""
		}
		sum := sha256.Sum256([]byte(app.AppID + "\x00" + idem + "\x00" + id))
		return "client:" + hex.EncodeToString(sum[:20])
	}
	if err := h.reportReplays(c, app.ID, b.OpenID, result, dedupKey); err != nil {
		return err
	}
	u, err := models.EnsureUser(ctx, h.DB, app.ID, b.OpenID)
	if err != nil {
		return err
	}
	out := make([]apiSubscriptionEffect, 0, len(ids))
	for _, id := range ids {
		t, status := tpls[id], result[id]
		ch := models.CreditChange{AppID: app.ID, UserID: u.ID, TemplateID: t.ID, WxTemplateID: t.TemplateID,
			LongTerm: t.LongTerm(), Source: models.SourceClient, Now: h.Now(), DedupKey: dedupKey(id)}
		eff := apiSubscriptionEffect{TemplateID: id, Status: status}
		switch kind := reportKinds[status]; kind {
		case models.SubEventAccept:
			res, err := models.GrantAccept(ctx, h.DB, ch)
			if err != nil {
				return err
			}
			switch {
			case !res.Applied:
				eff.Effect = "duplicate"
			case res.Paired:
				eff.Effect = "paired"
			case t.LongTerm():
				eff.Effect = "turned_on"
			default:
				eff.Effect = "credited"
			}
		case models.SubEventReject, models.SubEventBan:
			effect := "rejected"
			if kind == models.SubEventBan {
				effect = "banned"
			}
			applied, err := models.RecordReject(ctx, h.DB, ch, kind)
			if err != nil {
				return err
			}
			eff.Effect = effect
			if !applied {
				eff.Effect = "duplicate"
			}
		default:
			eff.Effect = "ignored"
		}
		if s, err := models.GetSubscription(ctx, h.DB, u.ID, t.ID); err == nil {
			eff.Credits, eff.LongTerm = s.Credits, s.LongTerm
		}
		out = append(out, eff)
	}
	return c.JSON(http.StatusOK, map[string]any{"openid": u.OpenID, "results": out})
}

// reportKinds lists the statuses a client may report, each with the event
// it records ("filter": none, WeChat filtered the request; it is ignored).
var reportKinds = map[string]string{"accept": models.SubEventAccept, "acceptWithAudio": models.SubEventAccept,
	"acceptWithAlert": models.SubEventAccept, "reject": models.SubEventReject, "ban": models.SubEventBan, "filter": ""}

// reportReplays refuses a report whose Idempotency-Key was used before for
// another request (another user, or another status for a template): it
// would be answered "duplicate" while what it says was never recorded.
func (h *API) reportReplays(c echo.Context, appID int64, openid string, result map[string]string, dedupKey func(string) string) error {
	if dedupKey("") == "" {
		return nil
	}
	ctx := c.Request().Context()
	var userID int64 = -1
	if u, err := models.GetUserByOpenID(ctx, h.DB, appID, openid); err == nil {
		userID = u.ID
	} else if !errors.Is(err, models.ErrNotFound) {
		return err
	}
	for id, status := range result {
		ev, err := models.SubscriptionEventByDedupKey(ctx, h.DB, dedupKey(id))
		if errors.Is(err, models.ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		if ev.UserID != userID || ev.Kind != reportKinds[status] {
			return apiErr(http.StatusConflict, "idempotency_key_reused", "Idempotency-Key")
		}
	}
	return nil
}
