package wechat

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Subscription-message events pushed to the server.
const (
	EventPopup  = "subscribe_msg_popup_event"  // the user answered a popup
	EventChange = "subscribe_msg_change_event" // the user turned a template off (rejects only)
	EventSent   = "subscribe_msg_sent_event"   // final result of a send
)

// Values of EventItem.SubscribeStatus.
const (
	StatusAccept = "accept"
	StatusReject = "reject"
)

// Event is one pushed event. Non-subscription events decode too (common
// fields only, List empty).
type Event struct {
	ToUserName   string // the mini program's original id (gh_...)
	FromUserName string // the user's openid
	CreateTime   int64  // Unix seconds
	MsgType      string // "event"
	Event        string // EventPopup, EventChange, EventSent, ...
	List         []EventItem
	// Raw is the decoded (plaintext) body, for logs and audit.
	Raw []byte `json:"-"`
}

// EventItem is one entry of an event's List.
type EventItem struct {
	TemplateID      string
	SubscribeStatus string // popup and change events: "accept" or "reject"
	PopupScene      int64  // popup events: 0 in a mini program page
	MsgID           int64  // sent events: the msgid Send returned
	ErrorCode       int64  // sent events: 0 delivered
	ErrorStatus     string // sent events: "success" or a failure text
}

// DedupKey identifies List item i of the event across WeChat's retries of
// the same push: "msg:<MsgID>" for sent events, otherwise FromUserName,
// CreateTime, Event and TemplateId joined.
func (e *Event) DedupKey(i int) string {
	it := e.List[i]
	if e.Event == EventSent && it.MsgID != 0 {
		return "msg:" + strconv.FormatInt(it.MsgID, 10)
	}
	return e.FromUserName + "|" + strconv.FormatInt(e.CreateTime, 10) + "|" + e.Event + "|" + it.TemplateID
}

// Format is a push body format.
type Format string

const (
	FormatJSON Format = "json"
	FormatXML  Format = "xml"
)

// ErrBadEvent wraps every decoding failure of DecodeEvent.
var ErrBadEvent = errors.New("wechat: malformed push body")

// DecodeEvent decodes a plaintext push body, XML or JSON (told apart by its
// first non-blank byte), tolerating WeChat's quirks: a JSON List that is an
// object for one item and an array for several, numbers sent as strings or
// numbers, the List at top level or inside its wrapper
// (SubscribeMsgPopupEvent, SubscribeMsgChangeEvent, SubscribeMsgSentEvent),
// and MsgID above 2^53 kept exact. Bad input is an error, never a panic.
func DecodeEvent(body []byte) (*Event, error) {
	ev, _, err := decodeEvent(body)
	return ev, err
}

// decodeEvent also returns the Encrypt field of a safe-mode envelope.
func decodeEvent(body []byte) (*Event, string, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, "", fmt.Errorf("%w: empty", ErrBadEvent)
	}
	var (
		ev  *Event
		enc string
		err error
	)
	switch trimmed[0] {
	case '{':
		ev, enc, err = decodeJSONEvent(trimmed)
	case '<':
		ev, enc, err = decodeXMLEvent(trimmed)
	default:
		return nil, "", fmt.Errorf("%w: neither JSON nor XML", ErrBadEvent)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	ev.Raw = body
	return ev, enc, nil
}

type jsonItem struct {
	TemplateID            FlexString `json:"TemplateId"`
	SubscribeStatusString FlexString `json:"SubscribeStatusString"`
	PopupScene            FlexInt    `json:"PopupScene"`
	MsgID                 FlexInt    `json:"MsgID"`
	ErrorCode             FlexInt    `json:"ErrorCode"`
	ErrorStatus           FlexString `json:"ErrorStatus"`
}

type jsonEvent struct {
	ToUserName   FlexString      `json:"ToUserName"`
	FromUserName FlexString      `json:"FromUserName"`
	CreateTime   FlexInt         `json:"CreateTime"`
	MsgType      FlexString      `json:"MsgType"`
	Event        FlexString      `json:"Event"`
	Encrypt      FlexString      `json:"Encrypt"`
	List         json.RawMessage `json:"List"`
	Popup        json.RawMessage `json:"SubscribeMsgPopupEvent"`
	Change       json.RawMessage `json:"SubscribeMsgChangeEvent"`
	Sent         json.RawMessage `json:"SubscribeMsgSentEvent"`
}

// decodeJSONList decodes a List that is an object, an array or null.
func decodeJSONList(raw json.RawMessage) ([]jsonItem, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	switch raw[0] {
	case '[':
		var items []jsonItem
		err := json.Unmarshal(raw, &items)
		return items, err
	case '{':
		var item jsonItem
		err := json.Unmarshal(raw, &item)
		return []jsonItem{item}, err
	}
	return nil, errors.New("List is neither an object nor an array")
}

// decodeJSONWrapper decodes {"List": ...}, or a bare list, inside a wrapper.
func decodeJSONWrapper(raw json.RawMessage) ([]jsonItem, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] == '[' {
		return decodeJSONList(raw)
	}
	var w struct {
		List json.RawMessage `json:"List"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, err
	}
	return decodeJSONList(w.List)
}

func decodeJSONEvent(body []byte) (*Event, string, error) {
	var je jsonEvent
	if err := json.Unmarshal(body, &je); err != nil {
		return nil, "", err
	}
	items, err := decodeJSONList(je.List)
	if err != nil {
		return nil, "", err
	}
	if items == nil {
		for _, w := range []json.RawMessage{je.Popup, je.Change, je.Sent} {
			if items, err = decodeJSONWrapper(w); err != nil {
				return nil, "", err
			}
			if items != nil {
				break
			}
		}
	}
	ev := &Event{
		ToUserName:   string(je.ToUserName),
		FromUserName: string(je.FromUserName),
		CreateTime:   int64(je.CreateTime),
		MsgType:      string(je.MsgType),
		Event:        string(je.Event),
	}
	for _, it := range items {
		ev.List = append(ev.List, EventItem{
			TemplateID:      string(it.TemplateID),
			SubscribeStatus: string(it.SubscribeStatusString),
			PopupScene:      int64(it.PopupScene),
			MsgID:           int64(it.MsgID),
			ErrorCode:       int64(it.ErrorCode),
			ErrorStatus:     string(it.ErrorStatus),
		})
	}
	return ev, string(je.Encrypt), nil
}

type xmlItem struct {
	TemplateID            string `xml:"TemplateId"`
	SubscribeStatusString string `xml:"SubscribeStatusString"`
	PopupScene            string `xml:"PopupScene"`
	MsgID                 string `xml:"MsgID"`
	MsgIDAlt              string `xml:"MsgId"`
	ErrorCode             string `xml:"ErrorCode"`
	ErrorStatus           string `xml:"ErrorStatus"`
}

type xmlWrapper struct {
	List []xmlItem `xml:"List"`
}

type xmlEvent struct {
	ToUserName   string     `xml:"ToUserName"`
	FromUserName string     `xml:"FromUserName"`
	CreateTime   string     `xml:"CreateTime"`
	MsgType      string     `xml:"MsgType"`
	Event        string     `xml:"Event"`
	Encrypt      string     `xml:"Encrypt"`
	List         []xmlItem  `xml:"List"`
	Popup        xmlWrapper `xml:"SubscribeMsgPopupEvent"`
	Change       xmlWrapper `xml:"SubscribeMsgChangeEvent"`
	Sent         xmlWrapper `xml:"SubscribeMsgSentEvent"`
}

func xmlInt(field, s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := parseFlexInt(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an integer", field, s)
	}
	return n, nil
}

func decodeXMLEvent(body []byte) (*Event, string, error) {
	var xe xmlEvent
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	if err := dec.Decode(&xe); err != nil {
		return nil, "", err
	}
	ct, err := xmlInt("CreateTime", xe.CreateTime)
	if err != nil {
		return nil, "", err
	}
	ev := &Event{
		ToUserName:   strings.TrimSpace(xe.ToUserName),
		FromUserName: strings.TrimSpace(xe.FromUserName),
		CreateTime:   ct,
		MsgType:      strings.TrimSpace(xe.MsgType),
		Event:        strings.TrimSpace(xe.Event),
	}
	items := xe.List
	for _, w := range []xmlWrapper{xe.Popup, xe.Change, xe.Sent} {
		if items != nil {
			break
		}
		items = w.List
	}
	for _, it := range items {
		var out EventItem
		out.TemplateID = strings.TrimSpace(it.TemplateID)
		out.SubscribeStatus = strings.TrimSpace(it.SubscribeStatusString)
		out.ErrorStatus = strings.TrimSpace(it.ErrorStatus)
		if out.PopupScene, err = xmlInt("PopupScene", it.PopupScene); err != nil {
			return nil, "", err
		}
		msgID := it.MsgID
		if strings.TrimSpace(msgID) == "" {
			msgID = it.MsgIDAlt
		}
		if out.MsgID, err = xmlInt("MsgID", msgID); err != nil {
			return nil, "", err
		}
		if out.ErrorCode, err = xmlInt("ErrorCode", it.ErrorCode); err != nil {
			return nil, "", err
		}
		ev.List = append(ev.List, out)
	}
	return ev, strings.TrimSpace(xe.Encrypt), nil
}

// EncodeOptions choose the shape of an encoded event.
type EncodeOptions struct {
	Format Format // FormatJSON (default) or FormatXML
	// StringNumbers writes CreateTime, PopupScene, MsgID and ErrorCode as
	// JSON strings, as WeChat's own JSON samples do.
	StringNumbers bool
	// Wrapped puts the JSON List inside its wrapper object
	// ("SubscribeMsgSentEvent":{"List":...}), as older payloads did. XML is
	// always wrapped.
	Wrapped bool
}

func wrapperName(event string) string {
	switch event {
	case EventPopup:
		return "SubscribeMsgPopupEvent"
	case EventChange:
		return "SubscribeMsgChangeEvent"
	case EventSent:
		return "SubscribeMsgSentEvent"
	}
	return ""
}

// EncodeEvent encodes ev the way WeChat pushes it: a JSON List is an object
// for one item and an array for several; XML wraps the List items.
func EncodeEvent(ev *Event, o EncodeOptions) ([]byte, error) {
	if o.Format == FormatXML {
		return encodeXMLEvent(ev), nil
	}
	if o.Format != "" && o.Format != FormatJSON {
		return nil, fmt.Errorf("wechat: unknown push format %q", o.Format)
	}
	return encodeJSONEvent(ev, o), nil
}

type jsonWriter struct {
	b     bytes.Buffer
	first bool
	strN  bool
}

func (w *jsonWriter) open()  { w.b.WriteByte('{'); w.first = true }
func (w *jsonWriter) close() { w.b.WriteByte('}') }
func (w *jsonWriter) key(k string) {
	if !w.first {
		w.b.WriteByte(',')
	}
	w.first = false
	w.b.WriteByte('"')
	w.b.WriteString(k)
	w.b.WriteString(`":`)
}
func (w *jsonWriter) str(k, v string) {
	w.key(k)
	q, _ := json.Marshal(v)
	w.b.Write(q)
}
func (w *jsonWriter) num(k string, v int64) {
	w.key(k)
	if w.strN {
		w.b.WriteByte('"')
	}
	w.b.WriteString(strconv.FormatInt(v, 10))
	if w.strN {
		w.b.WriteByte('"')
	}
}

func (w *jsonWriter) item(event string, it EventItem) {
	w.open()
	w.str("TemplateId", it.TemplateID)
	switch event {
	case EventPopup:
		w.str("SubscribeStatusString", it.SubscribeStatus)
		w.num("PopupScene", it.PopupScene)
	case EventChange:
		w.str("SubscribeStatusString", it.SubscribeStatus)
	case EventSent:
		w.num("MsgID", it.MsgID)
		w.num("ErrorCode", it.ErrorCode)
		w.str("ErrorStatus", it.ErrorStatus)
	default:
		w.str("SubscribeStatusString", it.SubscribeStatus)
		w.num("PopupScene", it.PopupScene)
		w.num("MsgID", it.MsgID)
		w.num("ErrorCode", it.ErrorCode)
		w.str("ErrorStatus", it.ErrorStatus)
	}
	w.close()
}

func (w *jsonWriter) list(ev *Event) {
	if len(ev.List) == 1 {
		w.item(ev.Event, ev.List[0])
		return
	}
	w.b.WriteByte('[')
	for i, it := range ev.List {
		if i > 0 {
			w.b.WriteByte(',')
		}
		w.item(ev.Event, it)
	}
	w.b.WriteByte(']')
}

func encodeJSONEvent(ev *Event, o EncodeOptions) []byte {
	w := &jsonWriter{strN: o.StringNumbers}
	w.open()
	w.str("ToUserName", ev.ToUserName)
	w.str("FromUserName", ev.FromUserName)
	w.num("CreateTime", ev.CreateTime)
	w.str("MsgType", ev.MsgType)
	w.str("Event", ev.Event)
	if len(ev.List) > 0 {
		if name := wrapperName(ev.Event); o.Wrapped && name != "" {
			w.key(name)
			w.open()
			w.key("List")
			w.list(ev)
			w.close()
		} else {
			w.key("List")
			w.list(ev)
		}
	}
	w.close()
	return w.b.Bytes()
}

func writeCDATA(b *bytes.Buffer, tag, v string) {
	b.WriteString("<" + tag + "><![CDATA[")
	b.WriteString(strings.ReplaceAll(v, "]]>", "]]]]><![CDATA[>"))
	b.WriteString("]]></" + tag + ">")
}

func writeXMLNum(b *bytes.Buffer, tag string, v int64) {
	b.WriteString("<" + tag + ">" + strconv.FormatInt(v, 10) + "</" + tag + ">")
}

func encodeXMLEvent(ev *Event) []byte {
	var b bytes.Buffer
	b.WriteString("<xml>")
	writeCDATA(&b, "ToUserName", ev.ToUserName)
	writeCDATA(&b, "FromUserName", ev.FromUserName)
	writeXMLNum(&b, "CreateTime", ev.CreateTime)
	writeCDATA(&b, "MsgType", ev.MsgType)
	writeCDATA(&b, "Event", ev.Event)
	if len(ev.List) > 0 {
		name := wrapperName(ev.Event)
		if name != "" {
			b.WriteString("<" + name + ">")
		}
		for _, it := range ev.List {
			b.WriteString("<List>")
			writeCDATA(&b, "TemplateId", it.TemplateID)
			switch ev.Event {
			case EventPopup:
				writeCDATA(&b, "SubscribeStatusString", it.SubscribeStatus)
				writeXMLNum(&b, "PopupScene", it.PopupScene)
			case EventChange:
				writeCDATA(&b, "SubscribeStatusString", it.SubscribeStatus)
			case EventSent:
				writeXMLNum(&b, "MsgID", it.MsgID)
				writeXMLNum(&b, "ErrorCode", it.ErrorCode)
				writeCDATA(&b, "ErrorStatus", it.ErrorStatus)
			default:
				writeCDATA(&b, "SubscribeStatusString", it.SubscribeStatus)
				writeXMLNum(&b, "PopupScene", it.PopupScene)
				writeXMLNum(&b, "MsgID", it.MsgID)
				writeXMLNum(&b, "ErrorCode", it.ErrorCode)
				writeCDATA(&b, "ErrorStatus", it.ErrorStatus)
			}
			b.WriteString("</List>")
		}
		if name != "" {
			b.WriteString("</" + name + ">")
		}
	}
	b.WriteString("</xml>")
	return b.Bytes()
}

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
	Safe      bool   // encrypt (safe mode); needs an EncodingAESKey
	Timestamp int64  // Unix seconds; 0 means now
	Nonce     string // "" means random
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
	if o.Safe {
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
		if o.Format == FormatXML {
			b.WriteString("<xml>")
			writeCDATA(&b, "ToUserName", ev.ToUserName)
			writeCDATA(&b, "Encrypt", enc)
			b.WriteString("</xml>")
		} else {
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
