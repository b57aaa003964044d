package handlers

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
)

// Audit is the admin's view of the audit log.
type Audit struct{ Env }

const auditPageSize = 50

// List shows the audit log, newest first, filtered and keyset-paginated.
func (h *Audit) List(c echo.Context) error {
	ctx := c.Request().Context()
	lang := Lang(c)
	f := models.AuditFilter{Action: c.QueryParam("action"), ObjectType: c.QueryParam("type"), ObjectID: c.QueryParam("object"), Limit: auditPageSize + 1}
	f.StaffID, _ = strconv.ParseInt(c.QueryParam("staff"), 10, 64)
	f.Before, _ = strconv.ParseInt(c.QueryParam("before"), 10, 64)
	d := views.AuditData{StaffID: c.QueryParam("staff"), Action: f.Action, ObjectType: f.ObjectType, Object: f.ObjectID,
		From: c.QueryParam("from"), To: c.QueryParam("to"), Zone: h.loc().String()}
	var ok bool
	if f.From, ok = h.day(d.From, 0); !ok {
		d.Errors = append(d.Errors, T(c, "ux.audit.bad_date", d.From))
	}
	if f.To, ok = h.day(d.To, 1); !ok {
		d.Errors = append(d.Errors, T(c, "ux.audit.bad_date", d.To))
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		d.Errors = append(d.Errors, T(c, "common.to_before_from"))
	}
	rows, err := models.ListAudit(ctx, h.DB, f)
	if err != nil {
		return err
	}
	staff, err := models.ListStaff(ctx, h.DB)
	if err != nil {
		return err
	}
	for _, s := range staff {
		d.Staff = append(d.Staff, components.Option{Value: strconv.FormatInt(s.ID, 10), Label: s.Email})
	}
	d.Actions, d.Types = auditActionGroups(lang), auditTypeOptions(lang)
	if len(rows) > auditPageSize {
		rows = rows[:auditPageSize]
		q := c.QueryParams()
		q.Set("before", strconv.FormatInt(rows[len(rows)-1].ID, 10))
		d.NextHref = "/settings/audit?" + url.Values(q).Encode()
	}
	now := h.Now().In(h.loc())
	for _, r := range rows {
		at := r.CreatedAt.In(h.loc())
		d.Rows = append(d.Rows, views.AuditRow{ID: r.ID, At: compactTime(at, now), AtFull: at.Format("2006-01-02 15:04:05"),
			Who: r.StaffEmail, Action: AuditActionLabel(lang, r.Action), ObjectType: auditTypeLabel(lang, r.ObjectType),
			Object: r.ObjectID, Detail: auditDetail(lang, r.Detail, h.loc()), IP: r.IP})
	}
	page := views.Page{Title: T(c, "nav.audit"), Nav: "audit", Crumbs: []views.Crumb{{Label: T(c, "nav.group.settings")}, {Label: T(c, "nav.audit")}}}
	return Render(c, http.StatusOK, page, views.AuditLog(d))
}

func (h *Audit) loc() *time.Location {
	if h.Location != nil {
		return h.Location
	}
	return time.UTC
}

// day reads a YYYY-MM-DD date as midnight in the console's zone, plus
// addDays; "" is no bound. ok is false for a date that does not parse.
func (h *Audit) day(s string, addDays int) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.ParseInLocation("2006-01-02", s, h.loc())
	if err != nil {
		return time.Time{}, false
	}
	return t.AddDate(0, 0, addDays), true
}

// compactTime shows a time briefly: the clock today, month-day and clock
// this year, the full date otherwise (the zone is named once on the page).
func compactTime(t, now time.Time) string {
	switch {
	case t.Year() == now.Year() && t.YearDay() == now.YearDay():
		return t.Format("15:04:05")
	case t.Year() == now.Year():
		return t.Format("01-02 15:04")
	}
	return t.Format("2006-01-02 15:04")
}

// AuditActionLabel words an audit action code ("job.run_now" → "立即运行任务");
// an action the catalogue does not know shows its code.
func AuditActionLabel(lang, code string) string {
	if key := "audit.action." + code; components.HasKey(key) {
		return components.Translate(lang, key)
	}
	return code
}

func auditTypeLabel(lang, typ string) string {
	if key := "audit.object." + typ; components.HasKey(key) {
		return components.Translate(lang, key)
	}
	return typ
}

// auditActionGroups lists every worded action for the filter, grouped by
// the object they act on; each group can also be chosen whole ("staff.").
func auditActionGroups(lang string) []views.OptionGroup {
	codes := components.Keys("audit.action.")
	sort.Strings(codes)
	var groups []views.OptionGroup
	for _, key := range codes {
		code := strings.TrimPrefix(key, "audit.action.")
		prefix, _, _ := strings.Cut(code, ".")
		if len(groups) == 0 || groups[len(groups)-1].Key != prefix {
			label := components.Translate(lang, "ux.audit.group."+prefix)
			if !components.HasKey("ux.audit.group." + prefix) {
				label = prefix
			}
			groups = append(groups, views.OptionGroup{Key: prefix, Label: label,
				Options: []components.Option{{Value: prefix + ".", Label: components.Translate(lang, "ux.audit.all_of", label)}}})
		}
		g := &groups[len(groups)-1]
		g.Options = append(g.Options, components.Option{Value: code, Label: components.Translate(lang, key)})
	}
	return groups
}

func auditTypeOptions(lang string) []components.Option {
	keys := components.Keys("audit.object.")
	sort.Strings(keys)
	out := make([]components.Option, len(keys))
	for i, k := range keys {
		out[i] = components.Option{Value: strings.TrimPrefix(k, "audit.object."), Label: components.Translate(lang, k)}
	}
	return out
}

// auditValueWords are the catalogue prefixes of the values of detail keys
// that hold a code ("cron", "bad_credentials"): a value with a catalogue
// entry under one of them is shown in words; names and free text as they are.
var auditValueWords = map[string][]string{
	"role": {"role."}, "from": {"role."}, "to": {"role."},
	"audience": {"cmp.aud."}, "schedule": {"cmp.sched."}, "outcome": {"delivery.status."}, "status": {"cmp.status."},
	"by":     {"cmp.list_by.", "ux.audit.val.by."},
	"reason": {"ux.audit.val.reason."}, "source": {"ux.audit.val.source."},
}

// auditDetail turns a row's stored JSON into key/value text in lang, with
// times in loc.
func auditDetail(lang, raw string, loc *time.Location) []views.KeyValue {
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		if raw == "" || raw == "{}" {
			return nil
		}
		return []views.KeyValue{{Label: components.Translate(lang, "audit.detail"), Value: raw}}
	}
	var out []views.KeyValue
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := detailValue(lang, m[k])
		if str, ok := m[k].(string); ok {
			v = detailString(lang, k, str, loc)
		}
		if cols, ok := m[k].([]any); ok && k == "changed" { // the fields an edit changed, by their labels
			names := make([]string, len(cols))
			for i, col := range cols {
				names[i] = detailLabel(lang, fmt.Sprint(col))
			}
			v = strings.Join(names, ", ")
		}
		if v != "" {
			out = append(out, views.KeyValue{Key: k, Label: detailLabel(lang, k), Value: v})
		}
	}
	return out
}

// detailString is a string value of key k: a code in words, a stored time
// in loc, else as stored.
func detailString(lang, k, s string, loc *time.Location) string {
	for _, prefix := range auditValueWords[k] {
		if components.HasKey(prefix + s) {
			return components.Translate(lang, prefix+s)
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.In(loc).Format("2006-01-02 15:04:05")
	}
	return s
}

func detailLabel(lang, k string) string {
	if key := "ux.audit.key." + k; components.HasKey(key) {
		return components.Translate(lang, key)
	}
	return k
}

func detailValue(lang string, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return components.Translate(lang, "ux.audit.yes")
		}
		return components.Translate(lang, "ux.audit.no")
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, detailValue(lang, e))
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(x)) {
			parts = append(parts, detailLabel(lang, k)+" "+detailValue(lang, x[k]))
		}
		return strings.Join(parts, "; ")
	}
	return fmt.Sprint(v)
}
