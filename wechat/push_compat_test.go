package wechat

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// Compatible mode (兼容模式): the body carries the plaintext message and the
// encrypted one; only the encrypted one is signed, so Parse uses it and a
// changed plaintext part changes nothing.
func TestPushCompatibleMode(t *testing.T) {
	p, err := NewPush(vecToken, vecAESKey, vecAppID)
	if err != nil {
		t.Fatal(err)
	}
	p.RequireAES = true
	ev := &Event{ToUserName: "gh_97417a04a28d", FromUserName: "o_alice", CreateTime: 1714112445, MsgType: "event", Event: EventPopup,
		List: []EventItem{{TemplateID: "TPL_A", SubscribeStatus: StatusAccept}}}
	for _, f := range []Format{FormatJSON, FormatXML} {
		t.Run(string(f), func(t *testing.T) {
			req, err := p.NewRequest(context.Background(), "http://example.com/wx/push/"+vecAppID, ev, PushOptions{EncodeOptions: EncodeOptions{Format: f}, Compatible: true})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(req.Body)
			q := req.URL.Query()
			if q.Get("encrypt_type") != "aes" || q.Get("msg_signature") == "" || q.Get("signature") == "" {
				t.Fatalf("query %v: want encrypt_type=aes, msg_signature and signature", q)
			}
			if !bytes.Contains(body, []byte("o_alice")) || !bytes.Contains(body, []byte("Encrypt")) || !bytes.Contains(body, []byte("TPL_A")) {
				t.Fatalf("body is not plaintext and ciphertext side by side: %s", body)
			}
			if _, err := DecodeEvent(body); err != nil {
				t.Fatalf("the compatible body is not a well-formed %s event: %v\n%s", f, err, body)
			}
			got, err := p.Parse(q, body)
			if err != nil || got.FromUserName != "o_alice" || len(got.List) != 1 || got.List[0].SubscribeStatus != StatusAccept {
				t.Fatalf("Parse = %+v, %v", got, err)
			}
			// A forger edits the readable part: ignored, the signed part wins.
			forged := bytes.Replace(body, []byte("accept"), []byte("reject"), 1)
			if bytes.Equal(forged, body) || !bytes.Contains(forged, []byte("reject")) {
				t.Fatal("test did not change the plaintext part")
			}
			got, err = p.Parse(q, forged)
			if err != nil || got.List[0].SubscribeStatus != StatusAccept {
				t.Fatalf("forged plaintext part: Parse = %+v, %v; want the encrypted accept", got, err)
			}
			// Editing the encrypted part breaks msg_signature.
			tampered := bytes.Clone(body)
			i := bytes.Index(tampered, []byte(`"Encrypt":"`)) + len(`"Encrypt":"`)
			if f == FormatXML {
				i = bytes.Index(tampered, []byte("<Encrypt><![CDATA[")) + len("<Encrypt><![CDATA[")
			}
			if tampered[i] == 'A' {
				tampered[i] = 'B'
			} else {
				tampered[i] = 'A'
			}
			if _, err := p.Parse(q, tampered); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("tampered ciphertext: err = %v, want ErrBadSignature", err)
			}
		})
	}
}
