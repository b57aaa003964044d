package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/minipush/minipush/wechat"
)

// Remote drives a sandbox in another process (`minipush sandbox`) through
// its control API: the calls a benchmark or a drill needs, with the same
// meaning as the methods of *Server.
type Remote struct {
	URL  string // the sandbox's base URL, e.g. http://127.0.0.1:9099
	HTTP *http.Client
}

// NewRemote returns a Remote for the sandbox at baseURL.
func NewRemote(baseURL string) *Remote {
	return &Remote{URL: baseURL, HTTP: &http.Client{Timeout: time.Minute}}
}

// AddApp registers an app, or updates its configuration.
func (r *Remote) AddApp(ctx context.Context, cfg AppConfig) error {
	return r.call(ctx, http.MethodPost, "/sandbox/apps", cfg, nil)
}

// AddTemplate adds a private template and returns its id.
func (r *Remote) AddTemplate(ctx context.Context, appid string, t wechat.Template) (string, error) {
	var out templateJSON
	err := r.call(ctx, http.MethodPost, "/sandbox/apps/"+url.PathEscape(appid)+"/templates",
		templateJSON{PriTmplID: t.PriTmplID, Title: t.Title, Content: t.Content, Example: t.Example, Type: t.Type, Enums: t.Enums}, &out)
	return out.PriTmplID, err
}

// Grant gives each of openids n credits of the template (see Server.Grant).
func (r *Remote) Grant(ctx context.Context, appid, tplID string, n int, openids ...string) error {
	body := map[string]any{"template_id": tplID, "credits": n, "openids": openids}
	return r.call(ctx, http.MethodPost, "/sandbox/apps/"+url.PathEscape(appid)+"/grant", body, nil)
}

// Stats reads the sandbox's counters.
func (r *Remote) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := r.call(ctx, http.MethodGet, "/sandbox/stats", nil, &st)
	return st, err
}

// AcceptedSummary is Server.AcceptedSummary.
func (r *Remote) AcceptedSummary(ctx context.Context, appid string) (pairs, accepted int64, err error) {
	var t AcceptedTotals
	err = r.call(ctx, http.MethodGet, "/sandbox/apps/"+url.PathEscape(appid)+"/accepted", nil, &t)
	return t.Pairs, t.Accepted, err
}

func (r *Remote) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := r.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("sandbox %s %s: HTTP %d: %s", method, path, res.StatusCode, e.Error)
		}
		return fmt.Errorf("sandbox %s %s: HTTP %d", method, path, res.StatusCode)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}
