package sandbox

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minipush/minipush/wechat"
)

// maxPushTries is WeChat's documented number of tries for an unanswered push.
const maxPushTries = 3

type pushJob struct {
	app   *app
	ev    *wechat.Event
	tries int
}

// pusher delivers events to push URLs from a bounded queue with a few
// workers, so a slow or dead push URL never slows sends.
type pusher struct {
	s      *Server
	ch     chan *pushJob
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	pending   atomic.Int64 // queued + being sent + waiting to retry
	delivered atomic.Int64
	failed    atomic.Int64 // gave up after maxPushTries
	dropped   atomic.Int64 // queue full or server closed
	attempts  atomic.Int64
	repeated  atomic.Int64 // extra copies (Faults.PushRepeatRate)

	lostMu sync.Mutex
	lost   []lostPush // given up or dropped, oldest first, at most maxLostPushes
}

// lostPush is a push WeChat gave up on (tries exhausted) or dropped.
type lostPush struct {
	appid string
	ev    *wechat.Event
}

// maxLostPushes bounds the pushes remembered by LostPushes.
const maxLostPushes = 1 << 20

func (p *pusher) remember(j *pushJob) {
	p.lostMu.Lock()
	defer p.lostMu.Unlock()
	if len(p.lost) < maxLostPushes {
		p.lost = append(p.lost, lostPush{cfgOf(j).AppID, j.ev})
	}
}

func newPusher(s *Server) *pusher {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pusher{s: s, ch: make(chan *pushJob, s.opts.PushQueue), ctx: ctx, cancel: cancel}
	for range s.opts.PushWorkers {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

func (p *pusher) stop() {
	p.cancel()
	p.wg.Wait()
}

// enqueue never blocks: a full queue drops the push. The app's faults may
// delay it (PushJitter) and send copies of it (PushRepeatRate).
func (p *pusher) enqueue(a *app, ev *wechat.Event) {
	f := a.faults.Load()
	copies := 1
	if f != nil && f.PushRepeatRate > 0 && rand.Float64() < f.PushRepeatRate {
		extra := max(f.PushRepeats, 1)
		copies += extra
		p.repeated.Add(int64(extra))
	}
	for range copies {
		p.pending.Add(1)
		j := &pushJob{app: a, ev: ev}
		if f == nil || f.PushJitter <= 0 {
			p.put(j)
			continue
		}
		time.AfterFunc(rand.N(f.PushJitter), func() { p.put(j) })
	}
}

// put queues j (already counted in pending).
func (p *pusher) put(j *pushJob) {
	if p.ctx.Err() != nil {
		p.pending.Add(-1)
		p.dropped.Add(1)
		p.remember(j)
		return
	}
	select {
	case p.ch <- j:
	default:
		p.pending.Add(-1)
		p.dropped.Add(1)
		p.remember(j)
		p.s.log.Warn("sandbox: push queue full, push dropped", "appid", cfgOf(j).AppID, "event", j.ev.Event)
	}
}

func cfgOf(j *pushJob) *AppConfig { return j.app.cfg.Load() }

func (p *pusher) work() {
	defer p.wg.Done()
	for {
		select {
		case <-p.ctx.Done():
			return
		case j := <-p.ch:
			p.deliver(j)
		}
	}
}

func (p *pusher) deliver(j *pushJob) {
	j.tries++
	p.attempts.Add(1)
	err := p.send(j)
	if err == nil {
		p.delivered.Add(1)
		p.pending.Add(-1)
		return
	}
	log := p.s.log.With("appid", cfgOf(j).AppID, "event", j.ev.Event, "try", j.tries, "err", err)
	if j.tries >= maxPushTries {
		log.Warn("sandbox: push failed, giving up")
		p.remember(j)
		p.failed.Add(1)
		p.pending.Add(-1)
		return
	}
	log.Debug("sandbox: push failed, will retry")
	time.AfterFunc(p.s.opts.PushRetryDelay, func() { p.put(j) })
}

type pushError struct {
	status int
	body   string
}

func (e *pushError) Error() string {
	return "push answered HTTP " + http.StatusText(e.status) + ": " + e.body
}

func (p *pusher) send(j *pushJob) error {
	pc := j.app.push.Load()
	if pc == nil || pc.url == "" {
		return nil // push URL removed meanwhile: nothing to do
	}
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	req, err := pc.push.NewRequest(ctx, pc.url, j.ev, wechat.PushOptions{
		EncodeOptions: wechat.EncodeOptions{Format: pc.format, StringNumbers: pc.format == wechat.FormatJSON},
		Safe:          pc.safe,
		Compatible:    pc.compat,
		Timestamp:     p.s.now().Unix(),
	})
	if err != nil {
		return err
	}
	res, err := p.s.opts.PushClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	// WeChat wants "success" or an empty body.
	if b := bytes.TrimSpace(body); res.StatusCode != http.StatusOK || (len(b) > 0 && !bytes.Equal(b, []byte("success"))) {
		return &pushError{res.StatusCode, string(b)}
	}
	return nil
}
