package main

// The bench's set-up: the account and template here and at the sandbox,
// the recipients and their deliveries, and the raw bound.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

// benchSetup registers the bench app and its template here and at the
// sandbox sb (the account's API base URL), secrets sealed by sealer. With
// pushURL set the sandbox pushes its events there, in plaintext JSON
// signed with drillPushToken.
func benchSetup(ctx context.Context, db *gorm.DB, sb benchWeChat, sealer *models.Sealer, pushURL string) (*models.App, *models.Template, error) {
	url := sb.URL()
	if err := benchSandboxApp(ctx, sb, benchAppID, pushURL); err != nil {
		return nil, nil, err
	}
	now := time.Now().UTC()
	app := &models.App{AppID: benchAppID, Name: "bench", SecretEnc: sealer.Seal(benchSecret), APIBaseURL: url, PushMode: models.PushPlain,
		PushFormat: models.PushJSON, RateLimit: 0, Timezone: "Asia/Shanghai", QuietPolicy: models.QuietDefer, MPState: models.MPFormal, Lang: "zh_CN",
		SyncEveryHours: 6, CreatedAt: now, UpdatedAt: now}
	if pushURL != "" {
		app.PushTokenEnc, app.AESKeyEnc = sealer.Seal(drillPushToken), sealer.Seal("")
	}
	if err := db.WithContext(ctx).Create(app).Error; err != nil {
		return nil, nil, err
	}
	kws, _ := wechat.ParseContent(benchTpl)
	tpl := &models.Template{AppID: app.ID, TemplateID: benchTplID, Title: "订单通知", Content: benchTpl, Kind: models.TemplateOneTime}
	tpl.SetKeywords(models.KeywordsFromWeChat(kws))
	if err := models.CreateTemplate(ctx, db, tpl); err != nil {
		return nil, nil, err
	}
	return app, tpl, nil
}

func benchSandboxApp(ctx context.Context, sb benchWeChat, appID, pushURL string) error {
	cfg := sandbox.AppConfig{AppID: appID, Secret: benchSecret}
	if pushURL != "" {
		cfg.PushURL, cfg.PushToken = pushURL, drillPushToken
	}
	if err := sb.AddApp(ctx, cfg); err != nil {
		return err
	}
	return sb.AddTemplate(ctx, appID, wechat.Template{PriTmplID: benchTplID, Title: "订单通知", Content: benchTpl, Type: wechat.TemplateOneTime})
}

func benchOpenID(i int) string { return fmt.Sprintf("obench%09d", i) }

// benchSeed creates n users with one credit (here and in the sandbox),
// then queues one delivery each, in chunks so memory does not grow with n.
// The deliveries are queued last, right before the engine starts, so that
// queued → sent is the wait in the queue and the send, not the set-up.
func benchSeed(ctx context.Context, db *gorm.DB, sb benchWeChat, app *models.App, tpl *models.Template, n int) error {
	const chunk = 10000
	// SQLite's driver binds arguments in time quadratic in their number:
	// smaller statements there.
	rowsPerInsert := 1000
	if !models.IsMySQL(db) {
		rowsPerInsert = 100
	}
	db = db.WithContext(ctx)
	for start := 0; start < n; start += chunk {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		end := min(start+chunk, n)
		now := time.Now().UTC()
		users := make([]models.User, 0, end-start)
		for i := start; i < end; i++ {
			users = append(users, models.User{AppID: app.ID, OpenID: benchOpenID(i), Attributes: "{}", Tags: "[]", CreatedAt: now, UpdatedAt: now})
		}
		subs := make([]models.Subscription, 0, len(users))
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.CreateInBatches(users, rowsPerInsert).Error; err != nil {
				return err
			}
			subs = subs[:0]
			for _, u := range users {
				subs = append(subs, models.Subscription{UserID: u.ID, TemplateID: tpl.ID, Credits: 1, Status: models.SubAccept, CreatedAt: now, UpdatedAt: now})
			}
			return tx.CreateInBatches(subs, rowsPerInsert).Error
		})
		if err != nil {
			return err
		}
		openids := make([]string, len(users))
		for i, u := range users {
			openids[i] = u.OpenID
		}
		// Two at WeChat against one here: a second message to a user would
		// be accepted and counted, so "duplicates" can see one.
		if err := sb.Grant(ctx, benchAppID, benchTplID, 2, openids); err != nil {
			return err
		}
	}
	data := map[string]string{"thing1": "咖啡豆 250g", "number2": "2"}
	var lastID int64
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var us []struct {
			ID     int64
			OpenID string `gorm:"column:openid"`
		}
		if err := db.Model(&models.User{}).Select("id, openid").Where("app_id = ? AND id > ?", app.ID, lastID).
			Order("id").Limit(chunk).Scan(&us).Error; err != nil {
			return err
		}
		if len(us) == 0 {
			return nil
		}
		nds := make([]models.NewDelivery, len(us))
		for i, u := range us {
			nds[i] = models.NewDelivery{AppID: app.ID, UserID: u.ID, TemplateID: tpl.ID, OpenID: u.OpenID, Data: data}
		}
		if _, err := models.EnqueueDeliveries(ctx, db, nds); err != nil {
			return err
		}
		lastID = us[len(us)-1].ID
	}
}

// benchRaw sends n messages to a sandbox of its own (n users with one
// credit each) with conc in flight over kept-alive connections, through the
// same WeChat client the engine uses, and returns calls per second. The
// sandbox is closed before it returns.
func benchRaw(ctx context.Context, n, conc int, start func() (benchWeChat, error)) (float64, error) {
	r, err := benchRawRun(ctx, n, conc, start, false)
	return r.sendsPerSec, err
}

// rawBound is what a raw run measured.
type rawBound struct {
	// sendsPerSec: sends answered per second (while the pushes flowed).
	sendsPerSec float64
	// msgsPerSec: messages per second counted to the last push received
	// (with pushes; else sendsPerSec).
	msgsPerSec float64
	// pushesIn: pushes the receiver took; pushesLost: pushes the sandbox
	// dropped (queue full) or gave up on (with pushes, msgsPerSec counts
	// them as done: more than a few make it a bound too high).
	pushesIn, pushesLost int64
}

// benchRawRun sends n messages straight to a sandbox of its own, without
// a database. withPushes: the sandbox pushes a sent event for each to a
// receiver in this process that stores nothing and answers "success" (as
// cheap as a push endpoint can be), so the figure is what the sandbox and
// HTTP alone allow on this machine when every message comes back as a push.
func benchRawRun(ctx context.Context, n, conc int, start func() (benchWeChat, error), withPushes bool) (rawBound, error) {
	sb, err := start()
	if err != nil {
		return rawBound{}, err
	}
	defer sb.Close()
	url := sb.URL()
	var pushes atomic.Int64
	pushURL := ""
	if withPushes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return rawBound{}, err
		}
		srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			pushes.Add(1)
			_, _ = io.WriteString(w, "success")
		})}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		pushURL = "http://" + ln.Addr().String() + "/wx/push"
	}
	if err := benchSandboxApp(ctx, sb, benchRawID, pushURL); err != nil {
		return rawBound{}, err
	}
	for i := 0; i < n; i += 10000 {
		openids := make([]string, 0, 10000)
		for j := i; j < min(i+10000, n); j++ {
			openids = append(openids, benchOpenID(j))
		}
		if err := sb.Grant(ctx, benchRawID, benchTplID, 1, openids); err != nil {
			return rawBound{}, err
		}
	}
	hc := wechat.DefaultHTTPClient()
	if tr, ok := hc.Transport.(*http.Transport); ok {
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conc, conc
	}
	c := wechat.NewClient(wechat.Config{AppID: benchRawID, Secret: benchSecret, BaseURL: url, HTTPClient: hc})
	if _, err := c.Token(ctx); err != nil {
		return rawBound{}, err
	}
	data := map[string]string{"thing1": "咖啡豆 250g", "number2": "2"}
	began := time.Now()
	failed, el := fanOut(ctx, n, conc, func(i int) error {
		_, err := c.Send(ctx, wechat.SendRequest{ToUser: benchOpenID(i), TemplateID: benchTplID, Data: data})
		return err
	})
	hc.CloseIdleConnections()
	if failed > 0 {
		return rawBound{}, fmt.Errorf("raw bound: %d of %d sends failed", failed, n)
	}
	rate := float64(n) / el.Seconds()
	r := rawBound{sendsPerSec: rate, msgsPerSec: rate}
	if !withPushes {
		return r, nil
	}
	// Every push received or given up on (the sandbox drops pushes whose
	// queue is full or that failed three times: counted, not waited for).
	for {
		st, err := sb.Stats(ctx)
		if err != nil {
			return rawBound{}, err
		}
		if pushes.Load()+st.PushesDropped+st.PushesFailed >= int64(n) {
			r.pushesLost = st.PushesDropped + st.PushesFailed
			break
		}
		if time.Since(began) > 10*time.Minute {
			return rawBound{}, fmt.Errorf("raw bound with pushes: %d of %d pushes in after 10 minutes", pushes.Load(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.msgsPerSec, r.pushesIn = float64(n)/time.Since(began).Seconds(), pushes.Load()
	return r, nil
}
