package handlers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/minipush/minipush/wechat"
)

// Each way a call to WeChat fails without an answer is named in words; the
// refused case is the whole chain the client returns.
func TestNetProblem(t *testing.T) {
	wrap := func(err error) error {
		return &wechat.RequestError{API: "/cgi-bin/stable_token", Err: fmt.Errorf("Post \"http://x\": %w", err)}
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{wrap(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), "wechat.net.refused"},
		{wrap(&net.DNSError{Err: "no such host", Name: "api.weixin.qq.com", IsNotFound: true}), "wechat.net.dns"},
		{wrap(context.DeadlineExceeded), "wechat.net.timeout"},
		{&wechat.RequestError{API: "/x", Written: true, StatusCode: 502, Err: errors.New("HTTP 502")}, "wechat.net.http"},
		{&wechat.TokenError{Err: wrap(errors.New("EOF"))}, "wechat.net.other"},
	} {
		if got := netProblem(c.err); got != c.want {
			t.Errorf("netProblem(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}
