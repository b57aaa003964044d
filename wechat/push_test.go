package wechat

import (
	"context"
	"errors"
	"io"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// Official vectors (wechat-api.md §6).
const (
	vecToken  = "AAAAA"
	vecAESKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	vecAppID  = "wxba5fad812f8e6fb9"
	vecEnc    = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
	vecPlain  = `{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}`
)

func TestSignatureVectors(t *testing.T) {
	if got, want := Signature(vecToken, "1714036504", "1514711492"), "f464b24fc39322e44b38aa78f5edd27bd1441696"; got != want {
		t.Errorf("GET signature = %s, want %s", got, want)
	}
	if got, want := Signature(vecToken, "1714037059", "486452656"), "899cf89e464efb63f54ddac96b0a0a235f53aa78"; got != want {
		t.Errorf("POST signature = %s, want %s", got, want)
	}
	if !VerifySignature(vecToken, "F464B24FC39322E44B38AA78F5EDD27BD1441696", "1714036504", "1514711492") {
		t.Error("upper-case hex signature refused")
	}
	if VerifySignature(vecToken, "f464b24fc39322e44b38aa78f5edd27bd1441697", "1714036504", "1514711492") {
		t.Error("wrong signature accepted")
	}
	if VerifySignature("BBBBB", "f464b24fc39322e44b38aa78f5edd27bd1441696", "1714036504", "1514711492") {
		t.Error("signature accepted for another token")
	}
}

func TestVerifyURL(t *testing.T) {
	p, err := NewPush(vecToken, "", vecAppID)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"signature": {"f464b24fc39322e44b38aa78f5edd27bd1441696"}, "timestamp": {"1714036504"}, "nonce": {"1514711492"}, "echostr": {"4375120948345356249"}}
	echo, err := p.VerifyURL(q)
	if err != nil || echo != "4375120948345356249" {
		t.Fatalf("VerifyURL = %q, %v", echo, err)
	}
	q.Set("nonce", "1514711493")
	if _, err := p.VerifyURL(q); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered nonce: err = %v, want ErrBadSignature", err)
	}
}

func TestDecryptVector(t *testing.T) {
	c, err := NewCrypter(vecAESKey, vecAppID)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.Decrypt(vecEnc)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg) != vecPlain || len(msg) != 167 {
		t.Fatalf("decrypted %d bytes %q", len(msg), msg)
	}
	ev, err := DecodeEvent(msg)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Event != "debug_demo" || ev.CreateTime != 1714112445 || ev.FromUserName != "o9AgO5Kd5ggOC-bXrbNODIiE3bGY" {
		t.Fatalf("event = %+v", ev)
	}

	other, _ := NewCrypter(vecAESKey, "wx0000000000000000")
	if _, err := other.Decrypt(vecEnc); !errors.Is(err, ErrAppIDMismatch) {
		t.Fatalf("other AppID: err = %v, want ErrAppIDMismatch", err)
	}
}

func TestEncryptReplyVector(t *testing.T) {
	c, err := NewCrypter(vecAESKey, vecAppID)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := c.EncryptWithRandom([]byte("707722b803182950"), []byte(`{"demo_resp":"good luck"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="; enc != want {
		t.Fatalf("Encrypt = %s, want %s", enc, want)
	}
	if got, want := Signature(vecToken, "1713424427", "415670741", enc), "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"; got != want {
		t.Fatalf("MsgSignature = %s, want %s", got, want)
	}
	if !VerifyMsgSignature(vecToken, "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1", "1713424427", "415670741", enc) {
		t.Fatal("VerifyMsgSignature refused the vector")
	}
}

func TestCrypterRoundTripAndPadding(t *testing.T) {
	c, _ := NewCrypter(vecAESKey, vecAppID)
	// Every length around the 32-byte padding boundary, including an exact
	// multiple (which must get a full block of 32 pad bytes).
	for n := 0; n < 70; n++ {
		msg := []byte(strings.Repeat("x", n))
		enc, err := c.Encrypt(msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decrypt(enc)
		if err != nil || string(got) != string(msg) {
			t.Fatalf("n=%d: got %q, %v", n, got, err)
		}
	}
}

func TestCrypterRejects(t *testing.T) {
	if _, err := NewCrypter("short", vecAppID); !errors.Is(err, ErrBadAESKey) {
		t.Errorf("short key: %v", err)
	}
	if _, err := NewCrypter(strings.Repeat("!", 43), vecAppID); !errors.Is(err, ErrBadAESKey) {
		t.Errorf("non-base64 key: %v", err)
	}
	c, _ := NewCrypter(vecAESKey, vecAppID)
	for name, enc := range map[string]string{
		"not base64":     "!!!",
		"empty":          "",
		"not block size": "AAAA",
		"truncated":      vecEnc[:len(vecEnc)-24] + "==",
		"garbage blocks": strings.Repeat("A", 64),
	} {
		if _, err := c.Decrypt(enc); err == nil {
			t.Errorf("%s: decrypted", name)
		}
	}
}

func TestDecodeEventXMLExample(t *testing.T) {
	body := `<xml><ToUserName><![CDATA[gh_123456789abc]]></ToUserName>
<FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>
<CreateTime>1610969440</CreateTime><MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[subscribe_msg_popup_event]]></Event>
<SubscribeMsgPopupEvent>
 <List><TemplateId><![CDATA[TPL_A]]></TemplateId><SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString><PopupScene>0</PopupScene></List>
 <List><TemplateId><![CDATA[TPL_B]]></TemplateId><SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString><PopupScene>0</PopupScene></List>
</SubscribeMsgPopupEvent></xml>`
	ev, err := DecodeEvent([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := &Event{ToUserName: "gh_123456789abc", FromUserName: "otFpruAK8D-E6EfStSYonYSBZ8_4", CreateTime: 1610969440,
		MsgType: "event", Event: EventPopup, List: []EventItem{
			{TemplateID: "TPL_A", SubscribeStatus: "accept"},
			{TemplateID: "TPL_B", SubscribeStatus: "reject"},
		}}
	ev.Raw = nil
	if !reflect.DeepEqual(ev, want) {
		t.Fatalf("got %+v\nwant %+v", ev, want)
	}
}

func TestDecodeEventJSONQuirks(t *testing.T) {
	sent := EventItem{TemplateID: "TPL_A", MsgID: 1864323726461255680, ErrorStatus: "success"}
	cases := []struct {
		name string
		body string
		want []EventItem
		ct   int64
	}{
		{"reference example: strings, List object", `{"ToUserName":"gh_123456789abc","FromUserName":"o7esq5PHRGBQYmeNyfG064wEFVpQ","CreateTime":"1620963428",
 "MsgType":"event","Event":"subscribe_msg_sent_event",
 "List":{"TemplateId":"TPL_A","MsgID":"1864323726461255680","ErrorCode":"0","ErrorStatus":"success"}}`, []EventItem{sent}, 1620963428},
		{"numbers as numbers, MsgID above 2^53 exact", `{"FromUserName":"o7","CreateTime":1620963428,"MsgType":"event","Event":"subscribe_msg_sent_event",
 "List":{"TemplateId":"TPL_A","MsgID":1864323726461255680,"ErrorCode":0,"ErrorStatus":"success"}}`, []EventItem{sent}, 1620963428},
		{"List array", `{"FromUserName":"o7","CreateTime":"1","Event":"subscribe_msg_sent_event","List":[
 {"TemplateId":"TPL_A","MsgID":"1864323726461255680","ErrorCode":"0","ErrorStatus":"success"},
 {"TemplateId":"TPL_B","MsgID":"9223372036854775807","ErrorCode":"10005","ErrorStatus":"fail:user block"}]}`,
			[]EventItem{sent, {TemplateID: "TPL_B", MsgID: 9223372036854775807, ErrorCode: 10005, ErrorStatus: "fail:user block"}}, 1},
		{"wrapped object", `{"FromUserName":"o7","CreateTime":"1","Event":"subscribe_msg_sent_event",
 "SubscribeMsgSentEvent":{"List":{"TemplateId":"TPL_A","MsgID":"1864323726461255680","ErrorCode":0,"ErrorStatus":"success"}}}`, []EventItem{sent}, 1},
		{"wrapped array", `{"FromUserName":"o7","CreateTime":1,"Event":"subscribe_msg_popup_event",
 "SubscribeMsgPopupEvent":{"List":[{"TemplateId":"A","SubscribeStatusString":"accept","PopupScene":"0"},{"TemplateId":"B","SubscribeStatusString":"reject","PopupScene":0}]}}`,
			[]EventItem{{TemplateID: "A", SubscribeStatus: "accept"}, {TemplateID: "B", SubscribeStatus: "reject"}}, 1},
		{"change event wrapped", `{"FromUserName":"o7","CreateTime":"2","Event":"subscribe_msg_change_event",
 "SubscribeMsgChangeEvent":{"List":{"TemplateId":"A","SubscribeStatusString":"reject"}}}`,
			[]EventItem{{TemplateID: "A", SubscribeStatus: "reject"}}, 2},
		{"null List, no wrapper", `{"FromUserName":"o7","CreateTime":"3","Event":"user_enter_tempsession","List":null}`, nil, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := DecodeEvent([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ev.List, c.want) || ev.CreateTime != c.ct || ev.FromUserName != "o7" && ev.FromUserName != "o7esq5PHRGBQYmeNyfG064wEFVpQ" {
				t.Fatalf("got %+v (list %+v)", ev, ev.List)
			}
		})
	}
}

func TestDecodeEventXMLMsgIDAndBadNumbers(t *testing.T) {
	body := `<xml><FromUserName><![CDATA[o1]]></FromUserName><CreateTime> 1700000000 </CreateTime><Event><![CDATA[subscribe_msg_sent_event]]></Event>
<SubscribeMsgSentEvent><List><TemplateId><![CDATA[T]]></TemplateId><MsgID>3248682510344192008</MsgID><ErrorCode>0</ErrorCode><ErrorStatus><![CDATA[success]]></ErrorStatus></List></SubscribeMsgSentEvent></xml>`
	ev, err := DecodeEvent([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.List) != 1 || ev.List[0].MsgID != 3248682510344192008 || ev.CreateTime != 1700000000 {
		t.Fatalf("got %+v", ev.List)
	}
	if ev.DedupKey(0) != "msg:3248682510344192008" {
		t.Fatalf("DedupKey = %s", ev.DedupKey(0))
	}

	for _, bad := range []string{
		``, `   `, `hello`, `{`, `{"CreateTime":"abc"}`, `{"List":"x"}`, `{"List":{"MsgID":"1x"}}`,
		`{"CreateTime":99999999999999999999}`, `<xml><CreateTime>x</CreateTime></xml>`, `<xml>`,
		`<xml><SubscribeMsgSentEvent><List><MsgID>1.5</MsgID></List></SubscribeMsgSentEvent></xml>`,
	} {
		if _, err := DecodeEvent([]byte(bad)); !errors.Is(err, ErrBadEvent) {
			t.Errorf("DecodeEvent(%q) err = %v, want ErrBadEvent", bad, err)
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	events := []*Event{
		{ToUserName: "gh_1", FromUserName: "o1", CreateTime: 1700000000, MsgType: "event", Event: EventSent,
			List: []EventItem{{TemplateID: "T]]>1", MsgID: 9007199254740993, ErrorStatus: "success"}}},
		{ToUserName: "gh_1", FromUserName: "o1", CreateTime: 1700000001, MsgType: "event", Event: EventPopup,
			List: []EventItem{{TemplateID: "A", SubscribeStatus: "accept"}, {TemplateID: "B", SubscribeStatus: "reject"}, {TemplateID: "C", SubscribeStatus: "accept"}}},
		{ToUserName: "gh_1", FromUserName: "o\"1", CreateTime: 1700000002, MsgType: "event", Event: EventChange,
			List: []EventItem{{TemplateID: "A", SubscribeStatus: "reject"}}},
	}
	opts := []EncodeOptions{
		{Format: FormatJSON}, {Format: FormatJSON, StringNumbers: true}, {Format: FormatJSON, Wrapped: true},
		{Format: FormatJSON, Wrapped: true, StringNumbers: true}, {Format: FormatXML},
	}
	for _, ev := range events {
		for _, o := range opts {
			b, err := EncodeEvent(ev, o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeEvent(b)
			if err != nil {
				t.Fatalf("%+v: %v\n%s", o, err, b)
			}
			got.Raw = nil
			if !reflect.DeepEqual(got, ev) {
				t.Fatalf("%+v: round trip\n got %+v\nwant %+v\n%s", o, got, ev, b)
			}
		}
	}
	// One item: JSON List is an object; several: an array.
	b, _ := EncodeEvent(events[0], EncodeOptions{})
	if !strings.Contains(string(b), `"List":{`) {
		t.Errorf("one item should encode as an object: %s", b)
	}
	b, _ = EncodeEvent(events[1], EncodeOptions{Wrapped: true})
	if !strings.Contains(string(b), `"SubscribeMsgPopupEvent":{"List":[`) {
		t.Errorf("wrapped array: %s", b)
	}
}

func TestPushParseRequestModes(t *testing.T) {
	ev := &Event{ToUserName: "gh_97417a04a28d", FromUserName: "o9AgO5Kd5ggOC-bXrbNODIiE3bGY", CreateTime: 1714112445, MsgType: "event",
		Event: EventSent, List: []EventItem{{TemplateID: "T", MsgID: 3248682510344192008, ErrorStatus: "success"}}}
	p, err := NewPush(vecToken, vecAESKey, vecAppID)
	if err != nil {
		t.Fatal(err)
	}
	for _, safe := range []bool{false, true} {
		for _, f := range []Format{FormatJSON, FormatXML} {
			req, err := p.NewRequest(context.Background(), "http://x/wx/push/app?keep=1", ev, PushOptions{EncodeOptions: EncodeOptions{Format: f, StringNumbers: true}, Safe: safe})
			if err != nil {
				t.Fatal(err)
			}
			if req.URL.Query().Get("keep") != "1" {
				t.Errorf("push URL query lost: %s", req.URL)
			}
			if ct := req.Header.Get("Content-Type"); (f == FormatXML) != strings.HasPrefix(ct, "text/xml") {
				t.Errorf("format %s: Content-Type %s", f, ct)
			}
			body, _ := io.ReadAll(req.Body)
			if safe && strings.Contains(string(body), "3248682510344192008") {
				t.Errorf("safe mode body leaks plaintext: %s", body)
			}
			got, err := p.Parse(req.URL.Query(), body)
			if err != nil {
				t.Fatalf("safe=%v %s: %v\n%s", safe, f, err, body)
			}
			if got.List[0].MsgID != 3248682510344192008 || got.Event != EventSent {
				t.Fatalf("safe=%v %s: %+v", safe, f, got)
			}

			// A wrong token fails verification either way.
			wrong, _ := NewPush("BBBBB", vecAESKey, vecAppID)
			if _, err := wrong.Parse(req.URL.Query(), body); !errors.Is(err, ErrBadSignature) {
				t.Errorf("safe=%v %s: wrong token err = %v", safe, f, err)
			}
			if safe {
				// msg_signature covers Encrypt: a valid plain signature is not enough.
				q := req.URL.Query()
				q.Set("msg_signature", q.Get("signature"))
				if _, err := p.Parse(q, body); !errors.Is(err, ErrBadSignature) {
					t.Errorf("%s: msg_signature not checked: %v", f, err)
				}
				other, _ := NewPush(vecToken, vecAESKey, "wx0000000000000000")
				if _, err := other.Parse(req.URL.Query(), body); !errors.Is(err, ErrAppIDMismatch) {
					t.Errorf("%s: AppID not checked: %v", f, err)
				}
				plainOnly, _ := NewPush(vecToken, "", vecAppID)
				if _, err := plainOnly.Parse(req.URL.Query(), body); !errors.Is(err, ErrNoAESKey) {
					t.Errorf("%s: no key: %v", f, err)
				}
			} else {
				strict, _ := NewPush(vecToken, vecAESKey, vecAppID)
				strict.RequireAES = true
				if _, err := strict.Parse(req.URL.Query(), body); !errors.Is(err, ErrNotEncrypted) {
					t.Errorf("%s: RequireAES: %v", f, err)
				}
			}
		}
	}
}

func TestPushParseOfficialSafeVector(t *testing.T) {
	// The decrypt vector wrapped as WeChat would post it, signed with our
	// own timestamp/nonce (the reference gives no msg_signature for it).
	p, _ := NewPush(vecToken, vecAESKey, vecAppID)
	q := url.Values{"timestamp": {"1714112445"}, "nonce": {"123"}, "encrypt_type": {"aes"},
		"msg_signature": {Signature(vecToken, "1714112445", "123", vecEnc)}}
	body := `<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[` + vecEnc + `]]></Encrypt></xml>`
	ev, err := p.Parse(q, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Event != "debug_demo" || string(ev.Raw) != vecPlain {
		t.Fatalf("got %+v", ev)
	}
}

func TestEncryptReply(t *testing.T) {
	p, _ := NewPush(vecToken, vecAESKey, vecAppID)
	enc, sig, err := p.EncryptReply([]byte(`{"demo_resp":"good luck"}`), "1713424427", "415670741")
	if err != nil {
		t.Fatal(err)
	}
	if !VerifyMsgSignature(vecToken, sig, "1713424427", "415670741", enc) {
		t.Fatal("reply signature does not verify")
	}
	msg, err := p.Crypter().Decrypt(enc)
	if err != nil || string(msg) != `{"demo_resp":"good luck"}` {
		t.Fatalf("%q %v", msg, err)
	}
}
