package wechat

import (
	"errors"
	"net/url"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeEvent: any body decodes or fails with ErrBadEvent, never panics;
// what decodes re-encodes and decodes to the same event.
func FuzzDecodeEvent(f *testing.F) {
	seeds := []string{
		vecPlain,
		`{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":"1620963428","MsgType":"event","Event":"subscribe_msg_sent_event","List":{"TemplateId":"T","MsgID":"1864323726461255680","ErrorCode":"0","ErrorStatus":"success"}}`,
		`{"Event":"subscribe_msg_popup_event","List":[{"TemplateId":"A","SubscribeStatusString":"accept","PopupScene":0},{"TemplateId":"B","SubscribeStatusString":"reject","PopupScene":"0"}]}`,
		`{"Event":"subscribe_msg_sent_event","SubscribeMsgSentEvent":{"List":[{"MsgID":1}]}}`,
		`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><CreateTime>1</CreateTime><Event><![CDATA[subscribe_msg_popup_event]]></Event><SubscribeMsgPopupEvent><List><TemplateId><![CDATA[A]]></TemplateId><SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString><PopupScene>0</PopupScene></List></SubscribeMsgPopupEvent></xml>`,
		`<xml><Encrypt><![CDATA[abc]]></Encrypt></xml>`,
		`{"List":null}`, `{"List":"x"}`, `<xml><CreateTime>x</CreateTime></xml>`, ``, `[]`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := DecodeEvent(body)
		if err != nil {
			if !errors.Is(err, ErrBadEvent) {
				t.Fatalf("error not wrapping ErrBadEvent: %v", err)
			}
			return
		}
		if !validEventStrings(ev) {
			return // invalid UTF-8 inside does not survive a JSON round trip
		}
		for _, o := range []EncodeOptions{{Format: FormatJSON, StringNumbers: true}, {Format: FormatXML}} {
			b, err := EncodeEvent(ev, o)
			if err != nil {
				t.Fatal(err)
			}
			again, err := DecodeEvent(b)
			if err != nil {
				t.Fatalf("re-decoding %s: %v", b, err)
			}
			if again.CreateTime != ev.CreateTime || len(again.List) != len(ev.List) && knownEvent(ev.Event) {
				t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, again)
			}
			for i := range again.List {
				if knownEvent(ev.Event) && (again.List[i].MsgID != ev.List[i].MsgID && ev.Event == EventSent) {
					t.Fatalf("MsgID changed: %d → %d", ev.List[i].MsgID, again.List[i].MsgID)
				}
			}
		}
	})
}

func knownEvent(e string) bool { return e == EventSent || e == EventPopup || e == EventChange }

// validEventStrings: every string is valid UTF-8 without characters XML
// cannot carry.
func validEventStrings(ev *Event) bool {
	ok := func(s string) bool {
		if !utf8.ValidString(s) {
			return false
		}
		for _, r := range s {
			if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF || r >= 0xD800 && r < 0xE000 {
				return false
			}
		}
		return true
	}
	strs := []string{ev.ToUserName, ev.FromUserName, ev.MsgType, ev.Event}
	for _, it := range ev.List {
		strs = append(strs, it.TemplateID, it.SubscribeStatus, it.ErrorStatus)
	}
	for _, s := range strs {
		if !ok(s) {
			return false
		}
	}
	return true
}

// FuzzDecrypt: any Encrypt value decrypts or errors, never panics; what we
// encrypt always decrypts back.
func FuzzDecrypt(f *testing.F) {
	f.Add(vecEnc, []byte("hello"))
	f.Add("", []byte{})
	f.Add("AAAAAAAAAAAAAAAAAAAAAA==", []byte("x"))
	f.Add("ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==", []byte(`{"a":1}`))
	c, err := NewCrypter(vecAESKey, vecAppID)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, enc string, msg []byte) {
		_, _ = c.Decrypt(enc)
		out, err := c.Encrypt(msg)
		if err != nil {
			t.Fatal(err)
		}
		back, err := c.Decrypt(out)
		if err != nil || string(back) != string(msg) {
			t.Fatalf("round trip: %q, %v", back, err)
		}
	})
}

// FuzzPushParse: whatever query and body arrive, Parse answers without
// panicking, and never accepts a body without a valid signature.
func FuzzPushParse(f *testing.F) {
	f.Add("encrypt_type=aes&timestamp=1&nonce=2&msg_signature=x", []byte(`{"ToUserName":"gh","Encrypt":"`+vecEnc+`"}`))
	f.Add("timestamp=1714037059&nonce=486452656&signature=899cf89e464efb63f54ddac96b0a0a235f53aa78", []byte(vecPlain))
	f.Add("encrypt_type=aes", []byte(`<xml><Encrypt>abc</Encrypt></xml>`))
	p, err := NewPush(vecToken, vecAESKey, vecAppID)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rawQuery string, body []byte) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		ev, err := p.Parse(q, body)
		if err != nil {
			return
		}
		// Accepted: the signature must really match.
		ts, nonce := q.Get("timestamp"), q.Get("nonce")
		if q.Get("encrypt_type") == "aes" {
			_, enc, _ := decodeEvent(body)
			if !VerifyMsgSignature(vecToken, q.Get("msg_signature"), ts, nonce, enc) {
				t.Fatalf("accepted without a valid msg_signature: %+v", ev)
			}
		} else if !VerifySignature(vecToken, q.Get("signature"), ts, nonce) {
			t.Fatalf("accepted without a valid signature: %+v", ev)
		}
	})
}

// FuzzParseContent: never panics; what parses has well-formed keys.
func FuzzParseContent(f *testing.F) {
	f.Add("订单号:{{character_string1.DATA}}\n金额:{{amount2.DATA}}")
	f.Add("{{thing1.DATA}}{{thing2.DATA}}")
	f.Add("{{")
	f.Add("}}{{x.DATA}}")
	f.Fuzz(func(t *testing.T, content string) {
		kws, err := ParseContent(content)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, kw := range kws {
			typ, _, ok := SplitKey(kw.Key)
			if !ok || typ != kw.Type || seen[kw.Key] {
				t.Fatalf("bad keyword %+v", kw)
			}
			seen[kw.Key] = true
		}
	})
}

// FuzzCheckValue: never panics, the error is always a *ValueError naming
// the keyword, and what passes has no control characters and fits the
// type's length.
func FuzzCheckValue(f *testing.F) {
	for typ, cases := range valueCases {
		for _, c := range cases {
			f.Add(typ, c.value)
		}
	}
	limits := map[string]int{TypeThing: 20, TypeShortThing: 5, TypeNumber: 32, TypeLetter: 32, TypeSymbol: 5, TypeCharacterString: 32,
		TypePhoneNumber: 17, TypeCarNumber: 8, TypeName: 20, TypePhrase: 5}
	f.Fuzz(func(t *testing.T, typ, value string) {
		kw := Keyword{Key: typ + "1", Type: typ, Label: "L", Enum: []string{"客厅", "卧室"}}
		err := CheckValue(kw, value)
		if err != nil {
			var ve *ValueError
			if !errors.As(err, &ve) || ve.Key != kw.Key {
				t.Fatalf("error %T %v", err, err)
			}
			_ = ve.Message("zh")
			return
		}
		if !utf8.ValidString(value) || value == "" {
			t.Fatalf("accepted %q", value)
		}
		for _, r := range value {
			if r < 0x20 || r == 0x7f || r == '\u2028' {
				t.Fatalf("accepted control character in %q", value)
			}
		}
		if max, ok := limits[typ]; ok && utf8.RuneCountInString(value) > max {
			t.Fatalf("%s accepted %d characters", typ, utf8.RuneCountInString(value))
		}
	})
}
