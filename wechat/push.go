package wechat

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Push verifies and decodes the message pushes of one mini program, and
// builds them (for the sandbox and tests).
type Push struct {
	token   string
	crypter *Crypter
	// RequireAES refuses plaintext pushes (set it when the app is configured
	// for safe mode only).
	RequireAES bool
}

// Errors of Push.
var (
	ErrBadSignature = errors.New("wechat: push signature mismatch")
	ErrNoAESKey     = errors.New("wechat: encrypted push but no EncodingAESKey configured")
	ErrNotEncrypted = errors.New("wechat: plaintext push refused: safe mode required")
)

// NewPush returns a Push for the app's push Token, EncodingAESKey ("" for
// plaintext only) and AppID (checked against encrypted messages).
func NewPush(token, encodingAESKey, appID string) (*Push, error) {
	p := &Push{token: token}
	if encodingAESKey != "" {
		c, err := NewCrypter(encodingAESKey, appID)
		if err != nil {
			return nil, err
		}
		p.crypter = c
	}
	return p, nil
}

// Crypter returns the Crypter, nil when no EncodingAESKey was given.
func (p *Push) Crypter() *Crypter { return p.crypter }

// VerifyURL checks WeChat's GET verification (signature, timestamp, nonce,
// echostr) and returns echostr, to be answered as is.
func (p *Push) VerifyURL(q url.Values) (string, error) {
	if !VerifySignature(p.token, q.Get("signature"), q.Get("timestamp"), q.Get("nonce")) {
		return "", ErrBadSignature
	}
	return q.Get("echostr"), nil
}

// maxPushBody bounds what ParseRequest reads.
const maxPushBody = 1 << 20

// ParseRequest verifies and decodes a POSTed push. Answer "success" (or an
// empty body) quickly, unencrypted even in safe mode.
func (p *Push) ParseRequest(r *http.Request) (*Event, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPushBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxPushBody {
		return nil, fmt.Errorf("%w: body over %d bytes", ErrBadEvent, maxPushBody)
	}
	return p.Parse(r.URL.Query(), body)
}

// Parse verifies and decodes a push from its query and body. With
// encrypt_type=aes it checks msg_signature over token, timestamp, nonce and
// Encrypt, decrypts (checking the AppID) and decodes the message; otherwise
// it checks signature and decodes the body.
func (p *Push) Parse(q url.Values, body []byte) (*Event, error) {
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	if q.Get("encrypt_type") != "aes" {
		if p.RequireAES {
			return nil, ErrNotEncrypted
		}
		if !VerifySignature(p.token, q.Get("signature"), ts, nonce) {
			return nil, ErrBadSignature
		}
		return DecodeEvent(body)
	}
	if p.crypter == nil {
		return nil, ErrNoAESKey
	}
	_, enc, err := decodeEvent(body)
	if err != nil {
		return nil, err
	}
	if enc == "" {
		return nil, fmt.Errorf("%w: no Encrypt field", ErrBadEvent)
	}
	if !VerifyMsgSignature(p.token, q.Get("msg_signature"), ts, nonce, enc) {
		return nil, ErrBadSignature
	}
	msg, err := p.crypter.Decrypt(enc)
	if err != nil {
		return nil, err
	}
	return DecodeEvent(msg)
}

// PushOptions choose how NewRequest builds a push.
type PushOptions struct {
	EncodeOptions
	Safe bool // encrypt (safe mode); needs an EncodingAESKey
	// Compatible sends the plaintext message with the encrypted one beside
	// it in the same body (WeChat's compatible mode, 兼容模式); implies Safe.
	Compatible bool
	Timestamp  int64  // Unix seconds; 0 means now
	Nonce      string // "" means random
}

// NewRequest builds the POST WeChat would send to pushURL for ev: signed,
// plaintext or encrypted, JSON or XML.
func (p *Push) NewRequest(ctx context.Context, pushURL string, ev *Event, o PushOptions) (*http.Request, error) {
	body, err := EncodeEvent(ev, o.EncodeOptions)
	if err != nil {
		return nil, err
	}
	ts := o.Timestamp
	if ts == 0 {
		ts = time.Now().Unix()
	}
	nonce := o.Nonce
	if nonce == "" {
		nonce = randomDigits(9)
	}
	tsStr := strconv.FormatInt(ts, 10)
	q := url.Values{
		"signature": {Signature(p.token, tsStr, nonce)},
		"timestamp": {tsStr},
		"nonce":     {nonce},
	}
	if ev.FromUserName != "" {
		q.Set("openid", ev.FromUserName)
	}
	if o.Safe || o.Compatible {
		if p.crypter == nil {
			return nil, ErrNoAESKey
		}
		enc, err := p.crypter.Encrypt(body)
		if err != nil {
			return nil, err
		}
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", Signature(p.token, tsStr, nonce, enc))
		var b bytes.Buffer
		switch {
		case o.Compatible:
			b.Write(compatibleBody(body, enc, o.Format))
		case o.Format == FormatXML:
			b.WriteString("<xml>")
			writeCDATA(&b, "ToUserName", ev.ToUserName)
			writeCDATA(&b, "Encrypt", enc)
			b.WriteString("</xml>")
		default:
			w := &jsonWriter{}
			w.open()
			w.str("ToUserName", ev.ToUserName)
			w.str("Encrypt", enc)
			w.close()
			b = w.b
		}
		body = b.Bytes()
	}
	u, err := url.Parse(pushURL)
	if err != nil {
		return nil, err
	}
	uq := u.Query()
	for k, v := range q {
		uq[k] = v
	}
	u.RawQuery = uq.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if o.Format == FormatXML {
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	} else {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	return req, nil
}

// compatibleBody adds the Encrypt field to a plaintext body, as WeChat's
// compatible mode sends it: the message readable and encrypted side by
// side. Only the encrypted part is signed (msg_signature), so a receiver
// must use that one.
func compatibleBody(plain []byte, enc string, f Format) []byte {
	var b bytes.Buffer
	if f == FormatXML {
		end := bytes.LastIndex(plain, []byte("</xml>"))
		b.Write(plain[:end])
		writeCDATA(&b, "Encrypt", enc)
		b.Write(plain[end:])
		return b.Bytes()
	}
	end := bytes.LastIndexByte(plain, '}')
	b.Write(plain[:end])
	w := &jsonWriter{} // not opened: the field comes after others, comma first
	w.str("Encrypt", enc)
	b.Write(w.b.Bytes())
	b.Write(plain[end:])
	return b.Bytes()
}

// EncryptReply encrypts a reply message and signs it (msg_signature over
// token, timestamp, nonce and the Encrypt value). Rarely needed: a push is
// normally answered with plain "success".
func (p *Push) EncryptReply(msg []byte, timestamp, nonce string) (encrypt, msgSignature string, err error) {
	if p.crypter == nil {
		return "", "", ErrNoAESKey
	}
	encrypt, err = p.crypter.Encrypt(msg)
	if err != nil {
		return "", "", err
	}
	return encrypt, Signature(p.token, timestamp, nonce, encrypt), nil
}

func randomDigits(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	if b[0] == '0' {
		b[0] = '1'
	}
	return string(b)
}
