package handlers

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/minipush/minipush/wechat"
)

// pushWindow is how far a push's timestamp may be from our clock. WeChat
// signs each try of a push when it sends it and gives up after three tries
// of 5 s, so a genuine push is seconds old; five minutes leaves room for
// clock skew. Outside it a push is refused as a possible replay of a
// logged request.
const pushWindow = 5 * time.Minute

// Bounds on what one push may carry. A popup lists the templates of one
// requestSubscribeMessage call (a handful); identifiers are short.
const (
	maxPushItems = 50
	maxPushID    = 128
)

// pushReplays remembers the signed queries of recent pushes with a hash of
// their body. In plaintext mode the signature covers only timestamp and
// nonce, so a logged URL could be replayed with a new body: a query seen
// again within the window must come with the same body (WeChat's own
// retries do; they change nothing, being deduplicated).
type pushReplays struct {
	mu   sync.Mutex
	seen map[string]replayEntry
}

type replayEntry struct {
	body [32]byte
	at   time.Time
}

// maxReplayEntries bounds the memory: past it, entries older than the
// window are dropped, and if that frees nothing the oldest half goes.
const maxReplayEntries = 200_000

// errPushStale and errPushReplayed say why a signed push was refused.
var (
	errPushStale    = errors.New("push timestamp outside the accepted window")
	errPushReplayed = errors.New("signed query already used with another body")
)

// check refuses a push whose timestamp is outside the window, or whose
// signed query was seen with another body.
func (r *pushReplays) check(appID string, q url.Values, body []byte, now time.Time) error {
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not a number", errPushStale, q.Get("timestamp"))
	}
	if d := now.Sub(time.Unix(ts, 0)); d > pushWindow || d < -pushWindow {
		return fmt.Errorf("%w: %s from this server's clock", errPushStale, d.Round(time.Second))
	}
	key := appID + "\x00" + q.Get("timestamp") + "\x00" + q.Get("nonce") + "\x00" + q.Get("signature") + "\x00" + q.Get("msg_signature")
	sum := sha256.Sum256(body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]replayEntry{}
	}
	if e, ok := r.seen[key]; ok && now.Sub(e.at) <= 2*pushWindow {
		if e.body != sum {
			return errPushReplayed
		}
		return nil
	}
	if len(r.seen) >= maxReplayEntries {
		r.prune(now)
	}
	r.seen[key] = replayEntry{body: sum, at: now}
	return nil
}

func (r *pushReplays) prune(now time.Time) {
	for k, e := range r.seen {
		if now.Sub(e.at) > 2*pushWindow {
			delete(r.seen, k)
		}
	}
	if len(r.seen) < maxReplayEntries {
		return
	}
	n := 0
	for k := range r.seen { // map order is random: drop about half
		if n%2 == 0 {
			delete(r.seen, k)
		}
		n++
	}
}

// checkPushEvent refuses identifiers WeChat never sends (empty or over
// maxPushID) and more list items than a push carries.
func checkPushEvent(ev *wechat.Event) error {
	if ev.FromUserName == "" || len(ev.FromUserName) > maxPushID {
		return fmt.Errorf("FromUserName (openid) must be 1 to %d bytes, got %d", maxPushID, len(ev.FromUserName))
	}
	if len(ev.List) > maxPushItems {
		return fmt.Errorf("List has %d items, at most %d are taken", len(ev.List), maxPushItems)
	}
	for i, it := range ev.List {
		if len(it.TemplateID) > maxPushID {
			return fmt.Errorf("List[%d].TemplateId is %d bytes, at most %d are taken", i, len(it.TemplateID), maxPushID)
		}
	}
	return nil
}

// refusal says, for WeChat's logs and whoever set the push up, why a push
// was refused, naming what to check and never a secret.
func refusal(err error) string {
	switch {
	case errors.Is(err, wechat.ErrNotEncrypted):
		return "plaintext push refused: this account is in safe mode in minipush; set WeChat's message push to safe mode (安全模式), or the account to plaintext"
	case errors.Is(err, wechat.ErrNoAESKey):
		return "encrypted push, but no EncodingAESKey is set for this account in minipush: set the same key as in WeChat's message push settings"
	case errors.Is(err, wechat.ErrAppIDMismatch):
		return "the encrypted message is for another AppID: the push URL must end with the AppID of the mini program whose settings point here"
	case errors.Is(err, wechat.ErrBadPadding), errors.Is(err, wechat.ErrBadCiphertext):
		return "the message could not be decrypted: check that the EncodingAESKey in minipush matches WeChat's message push settings"
	case errors.Is(err, errPushStale):
		return "push refused as a possible replay: its timestamp is more than 5 minutes from this server's clock (check the clock)"
	case errors.Is(err, errPushReplayed):
		return "push refused as a replay: this signed request was already received with a different body"
	}
	return "signature mismatch: check that the Token in minipush matches WeChat's message push settings"
}
