package sandbox

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/minipush/minipush/wechat"
)

// Grant gives the user n credits of a one-time template, or turns a
// long-term subscription on (n > 0) or off (n <= 0), without a popup or a
// push. The user is added if unknown.
func (s *Server) Grant(appid, openid, tplID string, n int) error {
	_, u, t, err := s.userTemplate(appid, openid, tplID)
	if err != nil {
		return err
	}
	u.sh.mu.Lock()
	defer u.sh.mu.Unlock()
	sb := u.sh.subLocked(u.i, t.sid, true)
	if t.Type == wechat.TemplateLongTerm {
		sb.longTerm = n > 0
	} else {
		sb.credits = int32(min(max(int64(sb.credits)+int64(n), 0), math.MaxInt32))
	}
	if n > 0 {
		sb.accepts++
	}
	return nil
}

// Popup statuses wx.requestSubscribeMessage can answer.
const (
	PopupAccept          = "accept"
	PopupReject          = "reject"
	PopupBan             = "ban"
	PopupFilter          = "filter"
	PopupAcceptWithAudio = "acceptWithAudio"
	PopupAcceptWithAlert = "acceptWithAlert"
)

func isAccept(status string) bool {
	return status == PopupAccept || status == PopupAcceptWithAudio || status == PopupAcceptWithAlert
}

// Popup simulates the user answering wx.requestSubscribeMessage for up to 3
// templates of one kind (one-time or long-term). An accept adds one credit
// of a one-time template or turns a long-term one on; a reject adds nothing
// and turns a long-term one off (one-time credits already held are kept).
// ban and filter change nothing; of several templates with the same title
// only the first (by id) counts, the others answer "filter". A
// subscribe_msg_popup_event with the
// accepts and rejects is pushed. It returns what the mini program would
// receive: {"errMsg":"requestSubscribeMessage:ok","<id>":"accept",...}.
// The user is added if unknown.
func (s *Server) Popup(appid, openid string, results map[string]string) (map[string]string, error) {
	a, err := s.mustApp(appid)
	if err != nil {
		return nil, err
	}
	if len(results) == 0 || len(results) > 3 {
		return nil, fmt.Errorf("sandbox: a popup shows 1 to 3 templates, got %d", len(results))
	}
	if openid == "" {
		return nil, errors.New("sandbox: empty openid")
	}
	ids := make([]string, 0, len(results))
	kind := 0
	for id, status := range results {
		t := a.template(id)
		if t == nil {
			return nil, fmt.Errorf("sandbox: app %s has no template %q", appid, id)
		}
		if kind != 0 && t.Type != kind {
			return nil, errors.New("sandbox: one-time and long-term templates cannot be mixed in one popup")
		}
		kind = t.Type
		switch status {
		case PopupAccept, PopupReject, PopupBan, PopupFilter, PopupAcceptWithAudio, PopupAcceptWithAlert:
		default:
			return nil, fmt.Errorf("sandbox: popup status %q: want accept, reject, ban, filter, acceptWithAudio or acceptWithAlert", status)
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	// Same-title templates in one call: WeChat shows one, the others come
	// back "filter".
	out := map[string]string{"errMsg": "requestSubscribeMessage:ok"}
	titles := map[string]bool{}
	for _, id := range ids {
		status := results[id]
		if title := a.template(id).Title; title != "" {
			if titles[title] {
				status = PopupFilter
			}
			titles[title] = true
		}
		out[id] = status
	}
	u, err := a.addUser(openid)
	if err != nil {
		return nil, err
	}
	var items []wechat.EventItem
	sids := make([]uint32, len(ids))
	for i, id := range ids {
		sids[i] = a.internTpl(id)
	}
	u.sh.mu.Lock()
	for i, id := range ids {
		status := out[id]
		sb := u.sh.subLocked(u.i, sids[i], true)
		longTerm := a.template(id).Type == wechat.TemplateLongTerm
		switch {
		case isAccept(status):
			sb.accepts++
			if longTerm {
				sb.longTerm = true
			} else {
				sb.credits++
			}
			items = append(items, wechat.EventItem{TemplateID: id, SubscribeStatus: wechat.StatusAccept})
		case status == PopupReject:
			sb.rejects++
			if longTerm {
				sb.longTerm = false
			}
			items = append(items, wechat.EventItem{TemplateID: id, SubscribeStatus: wechat.StatusReject})
		}
	}
	u.sh.mu.Unlock()
	if len(items) > 0 {
		s.pushEvent(a, openid, wechat.EventPopup, items)
	}
	return out, nil
}

// SettingsReject simulates the user turning the template off from a
// notification card's menu: credits drop to 0, a long-term subscription is
// turned off, and a subscribe_msg_change_event (reject) is pushed.
func (s *Server) SettingsReject(appid, openid, tplID string) error {
	a, u, t, err := s.userTemplate(appid, openid, tplID)
	if err != nil {
		return err
	}
	u.sh.mu.Lock()
	sb := u.sh.subLocked(u.i, t.sid, true)
	sb.credits, sb.longTerm = 0, false
	sb.rejects++
	u.sh.mu.Unlock()
	s.pushEvent(a, openid, wechat.EventChange, []wechat.EventItem{{TemplateID: t.PriTmplID, SubscribeStatus: wechat.StatusReject}})
	return nil
}

func (s *Server) pushEvent(a *app, openid, event string, items []wechat.EventItem) {
	if pc := a.push.Load(); pc == nil || pc.url == "" {
		return
	}
	s.pusher.enqueue(a, &wechat.Event{
		ToUserName:   a.cfg.Load().OriginalID,
		FromUserName: openid,
		CreateTime:   s.now().Unix(),
		MsgType:      "event",
		Event:        event,
		List:         items,
	})
}
