package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/minipush/minipush/logctx"
)

func TestLogFormat(t *testing.T) {
	cases := []struct {
		args []string
		env  string
		want string
		rest string
		bad  bool
	}{
		{[]string{"serve", "--addr", ":1"}, "", "text", "serve --addr :1", false},
		{[]string{"serve", "--log-format", "json", "--addr", ":1"}, "", "json", "serve --addr :1", false},
		{[]string{"--log-format=json", "serve"}, "text", "json", "serve", false},
		{[]string{"serve", "-log-format=text"}, "json", "text", "serve", false},
		{[]string{"serve"}, "json", "json", "serve", false},
		{[]string{"serve", "--log-format", "yaml"}, "", "", "", true},
		{[]string{"serve"}, "xml", "", "", true},
		{[]string{"serve", "--log-format"}, "", "", "", true},
	}
	for _, c := range cases {
		rest, format, err := logFormatArg(c.args, c.env)
		if c.bad {
			if err == nil || !strings.Contains(err.Error(), "text or json") {
				t.Errorf("%v env %q: err %v, want one saying text or json", c.args, c.env, err)
			}
			continue
		}
		if err != nil || format != c.want || strings.Join(rest, " ") != c.rest {
			t.Errorf("%v env %q: %q %v %v, want %q %q", c.args, c.env, format, rest, err, c.want, c.rest)
		}
	}
	var buf bytes.Buffer
	log := newLogger(&buf, "json")
	log.InfoContext(logctx.With(context.Background(), "request_id", "r1"), "hello", "n", 1)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["msg"] != "hello" || m["request_id"] != "r1" || m["n"] != float64(1) {
		t.Fatalf("json line %q: %v %v", buf.String(), m, err)
	}
	buf.Reset()
	newLogger(&buf, "text").Info("hello")
	if !strings.Contains(buf.String(), "level=INFO msg=hello") {
		t.Fatalf("text line %q", buf.String())
	}
}
