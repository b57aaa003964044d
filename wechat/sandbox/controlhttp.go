package sandbox

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/minipush/minipush/wechat"
)

// faultsJSON is Faults on the wire, with the latency in milliseconds.
type faultsJSON struct {
	ErrorRate             float64 `json:"error_rate"`
	LatencyMS             int64   `json:"latency_ms"`
	TimeoutAfterCountRate float64 `json:"timeout_after_count_rate"`
	CutBeforeCountRate    float64 `json:"cut_before_count_rate"`
	DailyQuota            int64   `json:"daily_quota"`
	SentEventFailRate     float64 `json:"sent_event_fail_rate"`
	PushRepeatRate        float64 `json:"push_repeat_rate"`
	PushRepeats           int     `json:"push_repeats"`
	PushJitterMS          int64   `json:"push_jitter_ms"`
}

func toFaultsJSON(f Faults) faultsJSON {
	return faultsJSON{ErrorRate: f.ErrorRate, LatencyMS: f.Latency.Milliseconds(), TimeoutAfterCountRate: f.TimeoutAfterCountRate,
		DailyQuota: f.DailyQuota, SentEventFailRate: f.SentEventFailRate, PushRepeatRate: f.PushRepeatRate, PushRepeats: f.PushRepeats,
		PushJitterMS: f.PushJitter.Milliseconds(), CutBeforeCountRate: f.CutBeforeCountRate}
}

func (fj faultsJSON) faults() Faults {
	return Faults{ErrorRate: fj.ErrorRate, Latency: time.Duration(fj.LatencyMS) * time.Millisecond, TimeoutAfterCountRate: fj.TimeoutAfterCountRate,
		DailyQuota: fj.DailyQuota, SentEventFailRate: fj.SentEventFailRate, PushRepeatRate: fj.PushRepeatRate, PushRepeats: fj.PushRepeats,
		PushJitter: time.Duration(fj.PushJitterMS) * time.Millisecond, CutBeforeCountRate: fj.CutBeforeCountRate}
}

type templateJSON struct {
	PriTmplID string              `json:"priTmplId"`
	Title     string              `json:"title"`
	Content   string              `json:"content"`
	Example   string              `json:"example"`
	Type      int                 `json:"type"`
	Enums     map[string][]string `json:"enums,omitempty"`
	// From the public library instead of content: tid and kidList.
	TID     int64   `json:"tid,omitempty"`
	KidList []int64 `json:"kidList,omitempty"`
}

// controlMux is the JSON control API (README.md).
func (s *Server) controlMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("POST /sandbox/apps", func(w http.ResponseWriter, r *http.Request) {
		var cfg AppConfig
		if !decode(w, r, &cfg) {
			return
		}
		if err := s.AddApp(cfg); err != nil {
			fail(w, err)
			return
		}
		c, _ := s.App(cfg.AppID)
		reply(w, c)
	})
	m.HandleFunc("GET /sandbox/apps/{appid}", func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.App(r.PathValue("appid"))
		if !ok {
			fail(w, errNoApp)
			return
		}
		reply(w, c)
	})
	m.HandleFunc("POST /sandbox/apps/{appid}/users", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			OpenID  string   `json:"openid"`
			OpenIDs []string `json:"openids"`
		}
		if !decode(w, r, &req) {
			return
		}
		ids := req.OpenIDs
		if req.OpenID != "" {
			ids = append(ids, req.OpenID)
		}
		if len(ids) == 0 {
			fail(w, errors.New("sandbox: give openid or openids"))
			return
		}
		if err := s.AddUser(r.PathValue("appid"), ids...); err != nil {
			fail(w, err)
			return
		}
		reply(w, map[string]any{"added": len(ids)})
	})
	m.HandleFunc("GET /sandbox/apps/{appid}/users/{openid}", func(w http.ResponseWriter, r *http.Request) {
		subs, ok := s.Subscriptions(r.PathValue("appid"), r.PathValue("openid"))
		if !ok {
			failStatus(w, http.StatusNotFound, errors.New("sandbox: unknown app or user"))
			return
		}
		reply(w, map[string]any{"openid": r.PathValue("openid"), "subscriptions": subs})
	})
	m.HandleFunc("POST /sandbox/apps/{appid}/templates", func(w http.ResponseWriter, r *http.Request) {
		var t templateJSON
		if !decode(w, r, &t) {
			return
		}
		var id string
		var err error
		if t.TID != 0 {
			id, err = s.AddLibraryTemplate(r.PathValue("appid"), t.TID, t.KidList...)
		} else {
			id, err = s.AddTemplate(r.PathValue("appid"), wechat.Template{PriTmplID: t.PriTmplID, Title: t.Title, Content: t.Content, Example: t.Example, Type: t.Type, Enums: t.Enums})
		}
		if err != nil {
			fail(w, err)
			return
		}
		tp, _ := s.Template(r.PathValue("appid"), id)
		reply(w, templateJSON{PriTmplID: tp.PriTmplID, Title: tp.Title, Content: tp.Content, Example: tp.Example, Type: tp.Type, Enums: tp.Enums})
	})
	m.HandleFunc("POST /sandbox/apps/{appid}/templates/{tpl}/ban", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Banned *bool `json:"banned"`
		}
		if !decode(w, r, &req) {
			return
		}
		banned := req.Banned == nil || *req.Banned
		if err := s.BanTemplate(r.PathValue("appid"), r.PathValue("tpl"), banned); err != nil {
			fail(w, err)
			return
		}
		reply(w, map[string]any{"banned": banned})
	})
	m.HandleFunc("POST /sandbox/apps/{appid}/grant", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			OpenID     string   `json:"openid"`
			OpenIDs    []string `json:"openids"`
			TemplateID string   `json:"template_id"`
			Credits    int      `json:"credits"`
		}
		if !decode(w, r, &req) {
			return
		}
		appid := r.PathValue("appid")
		if len(req.OpenIDs) > 0 {
			// Many users at once (benchmarks seed a million this way).
			for _, o := range req.OpenIDs {
				if err := s.Grant(appid, o, req.TemplateID, req.Credits); err != nil {
					fail(w, err)
					return
				}
			}
			reply(w, map[string]any{"granted": len(req.OpenIDs)})
			return
		}
		if err := s.Grant(appid, req.OpenID, req.TemplateID, req.Credits); err != nil {
			fail(w, err)
			return
		}
		c, lt := s.Credits(appid, req.OpenID, req.TemplateID)
		reply(w, map[string]any{"credits": c, "long_term": lt})
	})
	m.HandleFunc("POST /sandbox/apps/{appid}/popup", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			OpenID  string            `json:"openid"`
			Results map[string]string `json:"results"`
		}
		if !decode(w, r, &req) {
			return
		}
		out, err := s.Popup(r.PathValue("appid"), req.OpenID, req.Results)
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, out)
	})
	m.HandleFunc("POST /sandbox/apps/{appid}/settings-reject", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			OpenID     string `json:"openid"`
			TemplateID string `json:"template_id"`
		}
		if !decode(w, r, &req) {
			return
		}
		if err := s.SettingsReject(r.PathValue("appid"), req.OpenID, req.TemplateID); err != nil {
			fail(w, err)
			return
		}
		reply(w, map[string]any{"ok": true})
	})
	m.HandleFunc("GET /sandbox/apps/{appid}/faults", func(w http.ResponseWriter, r *http.Request) {
		f, err := s.GetFaults(r.PathValue("appid"))
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, toFaultsJSON(f))
	})
	m.HandleFunc("PUT /sandbox/apps/{appid}/faults", func(w http.ResponseWriter, r *http.Request) {
		var fj faultsJSON
		if !decode(w, r, &fj) {
			return
		}
		f := fj.faults()
		if err := s.SetFaults(r.PathValue("appid"), f); err != nil {
			fail(w, err)
			return
		}
		reply(w, toFaultsJSON(f))
	})
	m.HandleFunc("POST /sandbox/apps/{appid}/expire-tokens", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ExpireTokens(r.PathValue("appid")); err != nil {
			fail(w, err)
			return
		}
		reply(w, map[string]any{"ok": true})
	})
	m.HandleFunc("POST /sandbox/apps/{appid}/revoke-tokens", func(w http.ResponseWriter, r *http.Request) {
		if err := s.RevokeTokens(r.PathValue("appid")); err != nil {
			fail(w, err)
			return
		}
		reply(w, map[string]any{"ok": true})
	})
	m.HandleFunc("GET /sandbox/apps/{appid}/counts", func(w http.ResponseWriter, r *http.Request) {
		appid := r.PathValue("appid")
		if s.app(appid) == nil {
			fail(w, errNoApp)
			return
		}
		q := r.URL.Query()
		var counts []CountEntry
		total := int64(0)
		for _, c := range s.Counts(appid) {
			if (q.Get("openid") == "" || q.Get("openid") == c.OpenID) && (q.Get("template_id") == "" || q.Get("template_id") == c.TemplateID) {
				counts = append(counts, c)
				total += c.Accepted
			}
		}
		if counts == nil {
			counts = []CountEntry{}
		}
		reply(w, map[string]any{"total": total, "counts": counts})
	})
	m.HandleFunc("GET /sandbox/apps/{appid}/accepted", func(w http.ResponseWriter, r *http.Request) {
		appid := r.PathValue("appid")
		if s.app(appid) == nil {
			fail(w, errNoApp)
			return
		}
		pairs, accepted := s.AcceptedSummary(appid)
		reply(w, AcceptedTotals{Pairs: pairs, Accepted: accepted})
	})
	m.HandleFunc("GET /sandbox/stats", func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.Stats())
	})
	m.HandleFunc("GET /sandbox/library", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"categories": Categories, "titles": Library})
	})
	return m
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil && len(body) == 0 {
		body = []byte("{}")
	}
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		failStatus(w, http.StatusBadRequest, err)
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		failStatus(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, b)
}

func fail(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	if errors.Is(err, errNoApp) {
		status = http.StatusNotFound
	}
	failStatus(w, status, err)
}

func failStatus(w http.ResponseWriter, status int, err error) {
	b, _ := json.Marshal(map[string]string{"error": err.Error()})
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
