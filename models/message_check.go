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

// CheckMessage checks a message for a user before it is queued: every
// data key is a keyword of the template, every {{attribute}} exists on the
// user, every value (after personalisation) keeps its keyword's rule, and
// the user can receive the template now (a credit left, or a long-term
// subscription). userField names the field that chose the user.
func CheckMessage(ctx context.Context, db *gorm.DB, tpl *Template, u *User, data map[string]string, userField string) ([]MessageProblem, error) {
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
	s, err := GetSubscription(ctx, db, u.ID, tpl.ID)
	if errors.Is(err, ErrNotFound) || (err == nil && !s.CanReceive(tpl.LongTerm())) {
		return []MessageProblem{{Code: "no_credit", Field: userField}}, nil
	}
	return nil, err
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
