package wechat

// The events WeChat pushes and how their bodies decode (XML or JSON,
// with WeChat's quirks).

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
