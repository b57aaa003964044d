package wechat

// Encoding events the way WeChat pushes them (the sandbox and tests).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

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
