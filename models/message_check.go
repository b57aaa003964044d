package models

import (
	"context"
	"errors"
	"sort"
	"strings"

	"gorm.io/gorm"

	"github.com/minipush/minipush/wechat"
)

// MessageProblem is one reason a transactional message is refused before
// anything is queued: a stable code and the request field it concerns.
type MessageProblem struct {
	Code  string // unknown_keyword, missing_attribute, invalid_value, no_credit
	Field string // "data.thing1", "openid"
	Value *wechat.ValueError
	Attr  string // missing_attribute: the attribute named in {{…}}
}

// CheckMessageFor checks a message for a user before it is queued: every
// data key is a keyword of the template, every {{attribute}} exists on the
// user, every value (after personalisation) keeps its keyword's rule, and
// the user can receive the template now (a credit left, or a long-term
// subscription: sub, as MessageRecipient reads it; nil: none). userField
// names the field that chose the user.
func CheckMessageFor(tpl *Template, u *User, sub *Subscription, data map[string]string, userField string) ([]MessageProblem, error) {
	kws, err := tpl.KeywordList()
	if err != nil {
		return nil, err
	}
	var probs []MessageProblem
	known := map[string]bool{}
	for _, k := range kws {
		known[k.Key] = true
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !known[k] {
			probs = append(probs, MessageProblem{Code: "unknown_keyword", Field: "data." + k})
		}
	}
	attrs := u.Attrs()
	for _, k := range kws {
		v, ok := data[k.Key]
		wk := wechat.Keyword{Label: k.Label, Key: k.Key, Type: k.Type, Enum: k.Enum}
		if ok {
			var missing string
			v, missing = RenderValue(v, attrs)
			if missing != "" {
				probs = append(probs, MessageProblem{Code: "missing_attribute", Field: "data." + k.Key, Attr: missing})
				continue
			}
		}
		var err error
		if !ok {
			err = wechat.CheckData([]wechat.Keyword{wk}, map[string]string{})
		} else {
			err = wechat.CheckValue(wk, v)
		}
		var ve *wechat.ValueError
		var ves wechat.ValueErrors
		switch {
		case errors.As(err, &ve):
			probs = append(probs, MessageProblem{Code: "invalid_value", Field: "data." + k.Key, Value: ve})
		case errors.As(err, &ves) && len(ves) > 0:
			probs = append(probs, MessageProblem{Code: "invalid_value", Field: "data." + k.Key, Value: ves[0]})
		case err != nil:
			return nil, err
		}
	}
	if len(probs) > 0 {
		return probs, nil
	}
	if sub == nil || !sub.CanReceive(tpl.LongTerm()) {
		return []MessageProblem{{Code: "no_credit", Field: userField}}, nil
	}
	return nil, nil
}

// MessageRecipient finds an app's user by openid (field "openid") or by
// business id (any other field; two users with it is ErrAmbiguous) with
// the user's subscription to the template (nil: none), in one query: the
// API reads both for every message. The subscription's Credits are those
// not yet promised: a credit is spent when its message is claimed, so the
// messages the API or a test send queued for the user and template that
// have not spent one yet are taken off (else a second message for the last
// credit was accepted while the first waited in the queue, and then
// skipped). Campaign messages are not counted: they may wait for days; nor
// is the message of idempotencyKey itself (a retry racing its first try
// must reach the insert and be answered as its replay). Two requests for
// the last credit at the same instant may both pass: the engine then skips
// one for lack of credit, spending nothing twice.
func MessageRecipient(ctx context.Context, db *gorm.DB, appID int64, field, value string, templateID int64, idempotencyKey string) (*User, *Subscription, error) {
	col := "business_id"
	if field == "openid" {
		col = "openid"
	}
	var rows []struct {
		User
		SubID       *int64 `gorm:"column:sub_id"`
		SubCredits  int    `gorm:"column:sub_credits"`
		SubLongTerm bool   `gorm:"column:sub_long_term"`
		SubStatus   string `gorm:"column:sub_status"`
		SubPromised int    `gorm:"column:sub_promised"`
	}
	err := db.WithContext(ctx).Raw(`SELECT u.*, s.id AS sub_id, COALESCE(s.credits, 0) AS sub_credits,
		COALESCE(s.long_term, 0) AS sub_long_term, COALESCE(s.status, '') AS sub_status,
		(SELECT COUNT(*) FROM deliveries d WHERE d.user_id = u.id AND d.template_id = ? AND d.run_id IS NULL
			AND d.status = ? AND d.credit_spent = ? AND COALESCE(d.idempotency_key, '') <> ?) AS sub_promised
		FROM users u LEFT JOIN subscriptions s ON s.user_id = u.id AND s.template_id = ?
		WHERE u.app_id = ? AND u.`+col+` = ? LIMIT 2`, templateID, DeliveryQueued, false, idempotencyKey, templateID, appID, value).Scan(&rows).Error
	switch {
	case err != nil:
		return nil, nil, err
	case len(rows) == 0:
		return nil, nil, ErrNotFound
	case len(rows) > 1:
		return nil, nil, ErrAmbiguous
	}
	r := rows[0]
	u := r.User
	if r.SubID == nil {
		return &u, nil, nil
	}
	return &u, &Subscription{ID: *r.SubID, UserID: u.ID, TemplateID: templateID, Credits: max(r.SubCredits-r.SubPromised, 0),
		LongTerm: r.SubLongTerm, Status: r.SubStatus}, nil
}

// RenderValue replaces {{name}} in v with the attribute name; it returns
// the first attribute missing ("" when all were found). The engine, the
// API's up-front check and campaigns all render through it.
func RenderValue(v string, attrs map[string]any) (string, string) {
	var sb strings.Builder
	rest := v
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			sb.WriteString(rest)
			break
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			sb.WriteString(rest)
			break
		}
		name := strings.TrimSpace(rest[i+2 : i+j])
		val, ok := attrs[name]
		if !ok || val == nil {
			return "", name
		}
		sb.WriteString(rest[:i])
		sb.WriteString(AttrString(val))
		rest = rest[i+j+2:]
	}
	return sb.String(), ""
}

// SendSettings is the miniprogram_state and lang a delivery is sent with:
// the message's own when it gave them (POST /api/v1/messages), else the
// account's.
func SendSettings(d *Delivery, a *App) (mpState, lang string) {
	mpState, lang = string(a.MPState), a.Lang
	if d.MPState != "" {
		mpState = d.MPState
	}
	if d.Lang != "" {
		lang = d.Lang
	}
	return mpState, lang
}
