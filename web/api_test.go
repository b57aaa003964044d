package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/models/dbtest"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/web"
)

// apiResp is an answer of the JSON API.
type apiResp struct {
	status int
	header http.Header
	body   string
}

func (r apiResp) json(t *testing.T) map[string]any {
	t.Helper()
	m := map[string]any{}
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("not JSON (%v): %s", err, r.body)
	}
	return m
}

// apiErrorOf returns the error's code and field, failing on another shape.
func (r apiResp) apiError(t *testing.T) (code, field string) {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object: %s", r.body)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Fatalf("error without a message: %s", r.body)
	}
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

func wantAPI(t *testing.T, r apiResp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

func wantAPIError(t *testing.T, r apiResp, status int, code, field string) {
	t.Helper()
	wantAPI(t, r, status)
	gc, gf := r.apiError(t)
	if gc != code || gf != field {
		t.Fatalf("error %s/%s, want %s/%s: %s", gc, gf, code, field, r.body)
	}
}

func callAPI(t *testing.T, app *testApp, method, path, key, body string, headers ...string) apiResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, app.srv.URL+"/api/v1"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return apiResp{status: res.StatusCode, header: res.Header, body: string(b)}
}

func mustAPIKey(t *testing.T, db *gorm.DB, appID int64) (string, *models.APIKey) {
	t.Helper()
	key, k, err := models.CreateAPIKey(context.Background(), db, appID, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return key, k
}

func TestAPIAuthErrorsAndLimits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		_, base := wxSandbox(t)
		a := createApp(t, app.signedIn(boss), db, base)
		key, k := mustAPIKey(t, db, a.ID)

		wantAPIError(t, callAPI(t, app, "GET", "/users/o_alice", "", ""), 401, "unauthorized", "")
		wantAPIError(t, callAPI(t, app, "GET", "/users/o_alice", "mpk_0000", ""), 401, "invalid_key", "")
		// A staff session is no API key either.
		c := app.signedIn(boss)
		if r := c.get("/api/v1/users/o_alice"); r.status != 401 {
			t.Fatalf("session on the API: %d", r.status)
		}
		wantAPIError(t, callAPI(t, app, "GET", "/users/o_alice", key, ""), 404, "user_not_found", "openid")
		wantAPIError(t, callAPI(t, app, "GET", "/no/such/thing", key, ""), 404, "not_found", "")
		// The scheme's name is case-insensitive; another scheme is no key.
		for authz, status := range map[string]int{"bearer " + key: 404, "BEARER  " + key: 404, "Basic " + key: 401, key: 401} {
			req, _ := http.NewRequest("GET", app.srv.URL+"/api/v1/users/o_alice", nil)
			req.Header.Set("Authorization", authz)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode != status {
				t.Fatalf("Authorization %.12q…: %d, want %d", authz, res.StatusCode, status)
			}
		}

		// Unknown fields, wrong types, bad JSON, trailing data, not JSON, too big.
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_alice", key, `{"unionid":"u1","nickname":"x"}`), 422, "unknown_field", "nickname")
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_alice", key, `{"tags":"vip"}`), 422, "wrong_type", "tags")
		// The message names JSON types, never our Go ones.
		for body, msg := range map[string]string{`{"tags":"vip"}`: "got string, want array", `[1]`: "got array, want object", " null": "got null, want object"} {
			r := callAPI(t, app, "PUT", "/users/o_alice", key, body)
			if !strings.Contains(r.body, msg) || strings.Contains(r.body, "handlers.") || strings.Contains(r.body, "[]string") {
				t.Fatalf("%s: %s", body, r.body)
			}
		}
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_nobody", key, `null`), 422, "wrong_type", "")
		// Control characters and text-direction marks in ids: refused, the field named.
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_nobody", key, `{"business_id":"\u202eabc"}`), 422, "hidden_chars", "business_id")
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_nobody", key, `{"unionid":"u\u0000x"}`), 422, "hidden_chars", "unionid")
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_nobody", key, `{"business_id":"a\u200bb"}`), 422, "hidden_chars", "business_id")
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_nobody", key, `{"business_id":"a\u061cb"}`), 422, "hidden_chars", "business_id")
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_nobody", key, `{"tags":["ok","v\u0007ip"]}`), 422, "invalid_tag", "tags[1]")
		for _, body := range []string{`nope`, `n`, `nul`, `nullx`} { // not JSON, not null
			wantAPIError(t, callAPI(t, app, "PUT", "/users/o_nobody", key, body), 400, "bad_json", "")
		}
		if r := callAPI(t, app, "PUT", "/users/o_alice", key, `{"tags":"vip"}`, "Accept-Language", "zh-CN"); !strings.Contains(r.body, "收到字符串，应为数组") {
			t.Fatalf("a wrong type in Chinese: %s", r.body)
		}
		// Escaped, the colon of users:batch names no route: 404, not a 405
		// that allows the method it refuses.
		if r := callAPI(t, app, "POST", "/users%3Abatch", key, `{"users":[]}`); r.status != 404 || r.header.Get("Allow") != "" {
			t.Fatalf("POST /users%%3Abatch: %d, Allow %q", r.status, r.header.Get("Allow"))
		}
		for _, m := range []string{"DELETE", "POST", "PATCH"} { // a known path, a method it does not take
			r := callAPI(t, app, m, "/users/o_nobody", key, `{}`)
			wantAPIError(t, r, 405, "method_not_allowed", "")
			if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "PUT") {
				t.Fatalf("%s /users/{openid}: Allow %q", m, allow)
			}
		}
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_nobody", key, ``, "Content-Type", "application/json"), 400, "bad_json", "")
		wantAPIError(t, callAPI(t, app, "GET", "/users/o_nobody", key, ""), 404, "user_not_found", "openid")
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_alice", key, `{"unionid":`), 400, "bad_json", "")
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_alice", key, `{} {}`), 400, "bad_json", "")
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_alice", key, `{"attributes":[1]}`), 422, "not_an_object", "attributes")
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_alice", key, `{}`, "Content-Type", "text/plain"), 415, "unsupported_media_type", "")
		big := `{"attributes":{"x":"` + strings.Repeat("a", 1100<<10) + `"}}`
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_alice", key, big), 413, "body_too_large", "")
		// Over the server-wide 2 MiB (answered before the API's own handler):
		// the same shape and words, in the client's language.
		huge := callAPI(t, app, "PUT", "/users/o_alice", key, `{"attributes":{"x":"`+strings.Repeat("a", 3<<20)+`"}}`, "Accept-Language", "zh-CN")
		wantAPIError(t, huge, 413, "body_too_large", "")
		if !strings.Contains(huge.body, "请求体太大") || strings.Contains(huge.body, `"status"`) {
			t.Fatalf("a 3 MiB body: %s", huge.body)
		}
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o%20bad", key, `{}`), 422, "invalid_openid", "openid")
		// Chinese on request.
		r := callAPI(t, app, "GET", "/users/o_alice", key, "", "Accept-Language", "zh-CN")
		if e := r.json(t)["error"].(map[string]any); !strings.Contains(e["message"].(string), "用户") {
			t.Fatalf("zh message: %s", r.body)
		}

		// Every call is counted and shown as last used.
		got, err := models.GetAPIKey(ctx, db, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.LastUsedAt == nil || got.Calls < 10 {
			t.Fatalf("calls %d, last used %v", got.Calls, got.LastUsedAt)
		}
		// A revoked key stops working at once.
		if _, err := models.RevokeAPIKey(ctx, db, k.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		wantAPIError(t, callAPI(t, app, "GET", "/users/o_alice", key, ""), 401, "invalid_key", "")
		// The description is public.
		wantAPI(t, callAPI(t, app, "GET", "/openapi.json", "", ""), 200)
	})
}

func TestAPIUsersUpsertBatchAndRead(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app := newTestApp(t, db)
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		_, base := wxSandbox(t)
		a := createApp(t, app.signedIn(boss), db, base)
		key, _ := mustAPIKey(t, db, a.ID)

		r := callAPI(t, app, "PUT", "/users/o_alice", key, `{"unionid":"u_alice","business_id":"cust-1","attributes":{"name":"张三","level":3},"tags":["vip","vip","北京"]}`)
		wantAPI(t, r, 201)
		// Fields left out are kept.
		r = callAPI(t, app, "PUT", "/users/o_alice", key, `{"business_id":"cust-01"}`)
		wantAPI(t, r, 200)
		u := r.json(t)
		if u["unionid"] != "u_alice" || u["business_id"] != "cust-01" || u["attributes"].(map[string]any)["name"] != "张三" {
			t.Fatalf("after a partial update: %s", r.body)
		}
		if tags := u["tags"].([]any); len(tags) != 2 {
			t.Fatalf("tags %v", tags)
		}
		// Surrounding spaces are dropped, as the CSV import does.
		r = callAPI(t, app, "PUT", "/users/o_alice", key, `{"business_id":" cust-01 ","unionid":"u_alice\t","tags":[" vip","北京 "]}`)
		wantAPI(t, r, 200)
		if u := r.json(t); u["business_id"] != "cust-01" || u["unionid"] != "u_alice" || fmt.Sprint(u["tags"]) != "[vip 北京]" {
			t.Fatalf("spaces kept: %s", r.body)
		}
		wantAPIError(t, callAPI(t, app, "PUT", "/users/o_alice", key, `{"tags":["  "]}`), 422, "invalid_tag", "tags[0]")

		// A batch with one bad user writes nothing and names it.
		r = callAPI(t, app, "POST", "/users:batch", key, `{"users":[{"openid":"o_b1"},{"openid":"bad id"},{"openid":"o_b3"}]}`)
		wantAPIError(t, r, 422, "invalid_openid", "users[1].openid")
		if _, err := models.GetUserByOpenID(ctx, db, a.ID, "o_b1"); err != models.ErrNotFound {
			t.Fatalf("a refused batch wrote o_b1: %v", err)
		}
		wantAPIError(t, callAPI(t, app, "POST", "/users:batch", key, `{"users":[{"openid":"o_b1"},{"openid":"o_b1"}]}`), 422, "duplicate_openid", "users[1].openid")
		var sb strings.Builder
		sb.WriteString(`{"users":[`)
		for i := 0; i < 1001; i++ {
			if i > 0 {
				sb.WriteString(",")
			}
			sb.WriteString(`{"openid":"o_` + id(int64(i)) + `"}`)
		}
		sb.WriteString(`]}`)
		wantAPIError(t, callAPI(t, app, "POST", "/users:batch", key, sb.String()), 422, "too_many", "users")

		r = callAPI(t, app, "POST", "/users:batch", key, `{"users":[{"openid":"o_alice","tags":["gold"]},{"openid":"o_b1","business_id":"cust-2","tags":["vip"]}]}`)
		wantAPI(t, r, 200)
		if m := r.json(t); m["created"] != float64(1) || m["updated"] != float64(1) {
			t.Fatalf("batch counts: %s", r.body)
		}
		// Tags are indexed: alice left vip for gold.
		var vip []string
		db.Raw("SELECT u.openid FROM user_tags t JOIN users u ON u.id = t.user_id WHERE t.app_id = ? AND t.tag = ? ORDER BY u.openid", a.ID, "vip").Scan(&vip)
		if strings.Join(vip, ",") != "o_b1" {
			t.Fatalf("vip tag index: %v", vip)
		}
		r = callAPI(t, app, "GET", "/users/o_b1", key, "")
		wantAPI(t, r, 200)
		if r.json(t)["business_id"] != "cust-2" {
			t.Fatalf("GET user: %s", r.body)
		}
		r = callAPI(t, app, "GET", "/users/o_b1/subscriptions", key, "")
		wantAPI(t, r, 200)
		r = callAPI(t, app, "GET", "/users/o_b1/messages?limit=0", key, "")
		wantAPIError(t, r, 400, "bad_limit", "limit")
		wantAPIError(t, callAPI(t, app, "GET", "/users/o_b1/messages?cursor=x", key, ""), 400, "bad_cursor", "cursor")

		// Messages by cursor: 5 messages, pages of 2, newest first, none twice.
		b1, _ := models.GetUserByOpenID(ctx, db, a.ID, "o_b1")
		tpl := &models.Template{AppID: a.ID, TemplateID: "TPL_X", Title: "x", Content: "x:{{thing1.DATA}}", Kind: models.TemplateOneTime}
		tpl.SetKeywords([]models.TemplateKeyword{{Key: "thing1", Type: "thing"}})
		if err := models.CreateTemplate(ctx, db, tpl); err != nil {
			t.Fatal(err)
		}
		var want []float64
		for i := 0; i < 5; i++ {
			d, _, err := models.EnqueueDelivery(ctx, db, models.NewDelivery{AppID: a.ID, UserID: b1.ID, TemplateID: tpl.ID, OpenID: "o_b1"})
			if err != nil {
				t.Fatal(err)
			}
			want = append([]float64{float64(d.ID)}, want...)
		}
		var got []float64
		cursor := ""
		for pages := 0; pages < 5; pages++ {
			r := callAPI(t, app, "GET", "/users/o_b1/messages?limit=2&cursor="+cursor, key, "")
			wantAPI(t, r, 200)
			m := r.json(t)
			for _, x := range m["messages"].([]any) {
				got = append(got, x.(map[string]any)["id"].(float64))
			}
			cursor, _ = m["next_cursor"].(string)
			if cursor == "" {
				break
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("messages by cursor %v, want %v", got, want)
		}
	})
}

func TestAPIClientReportAndPushCountOneTapOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db)
		sb, a, tpl := pushApp(t, app, db, true, "json")
		key, _ := mustAPIKey(t, db, a.ID)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		popup := func(openid string) {
			t.Helper()
			if _, err := sb.Popup(testAppID, openid, map[string]string{tpl: "accept"}); err != nil {
				t.Fatal(err)
			}
			if err := sb.WaitPushes(ctx); err != nil {
				t.Fatal(err)
			}
		}
		reportAs := func(openid, status string) string {
			t.Helper()
			r := callAPI(t, app, "POST", "/subscriptions", key, `{"openid":"`+openid+`","result":{"`+tpl+`":"`+status+`","errMsg":"requestSubscribeMessage:ok"}}`)
			wantAPI(t, r, 200)
			return r.json(t)["results"].([]any)[0].(map[string]any)["effect"].(string)
		}
		report := func(openid string) string { t.Helper(); return reportAs(openid, "accept") }
		if err := sb.AddUser(testAppID, "o_bob", "o_carol"); err != nil {
			t.Fatal(err)
		}

		// WeChat's push first, then the client's report of the same tap.
		popup("o_alice")
		if eff := report("o_alice"); eff != "paired" {
			t.Fatalf("push then report: effect %q", eff)
		}
		if got := credits(t, db, a.ID, "o_alice", tpl); got != 1 {
			t.Fatalf("push then report: %d credits, want 1", got)
		}
		// The client's report first, then WeChat's push.
		if eff := report("o_bob"); eff != "credited" {
			t.Fatalf("report then push: effect %q", eff)
		}
		popup("o_bob")
		if got := credits(t, db, a.ID, "o_bob", tpl); got != 1 {
			t.Fatalf("report then push: %d credits, want 1", got)
		}
		// Two taps, each reported by both: two credits.
		popup("o_carol")
		report("o_carol")
		time.Sleep(1100 * time.Millisecond) // WeChat's push dedup key holds the second
		report("o_carol")
		popup("o_carol")
		if got := credits(t, db, a.ID, "o_carol", tpl); got != 2 {
			t.Fatalf("two taps: %d credits, want 2", got)
		}
		// A retried report with its Idempotency-Key changes nothing.
		body := `{"openid":"o_dave","result":{"` + tpl + `":"accept"}}`
		wantAPI(t, callAPI(t, app, "POST", "/subscriptions", key, body, "Idempotency-Key", "tap-1"), 200)
		r := callAPI(t, app, "POST", "/subscriptions", key, body, "Idempotency-Key", "tap-1")
		if eff := r.json(t)["results"].([]any)[0].(map[string]any)["effect"]; eff != "duplicate" {
			t.Fatalf("retried report: %s", r.body)
		}
		if got := credits(t, db, a.ID, "o_dave", tpl); got != 1 {
			t.Fatalf("retried report: %d credits", got)
		}
		// The same key for another request (another status, another user)
		// is a conflict, not a duplicate of something never recorded.
		wantAPIError(t, callAPI(t, app, "POST", "/subscriptions", key, strings.Replace(body, `"accept"`, `"reject"`, 1), "Idempotency-Key", "tap-1"),
			409, "idempotency_key_reused", "Idempotency-Key")
		wantAPIError(t, callAPI(t, app, "POST", "/subscriptions", key, strings.Replace(body, "o_dave", "o_erin", 1), "Idempotency-Key", "tap-1"),
			409, "idempotency_key_reused", "Idempotency-Key")
		if got := credits(t, db, a.ID, "o_dave", tpl); got != 1 {
			t.Fatalf("after conflicting reports: %d credits", got)
		}
		if _, err := models.GetUserByOpenID(context.Background(), db, a.ID, "o_erin"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("a refused report made its user: %v", err)
		}
		// Paired events point at each other.
		var bad int64
		db.Raw(`SELECT COUNT(*) FROM subscription_events e JOIN subscription_events f ON f.id = e.matched_id
			WHERE f.matched_id <> e.id OR e.source = f.source`).Scan(&bad)
		var paired int64
		db.Raw(`SELECT COUNT(*) FROM subscription_events WHERE matched_id IS NOT NULL`).Scan(&paired)
		if bad != 0 || paired != 8 {
			t.Fatalf("pairs: %d bad, %d paired events (want 8: 4 taps × 2 reports)", bad, paired)
		}
		// WeChat's filter changes nothing; a ban takes the credits away.
		if eff := reportAs("o_dave", "filter"); eff != "ignored" {
			t.Fatalf("filter: effect %q", eff)
		}
		if got := credits(t, db, a.ID, "o_dave", tpl); got != 1 {
			t.Fatalf("after filter: %d credits", got)
		}
		if eff := reportAs("o_dave", "ban"); eff != "banned" {
			t.Fatalf("ban: effect %q", eff)
		}
		if got := credits(t, db, a.ID, "o_dave", tpl); got != 0 {
			t.Fatalf("after ban: %d credits", got)
		}
		wantAPIError(t, callAPI(t, app, "POST", "/subscriptions", key, `{"openid":"o_x","result":{"NOPE":"accept"}}`), 422, "unknown_template", "result.NOPE")
		wantAPIError(t, callAPI(t, app, "POST", "/subscriptions", key, `{"openid":"o_x","result":{"`+tpl+`":"maybe"}}`), 422, "invalid_status", "result."+tpl)
		r = callAPI(t, app, "POST", "/subscriptions", key, `{"openid":"o_x","result":{"`+tpl+`":{"a":1}}}`)
		wantAPIError(t, r, 422, "wrong_type", "result."+tpl)
		if !strings.Contains(r.body, "got object, want string") {
			t.Fatalf("wrong type in result: %s", r.body)
		}
	})
}

func TestAPISendMessageOnceUnderConcurrentRetries(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		app := newTestApp(t, db, withEngine(t))
		sb, a, tpl := pushApp(t, app, db, true, "json")
		key, k := mustAPIKey(t, db, a.ID)
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := sb.Popup(testAppID, "o_alice", map[string]string{tpl: "accept"}); err != nil {
			t.Fatal(err)
		}
		if err := sb.WaitPushes(wctx); err != nil {
			t.Fatal(err)
		}
		// WeChat holds one credit more than minipush, so a second send would be counted.
		if err := sb.Grant(testAppID, "o_alice", tpl, 1); err != nil {
			t.Fatal(err)
		}
		wantAPI(t, callAPI(t, app, "PUT", "/users/o_alice", key, `{"business_id":"cust-1","attributes":{"shop":"北京店"}}`), 200)

		// Refused up front, nothing queued.
		send := func(idem, body string) apiResp {
			return callAPI(t, app, "POST", "/messages", key, body, "Idempotency-Key", idem)
		}
		wantAPIError(t, callAPI(t, app, "POST", "/messages", key, `{"template_id":"`+tpl+`","openid":"o_alice","data":{"thing1":"x"}}`), 400, "idempotency_key_required", "Idempotency-Key")
		wantAPIError(t, send("k0", `{"template_id":"NOPE","openid":"o_alice","data":{"thing1":"x"}}`), 422, "unknown_template", "template_id")
		wantAPIError(t, send("k0", `{"template_id":"`+tpl+`","openid":"o_nobody","data":{"thing1":"x"}}`), 422, "user_not_found", "openid")
		wantAPIError(t, send("k0", `{"template_id":"`+tpl+`","openid":"o_alice","data":{"thing1":"`+strings.Repeat("长", 21)+`"}}`), 422, "invalid_value", "data.thing1")
		wantAPIError(t, send("k0", `{"template_id":"`+tpl+`","openid":"o_alice","data":{"thing1":"x","thing9":"y"}}`), 422, "unknown_keyword", "data.thing9")
		wantAPIError(t, send("k0", `{"template_id":"`+tpl+`","openid":"o_alice","data":{"thing1":"{{nope}}"}}`), 422, "missing_attribute", "data.thing1")
		wantAPIError(t, send("k0", `{"template_id":"`+tpl+`","openid":"o_alice","data":{"thing1":"x"},"lang":"en"}`), 422, "invalid_choice", "lang")
		wantAPIError(t, send("k0", `{"template_id":"`+tpl+`","openid":"o_alice","data":{"thing1":"x"},"page":"`+strings.Repeat("页", models.MaxPageLen+1)+`"}`), 422, "too_long", "page")
		wantAPIError(t, send("k0", `{"template_id":"`+tpl+`","openid":"o_alice","data":{"thing1":"x"},"miniprogram_state":"beta"}`), 422, "invalid_choice", "miniprogram_state")
		wantAPI(t, callAPI(t, app, "PUT", "/users/o_bob", key, `{}`), 201)
		wantAPIError(t, send("k0", `{"template_id":"`+tpl+`","openid":"o_bob","data":{"thing1":"x"}}`), 422, "no_credit", "openid")
		var n int64
		db.Raw("SELECT COUNT(*) FROM deliveries").Scan(&n)
		if n != 0 {
			t.Fatalf("%d deliveries queued by refused requests", n)
		}

		// Eight concurrent retries of one request: one message.
		body := `{"template_id":"` + tpl + `","business_id":"cust-1","data":{"thing1":{"value":"{{shop}}"}},"page":"pages/order?id=1"}`
		var wg sync.WaitGroup
		res := make([]apiResp, 8)
		for i := range res {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				res[i] = send("order-1-shipped", body)
			}(i)
		}
		wg.Wait()
		ids := map[float64]bool{}
		created := 0
		for _, r := range res {
			if r.status != 202 && r.status != 200 {
				t.Fatalf("retry: %d %s", r.status, r.body)
			}
			if r.status == 202 {
				created++
			}
			// Before the send as after it: the values the user will get.
			if v := r.json(t)["data"].(map[string]any)["thing1"]; v != "北京店" {
				t.Fatalf("answer %d has data.thing1 %q, want the attribute filled in", r.status, v)
			}
			ids[r.json(t)["id"].(float64)] = true
		}
		if len(ids) != 1 || created != 1 {
			t.Fatalf("%d message ids, %d answered 202 (want 1 and 1)", len(ids), created)
		}
		var msgID float64
		for id := range ids {
			msgID = id
		}
		// The same key with another request is a conflict.
		wantAPIError(t, send("order-1-shipped", strings.Replace(body, "{{shop}}", "上海店", 1)), 409, "idempotency_key_reused", "Idempotency-Key")

		// The engine sends it once; GET /messages/{id} tells.
		deadline := time.Now().Add(15 * time.Second)
		var m map[string]any
		for time.Now().Before(deadline) {
			r := callAPI(t, app, "GET", "/messages/"+id(int64(msgID)), key, "")
			wantAPI(t, r, 200)
			m = r.json(t)
			if m["status"] == models.DeliverySent || m["status"] == models.DeliveryDelivered {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if m["status"] != models.DeliverySent && m["status"] != models.DeliveryDelivered {
			t.Fatalf("message never sent: %v", m)
		}
		if m["msgid"] == "" || m["data"].(map[string]any)["thing1"] != "北京店" || m["idempotency_key"] != "order-1-shipped" {
			t.Fatalf("message: %v", m)
		}
		if got := sb.Count(testAppID, "o_alice", tpl); got != 1 {
			t.Fatalf("WeChat received %d messages, want 1", got)
		}
		db.Raw("SELECT COUNT(*) FROM deliveries WHERE api_key_id = ?", k.ID).Scan(&n)
		if n != 1 {
			t.Fatalf("%d deliveries", n)
		}
		// A replay after the send answers the same message, not "no credit".
		r := send("order-1-shipped", body)
		wantAPI(t, r, 200)
		if r.header.Get("Idempotent-Replayed") != "true" || r.json(t)["id"].(float64) != msgID {
			t.Fatalf("replay: %v %s", r.header, r.body)
		}
		r = callAPI(t, app, "GET", "/users/o_alice/messages?limit=1", key, "")
		wantAPI(t, r, 200)
		if msgs := r.json(t)["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["id"].(float64) != msgID {
			t.Fatalf("user messages: %s", r.body)
		}
		// Another account's key cannot read it.
		now := time.Now().UTC()
		b := &models.App{AppID: "wx1111111111111111", Name: "other", PushMode: "plain", PushFormat: "json", Timezone: "Asia/Shanghai",
			QuietPolicy: "defer", MPState: "formal", Lang: "zh_CN", RateLimit: 20, SyncEveryHours: 6, CreatedAt: now, UpdatedAt: now}
		if err := models.CreateApp(ctx, db, b); err != nil {
			t.Fatal(err)
		}
		otherKey, _ := mustAPIKey(t, db, b.ID)
		wantAPIError(t, callAPI(t, app, "GET", "/messages/"+id(int64(msgID)), otherKey, ""), 404, "message_not_found", "id")
		wantAPIError(t, callAPI(t, app, "GET", "/users/o_alice", otherKey, ""), 404, "user_not_found", "openid")
	})
}

// A message's own miniprogram_state and lang are stored on it and sent to
// WeChat instead of the account's; a message without them is sent with the
// account's. What the sandbox received is read off the wire.
func TestAPIMessagePerMessageStateAndLang(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		rec := &sendRecorder{}
		app := newTestApp(t, db, withEngineConfig(t, func(c *scheduler.Config) { c.HTTPClient = &http.Client{Transport: rec} }))
		sb, a, tpl := pushApp(t, app, db, false, "json")
		if err := models.UpdateAppFields(ctx, db, a.ID, map[string]any{"mp_state": "trial", "lang": "zh_TW"}); err != nil {
			t.Fatal(err)
		}
		key, _ := mustAPIKey(t, db, a.ID)
		wantAPI(t, callAPI(t, app, "PUT", "/users/o_alice", key, `{}`), 201)
		for i := 0; i < 2; i++ { // two taps reported by the mini program's backend: two credits
			wantAPI(t, callAPI(t, app, "POST", "/subscriptions", key, `{"openid":"o_alice","result":{"`+tpl+`":"accept"}}`), 200)
		}
		if err := sb.Grant(testAppID, "o_alice", tpl, 2); err != nil {
			t.Fatal(err)
		}
		send := func(idem, body string) apiResp {
			return callAPI(t, app, "POST", "/messages", key, body, "Idempotency-Key", idem)
		}
		own := `{"template_id":"` + tpl + `","openid":"o_alice","data":{"thing1":"own"},"miniprogram_state":"developer","lang":"en_US"}`
		r := send("m-own", own)
		wantAPI(t, r, 202)
		m := r.json(t)
		if m["miniprogram_state"] != "developer" || m["lang"] != "en_US" {
			t.Fatalf("answer: %s", r.body)
		}
		ownID := int64(m["id"].(float64))
		r = send("m-default", `{"template_id":"`+tpl+`","openid":"o_alice","data":{"thing1":"default"}}`)
		wantAPI(t, r, 202)
		if m := r.json(t); m["miniprogram_state"] != "trial" || m["lang"] != "zh_TW" {
			t.Fatalf("answer without own settings: %s", r.body)
		}
		defID := int64(r.json(t)["id"].(float64))
		// The same key with another lang is another request.
		wantAPIError(t, send("m-own", strings.Replace(own, "en_US", "zh_CN", 1)), 409, "idempotency_key_reused", "Idempotency-Key")
		wantAPI(t, send("m-own", own), 200)

		sent := func(d *models.Delivery) bool {
			return d.Status == models.DeliverySent || d.Status == models.DeliveryDelivered
		}
		d := waitDelivery(t, app, ownID, sent)
		if d.MPState != "developer" || d.Lang != "en_US" {
			t.Fatalf("stored: %q %q", d.MPState, d.Lang)
		}
		waitDelivery(t, app, defID, sent)
		got := map[string]sentRequest{}
		for _, s := range rec.all() {
			got[s.Data["thing1"]["value"]] = s
		}
		if s := got["own"]; s.MiniprogramState != "developer" || s.Lang != "en_US" || s.ToUser != "o_alice" {
			t.Fatalf("WeChat received for the message with its own settings: %+v (all %+v)", s, rec.all())
		}
		if s := got["default"]; s.MiniprogramState != "trial" || s.Lang != "zh_TW" {
			t.Fatalf("WeChat received for the message without: %+v", s)
		}
		if n := sb.Count(testAppID, "o_alice", tpl); n != 2 {
			t.Fatalf("sandbox accepted %d messages, want 2", n)
		}
	})
}

// With the key usage counted in memory (as serve does), every call is
// still counted exactly: the keys page adds what is not written yet, a
// flush writes it once, and closing writes the rest.
func TestAPIKeyUsageCountedInMemoryExactly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		usage := models.NewAPIKeyUsage(db, time.Hour, nil) // flushed by hand below
		app := newTestApp(t, db, func(d *web.Deps) { d.APIKeyUsage = usage })
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		_, base := wxSandbox(t)
		c := app.signedIn(boss)
		a := createApp(t, c, db, base)
		key, k := mustAPIKey(t, db, a.ID)
		calls := func() string {
			t.Helper()
			r := c.get("/settings/apikeys")
			if r.status != 200 {
				t.Fatalf("keys page %d", r.status)
			}
			return strings.TrimSpace(r.doc(t).Find(`[data-testid="apikey-row-` + id(k.ID) + `"] td.num`).Text())
		}
		stored := func() *models.APIKey {
			t.Helper()
			got, err := models.GetAPIKey(ctx, db, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		var wg sync.WaitGroup
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				callAPI(t, app, "GET", "/users/o_nobody", key, "") // a 404 is a call too
			}()
		}
		wg.Wait()
		if got := stored(); got.Calls != 0 || got.LastUsedAt != nil {
			t.Fatalf("written before the flush: %d calls", got.Calls)
		}
		if got := calls(); got != "40" {
			t.Fatalf("keys page shows %q calls before the flush, want 40", got)
		}
		if err := usage.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := stored(); got.Calls != 40 || got.LastUsedAt == nil {
			t.Fatalf("after the flush: %d calls, last used %v", got.Calls, got.LastUsedAt)
		}
		if got := calls(); got != "40" {
			t.Fatalf("keys page shows %q calls after the flush, want 40", got)
		}
		for i := 0; i < 5; i++ {
			callAPI(t, app, "GET", "/users/o_nobody", key, "")
		}
		if err := usage.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if got := stored(); got.Calls != 45 {
			t.Fatalf("after close: %d calls, want 45", got.Calls)
		}
	})
}

// POST /users:batch writes 1,000 users in a few statements (not one or
// more per user), with fields kept per user as PUT does.
func TestAPIUsersBatchInFewStatements(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		ctx := context.Background()
		stats := &sqlStats{byShape: map[string][]time.Duration{}}
		app := newTestApp(t, db.Session(&gorm.Session{Logger: stats}))
		boss := mustStaff(t, db, "boss@example.com", models.RoleAdmin)
		_, base := wxSandbox(t)
		a := createApp(t, app.signedIn(boss), db, base)
		key, _ := mustAPIKey(t, db, a.ID)
		wantAPI(t, callAPI(t, app, "PUT", "/users/o_0", key, `{"unionid":"u_0","attributes":{"name":"张三"}}`), 201)

		// Half the users give a business id and tags, half only attributes.
		var sb strings.Builder
		sb.WriteString(`{"users":[`)
		for i := 0; i < 1000; i++ {
			if i > 0 {
				sb.WriteString(",")
			}
			if i%2 == 0 {
				fmt.Fprintf(&sb, `{"openid":"o_%d","business_id":"cust-%d","tags":["t%d","all"]}`, i, i, i%3)
			} else {
				fmt.Fprintf(&sb, `{"openid":"o_%d","attributes":{"n":%d}}`, i, i)
			}
		}
		sb.WriteString(`]}`)
		stats.reset()
		r := callAPI(t, app, "POST", "/users:batch", key, sb.String())
		wantAPI(t, r, 200)
		if m := r.json(t); m["created"] != float64(999) || m["updated"] != float64(1) {
			t.Fatalf("batch counts: %s", r.body)
		}
		n := 0
		for _, ds := range stats.byShape {
			n += len(ds)
		}
		t.Logf("%d statements for a batch of 1,000 users (auth and key count included)", n)
		if n > 20 {
			t.Fatalf("%d statements for a batch of 1,000 users, want a few", n)
		}
		// o_0 kept its unionid and attributes and got the batch's fields.
		u, err := models.GetUserByOpenID(ctx, db, a.ID, "o_0")
		if err != nil {
			t.Fatal(err)
		}
		if u.UnionID != "u_0" || u.BusinessID != "cust-0" || u.Attrs()["name"] != "张三" || strings.Join(u.TagList(), ",") != "t0,all" {
			t.Fatalf("o_0 after the batch: %+v", u)
		}
		if u, _ := models.GetUserByOpenID(ctx, db, a.ID, "o_7"); u == nil || u.Attrs()["n"] != float64(7) || u.BusinessID != "" {
			t.Fatalf("o_7 after the batch: %+v", u)
		}
		var tagged int64
		db.Raw("SELECT COUNT(*) FROM user_tags WHERE app_id = ? AND tag = 'all'", a.ID).Scan(&tagged)
		if tagged != 500 {
			t.Fatalf("%d users indexed under tag all, want 500", tagged)
		}
	})
}

// A credit is spent when its message is claimed: while the first message
// for a user's last credit waits in the queue, a second is refused with
// no_credit (it was accepted, then skipped for lack of credit).
func TestAPIMessageQueuedHoldsItsCredit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB, _ string) {
		app := newTestApp(t, db) // no engine: messages stay queued
		sb, a, tpl := pushApp(t, app, db, true, "json")
		key, _ := mustAPIKey(t, db, a.ID)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		tap := func() {
			t.Helper()
			if _, err := sb.Popup(testAppID, "o_carol", map[string]string{tpl: "accept"}); err != nil {
				t.Fatal(err)
			}
			if err := sb.WaitPushes(ctx); err != nil {
				t.Fatal(err)
			}
		}
		send := func(idem string) apiResp {
			return callAPI(t, app, "POST", "/messages", key, `{"template_id":"`+tpl+`","openid":"o_carol","data":{"thing1":"x"}}`, "Idempotency-Key", idem)
		}
		tap()
		wantAPI(t, send("m1"), 202)
		wantAPIError(t, send("m2"), 422, "no_credit", "openid")
		wantAPI(t, send("m1"), 200)         // the first one's retry is still its replay
		time.Sleep(1100 * time.Millisecond) // WeChat's push dedup key holds a second tap within the second
		tap()
		if got := credits(t, db, a.ID, "o_carol", tpl); got != 2 {
			t.Fatalf("%d credits after two taps", got)
		}
		wantAPI(t, send("m2"), 202)
		wantAPIError(t, send("m3"), 422, "no_credit", "openid")
	})
}
