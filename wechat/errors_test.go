package wechat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestErrorClass(t *testing.T) {
	cases := []struct {
		code int
		api  string
		want Class
	}{
		{-1, pathSend, ClassTransient},
		{45011, pathSend, ClassTransient},
		{40001, pathSend, ClassToken},
		{40014, pathSend, ClassToken},
		{42001, PathGetTemplate, ClassToken},
		{41001, pathSend, ClassBug},
		{47001, pathSend, ClassBug},
		{44002, pathSend, ClassBug},
		{404, PathAddTemplate, ClassBug},
		{40003, pathSend, ClassPermanent},
		{40037, pathSend, ClassPermanent},
		{41030, pathSend, ClassPermanent},
		{43101, pathSend, ClassPermanent},
		{43107, pathSend, ClassPermanent},
		{45168, pathSend, ClassPermanent},
		{47003, pathSend, ClassPermanent},
		{43108, pathSend, ClassUserConcurrency},
		{45009, pathSend, ClassQuota},
		{48001, pathSend, ClassConfig},
		{99999, pathSend, ClassPermanent},
		{200014, PathAddTemplate, ClassPermanent},
		{200001, PathGetTemplate, ClassTransient},
		// The token endpoints: credentials problems are configuration.
		{40001, pathStableToken, ClassConfig},
		{40013, pathStableToken, ClassConfig},
		{40125, pathStableToken, ClassConfig},
		{40164, pathStableToken, ClassConfig},
		{40243, pathStableToken, ClassConfig},
		{40002, pathStableToken, ClassBug},
		{-1, pathStableToken, ClassTransient},
		{45009, pathStableToken, ClassQuota},
	}
	for _, c := range cases {
		e := &Error{Code: c.code, API: c.api}
		if got := e.Class(); got != c.want {
			t.Errorf("%d on %s: class %s, want %s", c.code, c.api, got, c.want)
		}
		if got, ok := Classify(fmt.Errorf("wrapped: %w", e)); !ok || got != c.want {
			t.Errorf("Classify(%d on %s) = %s", c.code, c.api, got)
		}
	}
	if !ClassTransient.Retryable() || !ClassUserConcurrency.Retryable() || ClassOutcomeUnknown.Retryable() || ClassPermanent.Retryable() {
		t.Error("Retryable wrong")
	}
	if ClassUserConcurrency.String() != "user_concurrency" || Class(99).String() != "class(99)" {
		t.Error("Class.String wrong")
	}
}

func TestErrorDetails(t *testing.T) {
	e := &Error{Code: 47003, Msg: "argument invalid! data.thing3.value invalid rid: 6472dfd0-1b2c3d4e-5f607182", API: pathSend}
	if e.RID() != "6472dfd0-1b2c3d4e-5f607182" || e.Field() != "thing3" {
		t.Errorf("RID %q Field %q", e.RID(), e.Field())
	}
	if !strings.Contains(e.Error(), "47003") || !strings.Contains(e.Error(), pathSend) {
		t.Errorf("Error() = %s", e.Error())
	}
	if (&Error{Code: 43101, Msg: "user refuse to accept the msg"}).RID() != "" {
		t.Error("RID without rid")
	}
	if !errors.Is(fmt.Errorf("x: %w", e), &Error{Code: 47003}) || errors.Is(e, &Error{Code: 43101}) {
		t.Error("errors.Is by code")
	}
	if !IsCode(fmt.Errorf("x: %w", e), 47003) || IsCode(errors.New("x"), 47003) {
		t.Error("IsCode")
	}
}

func TestExplain(t *testing.T) {
	en := Explain(43101, "en")
	if !strings.HasPrefix(en, "43101: ") || !strings.Contains(en, "tap allow again") {
		t.Errorf("en: %s", en)
	}
	for _, lang := range []string{"zh", "zh_CN", "zh-CN", "ZH"} {
		if zh := Explain(43101, lang); !strings.HasPrefix(zh, "43101：") || !strings.Contains(zh, "允许") {
			t.Errorf("%s: %s", lang, zh)
		}
	}
	if !strings.Contains(Explain(123456, "en"), "not in WeChat's published code list") || !strings.Contains(Explain(123456, "zh"), "错误码表里没有") {
		t.Error("unknown code")
	}
	// Every code with a constant has both texts.
	for code, ex := range explanations {
		if ex.zh == "" || ex.en == "" {
			t.Errorf("%d lacks a text", code)
		}
	}
	tokErr := &Error{Code: 40001, API: pathStableToken}
	if !strings.Contains(tokErr.Explain("en"), "AppSecret") {
		t.Errorf("stable_token 40001: %s", tokErr.Explain("en"))
	}
}

func TestRequestErrorIs(t *testing.T) {
	notSent := &RequestError{API: pathSend, Err: errors.New("dial tcp: connection refused")}
	unknown := &RequestError{API: pathSend, Written: true, Err: context.DeadlineExceeded}
	read := &RequestError{API: PathGetTemplate, Written: true, Idempotent: true, Err: errors.New("reset")}
	if !errors.Is(notSent, ErrNotSent) || errors.Is(notSent, ErrOutcomeUnknown) {
		t.Error("not sent")
	}
	if errors.Is(unknown, ErrNotSent) || !errors.Is(unknown, ErrOutcomeUnknown) || !errors.Is(unknown, context.DeadlineExceeded) {
		t.Error("unknown")
	}
	if errors.Is(read, ErrNotSent) || errors.Is(read, ErrOutcomeUnknown) {
		t.Error("idempotent written call is neither")
	}
	if c, _ := Classify(unknown); c != ClassOutcomeUnknown {
		t.Errorf("Classify(unknown) = %s", c)
	}
	if c, _ := Classify(notSent); c != ClassTransient {
		t.Errorf("Classify(notSent) = %s", c)
	}
	// A failure to get a token wraps even a "written" token request as not sent.
	te := &TokenError{Err: &RequestError{API: pathStableToken, Written: true, Idempotent: true, Err: errors.New("reset")}}
	if !errors.Is(te, ErrNotSent) || errors.Is(te, ErrOutcomeUnknown) {
		t.Error("TokenError")
	}
	cfg := &TokenError{Err: &Error{Code: 40125, API: pathStableToken}}
	if c, _ := Classify(cfg); c != ClassConfig {
		t.Errorf("Classify(token config) = %s", c)
	}
	if _, ok := Classify(nil); ok {
		t.Error("Classify(nil)")
	}
}

func TestFlexInt(t *testing.T) {
	for in, want := range map[string]int64{`1`: 1, `"1"`: 1, `" 42 "`: 42, `null`: 0, `""`: 0, `"9223372036854775807"`: 9223372036854775807,
		`3248682510344192008`: 3248682510344192008, `-1`: -1, `12.0`: 12} {
		var f FlexInt
		if err := f.UnmarshalJSON([]byte(in)); err != nil || int64(f) != want {
			t.Errorf("%s: %d, %v", in, f, err)
		}
	}
	for _, bad := range []string{`"x"`, `1.5`, `true`, `{}`, `[]`, `"9223372036854775808"`, ``} {
		var f FlexInt
		if err := f.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("%s accepted as %d", bad, f)
		}
	}
	var s FlexString
	for in, want := range map[string]string{`"616"`: "616", `616`: "616", `null`: ""} {
		if err := s.UnmarshalJSON([]byte(in)); err != nil || string(s) != want {
			t.Errorf("%s: %q %v", in, s, err)
		}
	}
	if err := s.UnmarshalJSON([]byte(`true`)); err == nil {
		t.Error("FlexString accepted true")
	}
}

// The failure a sent event reports when the user blocks the account's
// messages is explained, not "not in WeChat's list".
func TestExplainSentEventUserBlock(t *testing.T) {
	for lang, want := range map[string]string{"en": "10005: WeChat's sent event reported a failure (fail:user block)", "zh": "10005：微信的发送结果事件报告失败"} {
		if got := Explain(CodeSentUserBlock, lang); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q", lang, got)
		}
	}
}
