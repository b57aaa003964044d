package sandbox

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeSendBody: whenever the hand-written fast path accepts a body,
// encoding/json decodes it to exactly the same request.
func FuzzDecodeSendBody(f *testing.F) {
	for _, s := range []string{
		`{"touser":"o1","template_id":"T","page":"p?x=1","data":{"thing1":{"value":"书"},"time2":{"value":"15:01"}},"miniprogram_state":"trial","lang":"en_US"}`,
		`{}`, ` { "data" : { } } `, `{"data":{"a":{"value":"1"},"a":{"value":"2"}}}`, `{"touser":"o\u00e9"}`,
		`{"TOUSER":"x"}`, `{"data":null}`, `{"touser":1}`, `{"data":{"a":{"value":"x","color":"#fff"}}}`, "{\"touser\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast sendBody
		if !fastDecodeSend(body, &fast) {
			return
		}
		var slow struct {
			ToUser           string `json:"touser"`
			TemplateID       string `json:"template_id"`
			Page             string `json:"page"`
			MiniprogramState string `json:"miniprogram_state"`
			Lang             string `json:"lang"`
			Data             map[string]struct {
				Value string `json:"value"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &slow); err != nil {
			t.Fatalf("fast path accepted what encoding/json refuses (%v): %q", err, body)
		}
		got := map[string]string{}
		for _, kv := range fast.Data {
			got[kv.key] = kv.value
		}
		want := map[string]string{}
		for k, v := range slow.Data {
			want[k] = v.Value
		}
		if fast.ToUser != slow.ToUser || fast.TemplateID != slow.TemplateID || fast.Page != slow.Page ||
			fast.MiniprogramState != slow.MiniprogramState || fast.Lang != slow.Lang || !reflect.DeepEqual(got, want) {
			t.Fatalf("fast %+v\nslow %+v\nbody %q", fast, slow, body)
		}
		for k, v := range want {
			if fv, _ := fast.value(k); fv != v {
				t.Fatalf("value(%q) = %q, want %q", k, fv, v)
			}
		}
	})
}
