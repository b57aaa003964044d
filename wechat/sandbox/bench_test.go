package sandbox_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

// benchSetup starts a sandbox on real loopback HTTP with users that have
// plenty of credit for a 4-keyword one-time template.
func benchSetup(b *testing.B, users int) (*sandbox.Server, string, string, string) {
	b.Helper()
	sb := sandbox.New(sandbox.Options{})
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sb.Close() })
	if err := sb.AddApp(sandbox.AppConfig{AppID: appID, Secret: secret}); err != nil {
		b.Fatal(err)
	}
	tpl, err := sb.AddLibraryTemplate(appID, 1001, 1, 2, 3, 6)
	if err != nil {
		b.Fatal(err)
	}
	for i := range users {
		if err := sb.Grant(appID, "o_bench_"+strconv.Itoa(i), tpl, 1<<30); err != nil {
			b.Fatal(err)
		}
	}
	res, err := http.Post(base+"/cgi-bin/stable_token", "application/json",
		bytes.NewReader([]byte(`{"grant_type":"client_credential","appid":"`+appID+`","secret":"`+secret+`"}`)))
	if err != nil {
		b.Fatal(err)
	}
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(res.Body).Decode(&tk)
	res.Body.Close()
	return sb, base, tpl, tk.AccessToken
}

func keepAliveClient(conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conns
	tr.MaxIdleConnsPerHost = conns
	tr.MaxConnsPerHost = conns
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

const benchParallelism = 16 // goroutines per GOMAXPROCS

// BenchmarkSendLoopback measures the send handler's throughput over real
// loopback HTTP with concurrent keep-alive clients posting pre-built
// bodies. Each goroutine sends to its own user (no 43108). The sends/s
// metric is the figure to report.
func BenchmarkSendLoopback(b *testing.B) {
	const users = 256
	sb, base, tpl, token := benchSetup(b, users)
	client := keepAliveClient(256)
	sendURL := base + wechat.PathSend + "?access_token=" + token
	var next atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		openid := "o_bench_" + strconv.Itoa(int(next.Add(1)-1)%users)
		body := []byte(`{"touser":"` + openid + `","template_id":"` + tpl + `","page":"pages/order/detail?id=1",` +
			`"data":{"thing1":{"value":"iPhone 15 Pro 256G"},"character_string2":{"value":"2024052011230001"},` +
			`"time3":{"value":"2024-05-20 15:01"},"amount6":{"value":"¥100.50"}}}`)
		for pb.Next() {
			res, err := client.Post(sendURL, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			out, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if !bytes.HasPrefix(out, []byte(`{"errcode":0,`)) {
				b.Errorf("send: %s", out)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sends/s")
	if got := sb.TotalAccepted(); got != int64(b.N) {
		b.Fatalf("accepted %d, want %d", got, b.N)
	}
}

// BenchmarkSendClient is the same through wechat.Client (token cache, JSON
// encoding, error handling): the delivery engine's real path.
func BenchmarkSendClient(b *testing.B) {
	const users = 256
	sb, base, tpl, _ := benchSetup(b, users)
	c := wechat.NewClient(wechat.Config{AppID: appID, Secret: secret, BaseURL: base, HTTPClient: keepAliveClient(256)})
	var next atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		req := wechat.SendRequest{ToUser: "o_bench_" + strconv.Itoa(int(next.Add(1)-1)%users), TemplateID: tpl, Page: "pages/order/detail?id=1",
			Data: map[string]string{"thing1": "iPhone 15 Pro 256G", "character_string2": "2024052011230001", "time3": "2024-05-20 15:01", "amount6": "¥100.50"}}
		for pb.Next() {
			if _, err := c.Send(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sends/s")
	if got := sb.TotalAccepted(); got != int64(b.N) {
		b.Fatalf("accepted %d, want %d", got, b.N)
	}
}

// BenchmarkSendLoopbackRaw measures the server alone: the same sends over
// real loopback HTTP/1.1 keep-alive connections, but from a minimal client
// (one connection per goroutine, request bytes pre-built, response parsed
// by Content-Length) so that net/http's client does not eat most of the
// two cores the server runs on.
func BenchmarkSendLoopbackRaw(b *testing.B) {
	const users = 256
	sb, base, tpl, token := benchSetup(b, users)
	addr := strings.TrimPrefix(base, "http://")
	var next atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		openid := "o_bench_" + strconv.Itoa(int(next.Add(1)-1)%users)
		body := `{"touser":"` + openid + `","template_id":"` + tpl + `","page":"pages/order/detail?id=1",` +
			`"data":{"thing1":{"value":"iPhone 15 Pro 256G"},"character_string2":{"value":"2024052011230001"},` +
			`"time3":{"value":"2024-05-20 15:01"},"amount6":{"value":"¥100.50"}}}`
		req := []byte("POST " + wechat.PathSend + "?access_token=" + token + " HTTP/1.1\r\nHost: " + addr +
			"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		buf := make([]byte, 4096)
		for pb.Next() {
			if _, err := conn.Write(req); err != nil {
				b.Error(err)
				return
			}
			n := -1
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					b.Error(err)
					return
				}
				if len(line) <= 2 {
					break
				}
				if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
					n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
				}
			}
			if n < 0 || n > len(buf) {
				b.Errorf("bad Content-Length %d", n)
				return
			}
			if _, err := io.ReadFull(br, buf[:n]); err != nil {
				b.Error(err)
				return
			}
			if !bytes.HasPrefix(buf[:n], []byte(`{"errcode":0,`)) {
				b.Errorf("send: %s", buf[:n])
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sends/s")
	if got := sb.TotalAccepted(); got != int64(b.N) {
		b.Fatalf("accepted %d, want %d", got, b.N)
	}
}
