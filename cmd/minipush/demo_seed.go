package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/scheduler"
	"github.com/minipush/minipush/wechat"
	"github.com/minipush/minipush/wechat/sandbox"
)

const (
	demoAppID         = "wx00000000demo0001"
	demoAppName       = "喵喵商城"
	demoSecret        = "demosecret0123456789abcdefabcdef"
	demoPushToken     = "demopushtoken2026"
	demoAESKey        = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" // 43 characters, as WeChat's console makes them
	demoCampaignName  = "双十一订单发货通知"
	demoRecurringName = "每周五活动开始提醒"
	demoEmailDomain   = "@demo.minipush.local"
)

// demoScenario is one of the seed's templates, added from the sandbox's
// public library by its title and keyword ids.
type demoScenario struct {
	Name string
	TID  int64
	Kids []int64
}

// The seed's scenarios. Keyword keys are the type and the keyword id
// (thing1, character_string5...), as the library builds them.
var demoScenarios = []demoScenario{
	{"order_shipped", 1001, []int64{1, 4, 5, 9}}, // 商品名称, 快递公司, 快递单号, 订单状态
	{"payment", 1002, []int64{1, 2, 3, 4}},       // 支付金额, 支付时间, 订单号, 商品名称
	{"new_message", 5001, []int64{1, 2, 3}},      // 发送人, 消息内容, 发送时间
	{"activity", 6001, []int64{1, 2, 3, 4}},      // 活动名称, 开始时间, 活动地点, 温馨提示
	{"system_notice", 7001, []int64{1, 2, 3}},    // 通知内容, 通知时间, 通知类型 (long-term)
}

var (
	demoNicknames = []string{"小明", "小红", "阿强", "晓雯", "大卫", "Lily", "王磊", "陈静", "Tom", "周杰", "林一", "赵敏"}
	demoCities    = []string{"上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "南京"}
	demoProducts  = []string{"无线降噪耳机", "智能手表", "保温杯", "机械键盘", "猫粮 2kg", "空气炸锅", "运动鞋", "护手霜礼盒"}
)

// demoSeed fills the demo's database through the real paths: the sandbox
// (WeChat) adds templates and pushes users' taps to the console's push
// endpoint; users arrive through the JSON API; the campaign runs through
// the campaigns job's code and the delivery engine against the sandbox.
type demoSeed struct {
	db         *gorm.DB
	sb         *sandbox.Server
	sealer     *models.Sealer
	wx         *http.Client
	engine     *scheduler.Engine
	log        *slog.Logger
	loc        *time.Location
	consoleURL string
	sandboxURL string
	users      int
	pushed     int // users whose taps the sandbox pushes (0: demoPushedUsers)

	app       *models.App
	Templates map[string]*models.Template // by scenario name
	staff     map[models.Role]*models.Staff
	logins    []demoLogin
	apiKey    string
	http      *http.Client

	// What was seeded, for the banner and the test.
	Users, Allowed, Rejected, LongTerm  int
	CampaignID, RunID, RecurringID      int64
	RunDelivered, RunFailed, RunSkipped int64
	RecurringNext                       time.Time
	APIMessages                         int
	Steps                               []string // each step and its time
	openids                             []string
	withOrderCredit, withPayCredit      []string
}

func demoOpenID(i int) string { return fmt.Sprintf("o_demo_%05d", i) }

func (s *demoSeed) run(ctx context.Context) error {
	s.http = &http.Client{Timeout: 30 * time.Second}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"staff", s.seedStaff},
		{"account", s.seedAccount},
		{"templates", s.seedTemplates},
		{"users", s.seedUsers},
		{"taps", s.seedTaps},
		{"campaign", s.seedCampaign},
		{"recurring campaign", s.seedRecurring},
		{"API messages", s.seedAPIMessages},
	}
	for _, st := range steps {
		t0 := time.Now()
		if err := st.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		s.Steps = append(s.Steps, fmt.Sprintf("%s %.1fs", st.name, time.Since(t0).Seconds()))
	}
	return nil
}

// seedStaff creates one sign-in per role, with random passwords.
func (s *demoSeed) seedStaff(ctx context.Context) error {
	s.staff = map[models.Role]*models.Staff{}
	names := map[models.Role]string{models.RoleAdmin: "管理员 Demo", models.RoleOperator: "运营 Demo", models.RoleSupport: "客服 Demo"}
	for _, role := range []models.Role{models.RoleAdmin, models.RoleOperator, models.RoleSupport} {
		email := string(role) + demoEmailDomain
		pw := "demo-" + models.RandomToken(6)
		st, err := models.CreateStaff(ctx, s.db, email, names[role], pw, role, "zh")
		if err != nil {
			return err
		}
		s.staff[role] = st
		s.logins = append(s.logins, demoLogin{Role: role, Email: email, Password: pw})
	}
	return nil
}

func (s *demoSeed) actor(role models.Role) models.Actor {
	st := s.staff[role]
	return models.Actor{StaffID: st.ID, Email: st.Email, IP: "127.0.0.1"}
}

// seedAccount registers the mini program at the sandbox (pushing to the
// console in safe mode) and in the console, and makes the demo's API key.
func (s *demoSeed) seedAccount(ctx context.Context) error {
	err := s.sb.AddApp(sandbox.AppConfig{AppID: demoAppID, Secret: demoSecret, PushURL: s.consoleURL + "/wx/push/" + demoAppID,
		PushToken: demoPushToken, EncodingAESKey: demoAESKey, Safe: true, Format: "json"})
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	s.app = &models.App{AppID: demoAppID, Name: demoAppName, SecretEnc: s.sealer.Seal(demoSecret), PushTokenEnc: s.sealer.Seal(demoPushToken),
		AESKeyEnc: s.sealer.Seal(demoAESKey), PushMode: models.PushSafe, PushFormat: models.PushJSON, APIBaseURL: s.sandboxURL,
		RateLimit: 1000, Timezone: "Asia/Shanghai", QuietPolicy: models.QuietDefer, MPState: models.MPFormal, Lang: "zh_CN",
		SyncEveryHours: 6, CreatedAt: now, UpdatedAt: now}
	if err := models.CreateApp(ctx, s.db, s.app); err != nil {
		return err
	}
	admin := s.staff[models.RoleAdmin]
	key, k, err := models.CreateAPIKey(ctx, s.db, s.app.ID, "order-service", &admin.ID)
	if err != nil {
		return err
	}
	s.apiKey = key
	return errors.Join(
		models.Audit(ctx, s.db, s.actor(models.RoleAdmin), "app.create", "app", strconv.FormatInt(s.app.ID, 10), map[string]any{"appid": demoAppID}),
		models.Audit(ctx, s.db, s.actor(models.RoleAdmin), "apikey.create", "api_key", strconv.FormatInt(k.ID, 10), map[string]any{"name": k.Name}))
}

// seedTemplates adds the scenarios' templates from WeChat's public
// library (the sandbox's addtemplate) and syncs them, as an admin would.
func (s *demoSeed) seedTemplates(ctx context.Context) error {
	client, err := models.WeChatClient(s.db, s.sealer, s.app, s.wx)
	if err != nil {
		return err
	}
	ids := map[string]string{}
	for _, sc := range demoScenarios {
		id, err := client.AddTemplate(ctx, wechat.AddTemplateRequest{TID: sc.TID, KidList: sc.Kids, SceneDesc: "demo " + sc.Name[:min(len(sc.Name), 10)]})
		if err != nil {
			return fmt.Errorf("adding %s: %w", sc.Name, err)
		}
		ids[sc.Name] = id
	}
	admin := s.staff[models.RoleAdmin]
	if _, err := models.SyncTemplates(ctx, s.db, s.app, client, models.SyncTriggerManual, &admin.ID, time.Now().UTC()); err != nil {
		return err
	}
	s.Templates = map[string]*models.Template{}
	for name, id := range ids {
		t, err := models.GetTemplateByWxID(ctx, s.db, s.app.ID, id)
		if err != nil {
			return fmt.Errorf("template %s not synced: %w", name, err)
		}
		s.Templates[name] = t
	}
	return models.Audit(ctx, s.db, s.actor(models.RoleAdmin), "template.sync", "app", strconv.FormatInt(s.app.ID, 10), map[string]any{"templates": len(ids)})
}

// seedUsers sends every user with their attributes and tags through the
// JSON API's batch upsert, 1,000 a request.
func (s *demoSeed) seedUsers(ctx context.Context) error {
	r := rand.New(rand.NewPCG(2026, 11))
	tagsOf := func() []string {
		var tags []string
		if r.IntN(100) < 15 {
			tags = append(tags, "vip")
		}
		if r.IntN(100) < 20 {
			tags = append(tags, "new")
		}
		if r.IntN(100) < 10 {
			tags = append(tags, "dormant")
		}
		return tags
	}
	s.openids = make([]string, s.users)
	for start := 0; start < s.users; start += 1000 {
		batch := make([]map[string]any, 0, 1000)
		for i := start; i < min(start+1000, s.users); i++ {
			s.openids[i] = demoOpenID(i)
			u := map[string]any{"openid": s.openids[i], "business_id": fmt.Sprintf("cust-%05d", i+1),
				"tags": tagsOf(),
				"attributes": map[string]any{"nickname": demoNicknames[r.IntN(len(demoNicknames))], "city": demoCities[r.IntN(len(demoCities))],
					"level": 1 + r.IntN(5), "product": demoProducts[r.IntN(len(demoProducts))]}}
			if r.IntN(100) < 8 {
				delete(u["attributes"].(map[string]any), "product") // the campaign's fallback shows
			}
			batch = append(batch, u)
		}
		var out struct {
			Created int `json:"created"`
		}
		if err := s.api(ctx, http.MethodPost, "/api/v1/users:batch", "", map[string]any{"users": batch}, &out); err != nil {
			return err
		}
	}
	s.Users = s.users
	return nil
}

// api calls the console's JSON API with the demo key and decodes a 2xx answer into out.
func (s *demoSeed) api(ctx context.Context, method, path, idemKey string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, s.consoleURL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.apiKey)
	req.Header.Set("Content-Type", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// waitPushes waits until the sandbox has pushed everything to the console
// and checks that the console took every push.
func (s *demoSeed) waitPushes(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := s.sb.WaitPushes(wctx); err != nil {
		return fmt.Errorf("WeChat's pushes did not drain: %w", err)
	}
	if st := s.sb.Stats(); st.PushesDropped > 0 || st.PushesFailed > 0 {
		return fmt.Errorf("the console refused or missed pushes: %d dropped, %d failed", st.PushesDropped, st.PushesFailed)
	}
	return nil
}
