package views

import (
	"context"
	"testing"

	"github.com/minipush/minipush/views/components"
)

func TestDescribeCron(t *testing.T) {
	en := components.WithRequest(context.Background(), &components.Request{Lang: "en"})
	zh := components.WithRequest(context.Background(), &components.Request{Lang: "zh"})
	cases := []struct{ expr, en, zh string }{
		{"*/15 * * * *", "every 15 minutes", "每 15 分钟"},
		{"5 * * * *", "every hour at minute 5", "每小时第 5 分"},
		{"0 */2 * * *", "every 2 hours at minute 0", "每 2 小时的第 0 分"},
		{"30 9 * * *", "every day at 09:30", "每天 09:30"},
		{"0 8,20 * * *", "every day at 08:00, 20:00", "每天 08:00, 20:00"},
		{"30 9 * * 1-5", "every Monday to Friday at 09:30", "每周一至周五 09:30"},
		{"0 10 * * SAT,SUN", "every Saturday, Sunday at 10:00", "每周六、周日 10:00"},
		{"0 12 1 * *", "on day 1 of every month at 12:00", "每月 1 日 12:00"},
		{"@daily", "every day at 00:00", "每天 00:00"},
		{"0 9 1 1 *", "cron: 0 9 1 1 *", "cron：0 9 1 1 *"},
		{"0 9 L * *", "cron: 0 9 L * *", "cron：0 9 L * *"},
		{"nonsense", "cron: nonsense", "cron：nonsense"},
	}
	for _, c := range cases {
		if got := DescribeCron(en, c.expr); got != c.en {
			t.Errorf("%q (en): %q, want %q", c.expr, got, c.en)
		}
		if got := DescribeCron(zh, c.expr); got != c.zh {
			t.Errorf("%q (zh): %q, want %q", c.expr, got, c.zh)
		}
	}
}
