package sandbox

import (
	"errors"
	"fmt"
	"strings"

	"github.com/minipush/minipush/wechat"
)

// AddApp registers a mini program, or updates its configuration (users,
// templates, credits and tokens are kept).
func (s *Server) AddApp(cfg AppConfig) error {
	if cfg.AppID == "" || cfg.Secret == "" {
		return errors.New("sandbox: appid and secret are required")
	}
	if cfg.OriginalID == "" {
		id := strings.ToLower(strings.TrimPrefix(cfg.AppID, "wx"))
		for len(id) < 12 {
			id += "0"
		}
		cfg.OriginalID = "gh_" + id[:12]
	}
	switch cfg.Format {
	case "":
		cfg.Format = string(wechat.FormatJSON)
	case string(wechat.FormatJSON), string(wechat.FormatXML):
	default:
		return fmt.Errorf("sandbox: format %q: want json or xml", cfg.Format)
	}
	if cfg.Safe && cfg.EncodingAESKey == "" {
		return errors.New("sandbox: safe mode needs encoding_aes_key")
	}
	if cfg.Compatible && cfg.EncodingAESKey == "" {
		return errors.New("sandbox: compatible mode needs encoding_aes_key")
	}
	var pc *pushConfig
	if cfg.PushURL != "" {
		push, err := wechat.NewPush(cfg.PushToken, cfg.EncodingAESKey, cfg.AppID)
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		pc = &pushConfig{url: cfg.PushURL, push: push, safe: cfg.Safe, compat: cfg.Compatible, format: wechat.Format(cfg.Format)}
	} else if cfg.EncodingAESKey != "" {
		if _, err := wechat.NewCrypter(cfg.EncodingAESKey, cfg.AppID); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	s.appsMu.Lock()
	defer s.appsMu.Unlock()
	a := s.apps[cfg.AppID]
	if a == nil {
		a = &app{}
		s.apps[cfg.AppID] = a
	}
	c := cfg
	a.cfg.Store(&c)
	a.push.Store(pc)
	s.log.Info("sandbox: app registered", "appid", cfg.AppID, "push_url", cfg.PushURL, "safe", cfg.Safe, "compatible", cfg.Compatible, "format", cfg.Format)
	return nil
}

// App returns the app's configuration.
func (s *Server) App(appid string) (AppConfig, bool) {
	a := s.app(appid)
	if a == nil {
		return AppConfig{}, false
	}
	return *a.cfg.Load(), true
}

// AddUser makes openid a user of the app (sends to unknown openids get
// 40003). Adding an existing user does nothing.
func (s *Server) AddUser(appid string, openids ...string) error {
	a, err := s.mustApp(appid)
	if err != nil {
		return err
	}
	for _, o := range openids {
		if _, err := a.addUser(o); err != nil {
			return err
		}
	}
	return nil
}

// AddTemplate adds a private template with any content. An empty
// PriTmplID gets a random one; Type 0 means one-time. It returns the id.
func (s *Server) AddTemplate(appid string, t wechat.Template) (string, error) {
	a, err := s.mustApp(appid)
	if err != nil {
		return "", err
	}
	kws, err := t.Keywords()
	if err != nil {
		return "", err
	}
	if t.PriTmplID == "" {
		t.PriTmplID = randomString(43)
	}
	if t.Type == 0 {
		t.Type = wechat.TemplateOneTime
	}
	if t.Type != wechat.TemplateOneTime && t.Type != wechat.TemplateLongTerm {
		return "", fmt.Errorf("sandbox: template type %d: want 2 (one-time) or 3 (long-term)", t.Type)
	}
	for key := range t.Enums {
		found := false
		for _, kw := range kws {
			found = found || (kw.Key == key && kw.Type == wechat.TypeEnumString)
		}
		if !found {
			return "", fmt.Errorf("sandbox: enum values for %s, which is not an enum_string keyword of the content", key)
		}
	}
	a.putTemplate(&tmpl{Template: t, kws: kws})
	return t.PriTmplID, nil
}

// AddLibraryTemplate adds a private template from the public library, as
// addtemplate does (no checks of kid count or duplicates).
func (s *Server) AddLibraryTemplate(appid string, tid int64, kids ...int64) (string, error) {
	a, err := s.mustApp(appid)
	if err != nil {
		return "", err
	}
	lt := libraryTitle(tid)
	if lt == nil {
		return "", fmt.Errorf("sandbox: no library title %d", tid)
	}
	var kws []LibraryKeyword
	for _, kid := range kids {
		found := false
		for _, k := range lt.Keywords {
			if k.KID == kid {
				kws, found = append(kws, k), true
			}
		}
		if !found {
			return "", fmt.Errorf("sandbox: title %d has no keyword %d", tid, kid)
		}
	}
	t := templateFromLibrary(lt, kws)
	t.kids = kids
	a.putTemplate(t)
	return t.PriTmplID, nil
}

// Template returns a private template of the app.
func (s *Server) Template(appid, tplID string) (wechat.Template, bool) {
	a := s.app(appid)
	if a == nil {
		return wechat.Template{}, false
	}
	t := a.template(tplID)
	if t == nil {
		return wechat.Template{}, false
	}
	return t.Template, true
}

// BanTemplate makes sends of the template fail with 43107 (or lifts it).
func (s *Server) BanTemplate(appid, tplID string, banned bool) error {
	a, err := s.mustApp(appid)
	if err != nil {
		return err
	}
	t := a.template(tplID)
	if t == nil {
		return fmt.Errorf("sandbox: app %s has no template %q", appid, tplID)
	}
	t.banned.Store(banned)
	return nil
}

func (s *Server) userTemplate(appid, openid, tplID string) (*app, userRef, *tmpl, error) {
	a, err := s.mustApp(appid)
	if err != nil {
		return nil, userRef{}, nil, err
	}
	t := a.template(tplID)
	if t == nil {
		return nil, userRef{}, nil, fmt.Errorf("sandbox: app %s has no template %q", appid, tplID)
	}
	u, err := a.addUser(openid)
	if err != nil {
		return nil, userRef{}, nil, err
	}
	return a, u, t, nil
}
