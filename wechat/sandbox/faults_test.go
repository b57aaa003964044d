package sandbox_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

// A revoked token answers 40001 (not 42001), on the send and the quota
// API; stable_token then mints a new one that works.
func TestRevokeTokensAnswers40001(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	tpl := mustTemplate(t, e, "a:{{thing1.DATA}}")
	must(t, e.sb.Grant(appID, "o1", tpl, 2))
	body := map[string]any{"touser": "o1", "template_id": tpl, "data": map[string]any{"thing1": map[string]string{"value": "x"}}}
	old := e.stable(false).AccessToken
	if a := e.send(old, body); a.ErrCode != 0 {
		t.Fatalf("%s", a.Raw)
	}
	must(t, e.sb.RevokeTokens(appID))
	wantErr(t, e.send(old, body), wechat.CodeInvalidCredential, "invalid credential, access_token is invalid or not latest")
	wantErr(t, e.do("POST", wechat.PathQuota+"?access_token="+old, map[string]string{"cgi_path": wechat.PathSend}),
		wechat.CodeInvalidCredential, "invalid credential")
	fresh := e.stable(false).AccessToken
	if fresh == old {
		t.Fatal("stable_token returned the revoked token")
	}
	if a := e.send(fresh, body); a.ErrCode != 0 {
		t.Fatalf("new token: %s", a.Raw)
	}
	if st := e.sb.Stats(); st.TokenRefused != 1 {
		t.Fatalf("token refusals %d, want 1", st.TokenRefused)
	}
	if n := e.sb.Count(appID, "o1", tpl); n != 2 {
		t.Fatalf("accepted %d, want 2 (the refused send counted nothing)", n)
	}
	// The control call does the same.
	e.do("POST", "/sandbox/apps/"+appID+"/revoke-tokens", nil)
	wantErr(t, e.send(fresh, body), wechat.CodeInvalidCredential, "invalid credential")
}

// A push storm: every sent event pushed three times (the original and two
// repeats), each copy after a random delay, so the receiver sees
// duplicates out of order; the copies are counted in Stats.
func TestPushRepeatsAndJitter(t *testing.T) {
	e := newEnv(t, sandbox.Options{PushWorkers: 8})
	rcv := newReceiver(t, appID)
	must(t, e.sb.AddApp(sandbox.AppConfig{AppID: appID, Secret: secret, PushURL: rcv.srv.URL, PushToken: tok}))
	tpl := mustTemplate(t, e, "a:{{thing1.DATA}}")
	must(t, e.sb.SetFaults(appID, sandbox.Faults{PushRepeatRate: 1, PushRepeats: 2, PushJitter: 80 * time.Millisecond}))
	const n = 30
	token := e.stable(false).AccessToken
	var sent []int64
	for i := range n {
		o := "o" + string(rune('A'+i))
		must(t, e.sb.Grant(appID, o, tpl, 1))
		a := e.send(token, map[string]any{"touser": o, "template_id": tpl, "data": map[string]any{"thing1": map[string]string{"value": "x"}}})
		if a.ErrCode != 0 {
			t.Fatalf("%s", a.Raw)
		}
		id, _ := a.MsgID.Int64()
		sent = append(sent, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, e.sb.WaitPushes(ctx))
	evs, _ := rcv.got()
	seen := map[int64]int{}
	var order []int64
	for _, ev := range evs {
		if ev.Event != wechat.EventSent || len(ev.List) != 1 {
			t.Fatalf("unexpected event %+v", ev)
		}
		seen[ev.List[0].MsgID]++
		order = append(order, ev.List[0].MsgID)
	}
	for _, id := range sent {
		if seen[id] != 3 {
			t.Fatalf("msgid %d pushed %d times, want 3", id, seen[id])
		}
	}
	if len(evs) != 3*n {
		t.Fatalf("%d pushes, want %d", len(evs), 3*n)
	}
	if st := e.sb.Stats(); st.PushesRepeated != 2*n || st.PushesSent != 3*n {
		t.Fatalf("stats %+v, want %d repeated, %d delivered", st, 2*n, 3*n)
	}
	// Sends were 1 ms or so apart and pushes wait up to 80 ms: the first
	// arrivals are not in send order.
	if slices.IsSorted(order[:n]) {
		t.Fatalf("pushes arrived in send order: no jitter applied")
	}
	// Over the control API the knobs round-trip.
	got := e.do("PUT", "/sandbox/apps/"+appID+"/faults", `{"push_repeat_rate":0.5,"push_repeats":3,"push_jitter_ms":250,"cut_before_count_rate":0.25}`)
	f, err := e.sb.GetFaults(appID)
	must(t, err)
	if f.PushRepeatRate != 0.5 || f.PushRepeats != 3 || f.PushJitter != 250*time.Millisecond || f.CutBeforeCountRate != 0.25 {
		t.Fatalf("faults %+v after PUT (%s)", f, got.Raw)
	}
	if err := e.sb.SetFaults(appID, sandbox.Faults{PushRepeats: 11}); err == nil {
		t.Fatal("11 repeats accepted")
	}
}

// Stats count what the faults and limits answered: -1, cuts, 45009.
func TestFaultStatsCountWhatWasInjected(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	tpl := mustTemplate(t, e, "a:{{thing1.DATA}}")
	must(t, e.sb.Grant(appID, "o1", tpl, 5))
	body := map[string]any{"touser": "o1", "template_id": tpl, "data": map[string]any{"thing1": map[string]string{"value": "x"}}}
	token := e.stable(false).AccessToken
	must(t, e.sb.SetFaults(appID, sandbox.Faults{ErrorRate: 1}))
	wantErr(t, e.send(token, body), wechat.CodeBusy, "system error")
	cutSend := func() {
		t.Helper()
		req, _ := http.NewRequest("POST", e.url+wechat.PathSend+"?access_token="+token,
			strings.NewReader(`{"touser":"o1","template_id":"`+tpl+`","data":{"thing1":{"value":"x"}}}`))
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
			t.Fatalf("a cut send answered HTTP %d", res.StatusCode)
		}
	}
	must(t, e.sb.SetFaults(appID, sandbox.Faults{CutBeforeCountRate: 1}))
	cutSend()
	if n := e.sb.Count(appID, "o1", tpl); n != 0 {
		t.Fatalf("a send cut before counting counted %d messages", n)
	}
	must(t, e.sb.SetFaults(appID, sandbox.Faults{TimeoutAfterCountRate: 1}))
	cutSend()
	must(t, e.sb.SetFaults(appID, sandbox.Faults{DailyQuota: 1}))
	wantErr(t, e.send(token, body), wechat.CodeDailyQuota, "reach max api daily quota limit")
	st := e.sb.Stats()
	if st.ErrorsInjected != 1 || st.CutsInjected != 1 || st.TimeoutsInjected != 1 || st.QuotaRefused != 1 || st.TokenRefused != 0 || st.Accepted != 1 {
		t.Fatalf("stats %+v, want 1 error, 1 cut before counting, 1 cut after, 1 quota refusal, 1 accepted", st)
	}
	if n := e.sb.Count(appID, "o1", tpl); n != 1 {
		t.Fatalf("%d messages counted, want the one cut after counting", n)
	}
}

// Push workers keep their connections: pushes coming in bursts, every
// worker busy and then idle, reach the receiver over one connection per
// worker, not a new one for most pushes (the default transport keeps two
// idle per host and closed the rest after each burst).
func TestPushWorkersKeepTheirConnections(t *testing.T) {
	const workers, bursts = 8, 10
	e := newEnv(t, sandbox.Options{PushWorkers: workers})
	var conns, pushes atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(5 * time.Millisecond) // every worker busy at once
		pushes.Add(1)
		_, _ = io.WriteString(w, "success")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	must(t, e.sb.AddApp(sandbox.AppConfig{AppID: appID, Secret: secret, PushURL: srv.URL, PushToken: tok}))
	tpl := mustTemplate(t, e, "a:{{thing1.DATA}}")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for b := range bursts {
		for i := range workers {
			if _, err := e.sb.Popup(appID, "o"+strconv.Itoa(b*workers+i), map[string]string{tpl: "accept"}); err != nil {
				t.Fatal(err)
			}
		}
		must(t, e.sb.WaitPushes(ctx))
	}
	if pushes.Load() != workers*bursts || conns.Load() > workers+2 {
		t.Fatalf("%d pushes over %d connections: want %d over at most %d", pushes.Load(), conns.Load(), workers*bursts, workers+2)
	}
}
