package main

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minipush/minipush/wechat/sandbox"
)

// demoSim keeps the demo alive: every tick a few users tap "allow" in the
// mini program (the sandbox's popup, pushed to the console by WeChat, and
// reported by the mini program's backend through the API: one credit for
// the two reports) and the business backend sends them a message through
// the API, which the engine delivers and WeChat's sent event settles.
type demoSim struct {
	seed  *demoSeed
	every time.Duration

	Taps, Messages, Errors atomic.Int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newDemoSim(s *demoSeed, every time.Duration) *demoSim {
	if every <= 0 {
		every = time.Second
	}
	return &demoSim{seed: s, every: every}
}

func (m *demoSim) start() {
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))
		t := time.NewTicker(m.every)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for range 1 + r.IntN(3) {
				if err := m.step(ctx, r, n); err != nil && ctx.Err() == nil {
					m.Errors.Add(1)
					m.seed.log.Warn("demo simulator: a step failed", "err", err)
				}
			}
		}
	}()
}

func (m *demoSim) stop() {
	if m.cancel != nil {
		m.cancel()
		m.wg.Wait()
	}
}

// step has one user tap allow for a template and receive a message of it.
func (m *demoSim) step(ctx context.Context, r *rand.Rand, n int) error {
	s := m.seed
	o := s.openids[r.IntN(len(s.openids))]
	names := []string{"order_shipped", "payment", "new_message"}
	name := names[r.IntN(len(names))]
	tpl := s.Templates[name]
	if _, err := s.sb.Popup(demoAppID, o, map[string]string{tpl.TemplateID: sandbox.PopupAccept}); err != nil {
		return err
	}
	// The mini program's backend reports the same tap (paired with
	// WeChat's push: one credit either way).
	key := "sim-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(n)
	err := s.api(ctx, "POST", "/api/v1/subscriptions", key+"-tap", map[string]any{"openid": o,
		"result": map[string]string{tpl.TemplateID: "accept", "errMsg": "requestSubscribeMessage:ok"}}, nil)
	if err != nil {
		return err
	}
	m.Taps.Add(1)
	if r.IntN(100) < 15 {
		return nil // allowed now, messaged later (by a campaign)
	}
	now := time.Now().In(s.loc)
	var data map[string]string
	switch name {
	case "order_shipped":
		data = map[string]string{"thing1": demoProducts[r.IntN(len(demoProducts))], "thing4": "京东物流", "character_string5": "JD" + now.Format("0102150405"), "phrase9": "已发货"}
	case "payment":
		if err := retryNoCredit(func() error { return s.sendPayment(ctx, r, o, key) }); err != nil {
			return err
		}
		m.Messages.Add(1)
		return nil
	case "new_message":
		data = map[string]string{"name1": demoNicknames[r.IntN(len(demoNicknames))], "thing2": "你有一条新的私信，点击查看", "time3": now.Format("2006-01-02 15:04")}
	}
	body := map[string]any{"template_id": tpl.TemplateID, "openid": o, "data": data}
	if err := retryNoCredit(func() error { return s.api(ctx, "POST", "/api/v1/messages", key, body, nil) }); err != nil {
		return err
	}
	m.Messages.Add(1)
	return nil
}

// retryNoCredit sends once more, half a second later, when the API
// answered no_credit: the mini program's report of a tap can pair with
// WeChat's push of an earlier tap (one it never reported, within 10
// minutes), and the new tap's credit then comes with its own push, a
// moment later.
func retryNoCredit(send func() error) error {
	err := send()
	if err != nil && strings.Contains(err.Error(), `"no_credit"`) {
		time.Sleep(500 * time.Millisecond)
		err = send()
	}
	return err
}
