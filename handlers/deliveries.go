package handlers

import (
	"bufio"
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
	"github.com/minipush/minipush/wechat"
)

const deliveriesPageSize = 50

// Deliveries is the delivery ledger for support: filtered list, CSV
// export, one delivery's page, settling an unknown outcome (operators).
type Deliveries struct{ Env }

func (h *Deliveries) page(c echo.Context, title string) views.Page {
	crumbs := []views.Crumb{{Label: T(c, "nav.group.people")}, {Label: T(c, "nav.deliveries"), Href: "/deliveries"}}
	if title != "" {
		crumbs = append(crumbs, views.Crumb{Label: title})
	}
	return views.Page{Title: T(c, "nav.deliveries"), Nav: "deliveries", Crumbs: crumbs}
}

var deliveryStatuses = []string{models.DeliveryQueued, models.DeliverySending, models.DeliverySent, models.DeliveryDelivered,
	models.DeliveryFailed, models.DeliverySkipped, models.DeliveryUnknown}

// filter reads the list's filters from the query; bad values are dropped
// and reported per field.
func (h *Deliveries) filter(c echo.Context) (models.DeliveryFilter, views.DeliveryFilters) {
	q := c.QueryParams()
	v := views.DeliveryFilters{App: q.Get("app"), Template: q.Get("template"), Source: q.Get("source"), Status: q.Get("status"),
		ErrCode: trim(q.Get("errcode")), From: q.Get("from"), To: q.Get("to"), Run: q.Get("run"), Key: q.Get("key"), Errors: map[string]string{}}
	var f models.DeliveryFilter
	f.AppID, _ = strconv.ParseInt(v.App, 10, 64)
	f.TemplateID, _ = strconv.ParseInt(v.Template, 10, 64)
	f.RunID, _ = strconv.ParseInt(v.Run, 10, 64)
	f.APIKeyID, _ = strconv.ParseInt(v.Key, 10, 64)
	switch v.Source {
	case models.DeliverySourceCampaign, models.DeliverySourceAPI, models.DeliverySourceTest:
		f.Source = v.Source
	default:
		v.Source = ""
	}
	for _, s := range deliveryStatuses {
		if v.Status == s {
			f.Status = s
		}
	}
	if v.ErrCode != "" {
		n, err := strconv.Atoi(v.ErrCode)
		if err != nil {
			v.Errors["errcode"] = T(c, "deliveries.errcode_invalid")
		} else {
			f.ErrCode = &n
		}
	}
	parse := func(field, s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		t, err := time.ParseInLocation("2006-01-02T15:04", s, h.Location)
		if err != nil {
			// A date alone (a hand-written or exported link) means the
			// whole day: "to" is its end, so from=D&to=D is that day.
			t, err = time.ParseInLocation("2006-01-02", s, h.Location)
			if err == nil && field == "to" {
				t = t.AddDate(0, 0, 1)
			}
		}
		if err != nil {
			v.Errors[field] = T(c, "deliveries.time_invalid")
		}
		return t
	}
	f.From, f.To = parse("from", v.From), parse("to", v.To)
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		v.Errors["to"] = T(c, "common.to_before_from")
	}
	f.Before, _ = strconv.ParseInt(q.Get("before"), 10, 64)
	return f, v
}

// List shows deliveries, filtered, newest first, by keyset pages.
func (h *Deliveries) List(c echo.Context) error {
	ctx := c.Request().Context()
	f, v := h.filter(c)
	apps, err := appOptions(ctx, h.DB)
	if err != nil {
		return err
	}
	tpls, err := models.ListTemplates(ctx, h.DB, models.TemplateFilter{AppID: f.AppID})
	if err != nil {
		return err
	}
	d := views.DeliveriesData{Apps: apps, F: v}
	for _, t := range tpls {
		d.Templates = append(d.Templates, components.Option{Value: strconv.FormatInt(t.ID, 10), Label: t.Title + " (" + t.TemplateID + ")"})
	}
	f.Limit = deliveriesPageSize + 1
	rows, err := models.ListDeliveries(ctx, h.DB, f)
	if err != nil {
		return err
	}
	qs := c.QueryParams()
	qs.Del("before")
	d.ExportURL = "/deliveries/export.csv?" + qs.Encode()
	if len(rows) > deliveriesPageSize {
		rows = rows[:deliveriesPageSize]
		qs.Set("before", strconv.FormatInt(rows[len(rows)-1].ID, 10))
		d.Next = "/deliveries?" + qs.Encode()
	}
	l := newLookups(ctx, h.DB)
	for i := range rows {
		d.Rows = append(d.Rows, l.message(c, &rows[i]))
	}
	d.Filtered = len(c.QueryParams()) > 0
	return Render(c, http.StatusOK, h.page(c, ""), views.DeliveriesList(d))
}

func (h *Deliveries) load(c echo.Context) (*models.Delivery, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusNotFound)
	}
	d, err := models.GetDelivery(c.Request().Context(), h.DB, id)
	return d, NotFound(err)
}

// Show is one delivery's page: the message, the sent event that settled
// it, the credits it spent or gave back, and settling an unknown outcome.
func (h *Deliveries) Show(c echo.Context) error {
	d, err := h.load(c)
	if err != nil {
		return err
	}
	page, err := h.detail(c, d, views.SettleForm{})
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, h.page(c, "#"+strconv.FormatInt(d.ID, 10)), views.DeliveryShow(page))
}

func (h *Deliveries) detail(c echo.Context, d *models.Delivery, form views.SettleForm) (views.DeliveryDetail, error) {
	ctx := c.Request().Context()
	l := newLookups(ctx, h.DB)
	out := views.DeliveryDetail{Message: l.message(c, d), Settle: form}
	ledger, err := models.GetDeliveryLedger(ctx, h.DB, d)
	if err != nil {
		return out, err
	}
	calls, err := models.ListDeliveryCalls(ctx, h.DB, d.ID)
	if err != nil {
		return out, err
	}
	for _, k := range calls {
		cv := views.CallView{Attempt: k.Attempt, At: k.AnsweredAt, ErrCode: k.ErrCode, Reason: k.Reason, Next: k.NextAttemptAt}
		if k.ErrCode != 0 { // WeChat's errmsg (with its rid); a Go error's text is not shown
			cv.Explanation, cv.ErrMsg = wechat.Explain(k.ErrCode, Lang(c)), k.ErrMsg
		}
		out.Calls = append(out.Calls, cv)
	}
	for _, e := range ledger.SentEvents {
		se := views.SentEventView{MsgID: strconv.FormatInt(e.MsgID, 10), ErrorCode: e.ErrorCode, ErrorStatus: e.ErrorStatus, At: e.EventTime, Received: e.CreatedAt}
		if e.ErrorCode != 0 {
			se.Explanation = wechat.Explain(e.ErrorCode, Lang(c))
		}
		out.SentEvents = append(out.SentEvents, se)
	}
	for i := range ledger.Credits {
		out.Credits = append(out.Credits, l.event(&ledger.Credits[i]))
	}
	return out, nil
}

type settleInput struct {
	Outcome string `form:"outcome"`
	Reason  string `form:"reason"`
}

// Settle records staff's verdict on an unknown outcome (operators and
// admins): delivered, or failed with the credit given back; audited.
func (h *Deliveries) Settle(c echo.Context) error {
	d, err := h.load(c)
	if err != nil {
		return err
	}
	var in settleInput
	if err := c.Bind(&in); err != nil {
		return badForm(c, err)
	}
	in.Reason = trim(in.Reason)
	errs := Errors{}
	if in.Outcome != models.DeliveryDelivered && in.Outcome != models.DeliveryFailed {
		errs.Add("outcome", T(c, "form.choose"))
	}
	switch {
	case in.Reason == "":
		errs.Add("reason", T(c, "deliveries.settle_reason_required"))
	case utf8.RuneCountInString(in.Reason) > 180:
		errs.Add("reason", T(c, "form.too_long", 180))
	}
	ctx := c.Request().Context()
	if !errs.Any() {
		_, err = models.SettleUnknown(ctx, h.DB, d.ID, in.Outcome == models.DeliveryDelivered, CurrentStaff(c).ID, h.Now())
		switch {
		case errors.Is(err, models.ErrNotUnknown):
			errs.Add("outcome", T(c, "deliveries.settle_not_unknown"))
		case err != nil:
			return err
		}
	}
	if errs.Any() {
		if d, err = models.GetDelivery(ctx, h.DB, d.ID); err != nil {
			return err
		}
		page, err := h.detail(c, d, views.SettleForm{Outcome: in.Outcome, Reason: in.Reason, Errors: errs})
		if err != nil {
			return err
		}
		return Render(c, http.StatusUnprocessableEntity, h.page(c, "#"+strconv.FormatInt(d.ID, 10)), views.DeliveryShow(page))
	}
	if err := models.Audit(ctx, h.DB, Actor(c), "delivery.settle", "delivery", strconv.FormatInt(d.ID, 10), map[string]any{
		"outcome": in.Outcome, "reason": in.Reason, "app_id": d.AppID, "openid": d.OpenID}); err != nil {
		return err
	}
	SetFlash(c, "success", T(c, "deliveries.settled", d.ID, T(c, "delivery.status."+in.Outcome)))
	return Redirect(c, "/deliveries/"+strconv.FormatInt(d.ID, 10))
}

// Export streams the filtered deliveries as CSV: UTF-8 with a byte order
// mark so Excel shows Chinese text, written page by page (memory does not
// grow with the number of rows).
func (h *Deliveries) Export(c echo.Context) error {
	ctx := c.Request().Context()
	f, _ := h.filter(c)
	f.Before = 0
	lang := Lang(c)
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	name := "deliveries-" + h.Now().In(h.Location).Format("20060102-150405") + ".csv"
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	res.Header().Set("Cache-Control", "no-store")
	res.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(res, 64<<10)
	bw.WriteString("\uFEFF")
	w := csv.NewWriter(bw)
	tr := func(k string) string { return components.Translate(lang, k) }
	_ = w.Write([]string{"id", tr("deliveries.col.account"), tr("deliveries.col.template_id"), tr("deliveries.col.template"), "openid",
		tr("users.business_id"), tr("common.status"), tr("deliveries.col.reason"), "errcode", tr("deliveries.col.explanation"), "msgid",
		tr("delivery.source"), tr("deliveries.col.source_detail"), "idempotency_key", tr("deliveries.col.attempts"), "data",
		tr("deliveries.col.queued_at"), tr("deliveries.col.called_at"), tr("deliveries.col.sent_at"), tr("deliveries.col.settled_at")})
	l := newLookups(ctx, h.DB)
	tm := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.In(h.Location).Format("2006-01-02 15:04:05")
	}
	n := 0
	err := models.EachDelivery(ctx, h.DB, f, func(d *models.Delivery) error {
		t := l.template(d.TemplateID)
		src, detail, idem := d.Source(), "", ""
		switch src {
		case models.DeliverySourceCampaign:
			detail = strconv.FormatInt(*d.RunID, 10)
		case models.DeliverySourceAPI:
			detail = l.key(*d.APIKeyID).Name
		}
		if d.IdempotencyKey != nil {
			idem = *d.IdempotencyKey
		}
		msgid, expl := "", ""
		if d.MsgID != nil {
			msgid = strconv.FormatInt(*d.MsgID, 10)
		}
		if d.ErrCode != 0 {
			expl = wechat.Explain(d.ErrCode, lang)
		}
		q := d.QueuedAt
		// Status, reason and source in the reader's words, as on the page.
		_, _, reason := DescribeDelivery(d, lang)
		row := []string{strconv.FormatInt(d.ID, 10), l.app(d.AppID).AppID, t.TemplateID, t.Title, d.OpenID,
			l.user(d.UserID).BusinessID, tr("delivery.status." + d.Status), reason, strconv.Itoa(d.ErrCode), expl, msgid,
			tr("delivery.source." + src), detail, idem,
			strconv.Itoa(d.Attempts), d.Data, tm(&q), tm(d.CalledAt), tm(d.SentAt), tm(d.SettledAt)}
		for i := range row {
			row[i] = csvSafe(row[i])
		}
		if err := w.Write(row); err != nil {
			return err
		}
		if n++; n%1000 == 0 {
			l.users = map[int64]*models.User{} // keep the cache small
			w.Flush()
			return w.Error()
		}
		return nil
	})
	w.Flush()
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		// The status is sent already: log it; the file ends early.
		h.Log.Error("deliveries export stopped", "err", err, "rows", n)
	}
	return nil
}

// csvSafe keeps a cell from being read as a formula by spreadsheets
// (negative numbers such as errcode -1 stay numbers).
func csvSafe(s string) string {
	if _, err := strconv.Atoi(s); err == nil {
		return s
	}
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
