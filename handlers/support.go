package handlers

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
	"github.com/minipush/minipush/wechat"
)

// supportLookups caches what support pages look up for many rows: apps,
// templates, API keys, staff, users.
type supportLookups struct {
	db        *gorm.DB
	ctx       context.Context
	apps      map[int64]*models.App
	templates map[int64]*models.Template
	keys      map[int64]*models.APIKey
	staff     map[int64]string
	users     map[int64]*models.User
	campaigns map[int64]*models.Campaign // by run id
	// testSenders: who made each console test send (prefetchTestSenders).
	testSenders map[int64]string
}

func newLookups(ctx context.Context, db *gorm.DB) *supportLookups {
	return &supportLookups{db: db, ctx: ctx, apps: map[int64]*models.App{}, templates: map[int64]*models.Template{},
		keys: map[int64]*models.APIKey{}, staff: map[int64]string{}, users: map[int64]*models.User{},
		campaigns: map[int64]*models.Campaign{}}
}

// campaignOfRun is the campaign a run belongs to (nil when either is gone).
func (l *supportLookups) campaignOfRun(runID int64) *models.Campaign {
	if cp, ok := l.campaigns[runID]; ok {
		return cp
	}
	var cp *models.Campaign
	if r, err := models.GetRun(l.ctx, l.db, runID); err == nil {
		cp, _ = models.GetCampaign(l.ctx, l.db, r.CampaignID)
	}
	l.campaigns[runID] = cp
	return cp
}

func (l *supportLookups) app(id int64) *models.App {
	if a, ok := l.apps[id]; ok {
		return a
	}
	a, err := models.GetApp(l.ctx, l.db, id)
	if err != nil {
		a = &models.App{ID: id, Name: "#" + strconv.FormatInt(id, 10)}
	}
	l.apps[id] = a
	return a
}

func (l *supportLookups) template(id int64) *models.Template {
	if t, ok := l.templates[id]; ok {
		return t
	}
	t, err := models.GetTemplate(l.ctx, l.db, id)
	if err != nil {
		t = &models.Template{ID: id, Title: "#" + strconv.FormatInt(id, 10)}
	}
	l.templates[id] = t
	return t
}

func (l *supportLookups) key(id int64) *models.APIKey {
	if k, ok := l.keys[id]; ok {
		return k
	}
	k, err := models.GetAPIKey(l.ctx, l.db, id)
	if err != nil {
		k = &models.APIKey{ID: id, Name: "#" + strconv.FormatInt(id, 10)}
	}
	l.keys[id] = k
	return k
}

func (l *supportLookups) staffEmail(id int64) string {
	if e, ok := l.staff[id]; ok {
		return e
	}
	e := "#" + strconv.FormatInt(id, 10)
	if s, err := models.GetStaff(l.ctx, l.db, id); err == nil {
		e = s.Email
	}
	l.staff[id] = e
	return e
}

func (l *supportLookups) user(id int64) *models.User {
	if u, ok := l.users[id]; ok {
		return u
	}
	u, err := models.GetUser(l.ctx, l.db, id)
	if err != nil {
		u = &models.User{ID: id}
	}
	l.users[id] = u
	return u
}

// message builds the view of one delivery: status, WeChat's code
// explained, the values sent with their labels, where it came from, times.
func (l *supportLookups) message(c echo.Context, d *models.Delivery) views.MessageView {
	lang := Lang(c)
	t := l.template(d.TemplateID)
	u := l.user(d.UserID)
	m := views.MessageView{ID: d.ID, AppName: l.app(d.AppID).Name, TemplateTitle: t.Title, WxTemplateID: t.TemplateID,
		UserID: d.UserID, OpenID: d.OpenID, BusinessID: u.BusinessID, Status: d.Status, Reason: d.Reason, Attempts: d.Attempts,
		ErrCode: d.ErrCode, ErrMsg: d.ErrMsg, Page: d.Page, QueuedAt: d.QueuedAt, CalledAt: d.CalledAt, SentAt: d.SentAt,
		SettledAt: d.SettledAt, Source: d.Source(), CreditSpent: d.CreditSpent}
	if d.MsgID != nil {
		m.MsgID = strconv.FormatInt(*d.MsgID, 10)
	}
	if d.ErrCode != 0 {
		m.Explanation = wechat.Explain(d.ErrCode, lang)
	}
	_, _, m.Summary = DescribeDelivery(d, lang)
	switch m.Source {
	case models.DeliverySourceCampaign:
		m.RunID = *d.RunID
		if cp := l.campaignOfRun(m.RunID); cp != nil {
			m.CampaignID, m.CampaignName = cp.ID, cp.Name
		}
	case models.DeliverySourceAPI:
		m.APIKeyName = l.key(*d.APIKeyID).Name
		if d.IdempotencyKey != nil {
			m.IdempotencyKey = *d.IdempotencyKey
		}
	default:
		if by, ok := l.testSenders[d.ID]; ok {
			m.TestSentBy = by
		} else {
			m.TestSentBy, _ = models.TestSendBy(l.ctx, l.db, t.TemplateID, d.ID)
		}
	}
	data, _ := d.DataMap()
	labels := map[string]string{}
	kws, _ := t.KeywordList()
	order := map[string]int{}
	for i, k := range kws {
		labels[k.Key], order[k.Key] = k.Label, i
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		oi, iok := order[keys[i]]
		oj, jok := order[keys[j]]
		if iok != jok {
			return iok
		}
		if oi != oj {
			return oi < oj
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		m.Values = append(m.Values, views.KeyValue{Key: k, Label: labels[k], Value: data[k]})
	}
	return m
}

// prefetchTestSenders looks up who made the console test sends among ds
// in one query per template, for a page that shows many messages.
func (l *supportLookups) prefetchTestSenders(ds []*models.Delivery) {
	byTpl := map[int64][]int64{}
	for _, d := range ds {
		if d.Source() == models.DeliverySourceTest {
			byTpl[d.TemplateID] = append(byTpl[d.TemplateID], d.ID)
		}
	}
	if l.testSenders == nil {
		l.testSenders = map[int64]string{}
	}
	for tplID, ids := range byTpl {
		found, err := models.TestSendersBy(l.ctx, l.db, l.template(tplID).TemplateID, ids)
		if err != nil {
			continue // message() asks one by one
		}
		for _, id := range ids {
			l.testSenders[id] = found[id] // "" when the log has none: known, not asked again
		}
	}
}

// event builds the view of one subscription event.
func (l *supportLookups) event(e *models.SubscriptionEvent) views.EventView {
	v := views.EventView{ID: e.ID, Kind: e.Kind, Delta: e.Delta, Source: e.Source, Note: e.Note, At: e.CreatedAt,
		DeliveryID: e.DeliveryID}
	// Of a pair, the later report granted nothing; the earlier one did.
	if e.MatchedID != nil {
		v.Paired, v.PairedLater = *e.MatchedID < e.ID, *e.MatchedID > e.ID
	}
	if e.TemplateID != nil {
		v.TemplateTitle = l.template(*e.TemplateID).Title
	} else {
		v.TemplateTitle = e.WxTemplateID
	}
	if e.StaffID != nil {
		v.Staff = l.staffEmail(*e.StaffID)
	}
	return v
}

func appOptions(ctx context.Context, db *gorm.DB) ([]components.Option, error) {
	apps, err := models.ListApps(ctx, db)
	if err != nil {
		return nil, err
	}
	opts := make([]components.Option, 0, len(apps))
	for _, a := range apps {
		opts = append(opts, components.Option{Value: strconv.FormatInt(a.ID, 10), Label: a.Name + " (" + a.AppID + ")"})
	}
	return opts, nil
}

// attrRows renders a user's attributes as sorted key/value lines.
func attrRows(u *models.User) []views.KeyValue {
	m := u.Attrs()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]views.KeyValue, 0, len(keys))
	for _, k := range keys {
		var s string
		if str, ok := m[k].(string); ok {
			s = str
		} else {
			b, _ := json.Marshal(m[k])
			s = string(b)
		}
		out = append(out, views.KeyValue{Key: k, Value: s})
	}
	return out
}
