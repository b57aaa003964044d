package sandbox

import (
	"encoding/json"
	"unicode/utf8"
)

// sendBody is a decoded send request. Data keeps the keyword values in
// arrival order; templates have at most a handful of keywords, so a slice
// scan beats a map.
type sendBody struct {
	ToUser           string
	TemplateID       string
	Page             string
	MiniprogramState string
	Lang             string
	Data             []keyValue
}

type keyValue struct{ key, value string }

func (b *sendBody) value(key string) (string, bool) {
	for i := len(b.Data) - 1; i >= 0; i-- { // last one wins, like encoding/json
		if b.Data[i].key == key {
			return b.Data[i].value, true
		}
	}
	return "", false
}

// decodeSendBody decodes a send body. The common shape (plain strings, the
// documented fields, data entries holding only "value") is scanned by hand
// without reflection; anything else goes through encoding/json, so the
// result and the errors are the same either way.
func decodeSendBody(body []byte, out *sendBody) error {
	if fastDecodeSend(body, out) {
		return nil
	}
	*out = sendBody{}
	var req struct {
		ToUser           string `json:"touser"`
		TemplateID       string `json:"template_id"`
		Page             string `json:"page"`
		MiniprogramState string `json:"miniprogram_state"`
		Lang             string `json:"lang"`
		Data             map[string]struct {
			Value string `json:"value"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return err
	}
	*out = sendBody{ToUser: req.ToUser, TemplateID: req.TemplateID, Page: req.Page, MiniprogramState: req.MiniprogramState, Lang: req.Lang}
	for k, v := range req.Data {
		out.Data = append(out.Data, keyValue{k, v.Value})
	}
	return nil
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a JSON string without escapes; false for anything else.
func (s *scanner) str() (string, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
	}
	start := s.i + 1
	high := false
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			// encoding/json turns invalid UTF-8 into U+FFFD: leave those to it.
			if high && !utf8.Valid(s.b[start:j]) {
				return "", false
			}
			s.i = j + 1
			return string(s.b[start:j]), true
		case c >= 0x80:
			high = true
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

// fastDecodeSend reports false whenever the body is not the plain shape,
// leaving the decision to encoding/json.
func fastDecodeSend(body []byte, out *sendBody) bool {
	s := &scanner{b: body}
	if !s.eat('{') {
		return false
	}
	if s.eat('}') {
		s.ws()
		return s.i == len(s.b)
	}
	for {
		key, ok := s.str()
		if !ok || !s.eat(':') {
			return false
		}
		if key == "data" {
			if !s.data(out) {
				return false
			}
		} else {
			v, ok := s.str()
			if !ok {
				return false
			}
			switch key {
			case "touser":
				out.ToUser = v
			case "template_id":
				out.TemplateID = v
			case "page":
				out.Page = v
			case "miniprogram_state":
				out.MiniprogramState = v
			case "lang":
				out.Lang = v
			default:
				return false
			}
		}
		if s.eat(',') {
			continue
		}
		if !s.eat('}') {
			return false
		}
		s.ws()
		return s.i == len(s.b)
	}
}

func (s *scanner) data(out *sendBody) bool {
	if !s.eat('{') {
		return false
	}
	if s.eat('}') {
		return true
	}
	for {
		key, ok := s.str()
		if !ok || !s.eat(':') || !s.eat('{') {
			return false
		}
		name, ok := s.str()
		if !ok || name != "value" || !s.eat(':') {
			return false
		}
		v, ok := s.str()
		if !ok || !s.eat('}') {
			return false
		}
		out.Data = append(out.Data, keyValue{key, v})
		if s.eat(',') {
			continue
		}
		return s.eat('}')
	}
}
