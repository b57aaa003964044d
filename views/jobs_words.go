package views

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/minipush/minipush/views/components"
)

// JobName words a job's name ("sessions-prune" → "清理登录会话"); a job
// the catalogue does not know shows its name.
func JobName(ctx context.Context, name string) string {
	if key := "ux.jobs.name." + name; components.HasKey(key) {
		return T(ctx, key)
	}
	return name
}

func jobDesc(ctx context.Context, name string) string {
	for _, key := range []string{"jobs.desc." + name, "ux.jobs.desc." + name} {
		if components.HasKey(key) {
			return T(ctx, key)
		}
	}
	return ""
}

// DescribeSchedule says a job's schedule in words: "@every 10m" is "每
// 10 分钟", five-field cron specs go through DescribeCron.
func DescribeSchedule(ctx context.Context, spec string) string {
	if d, ok := strings.CutPrefix(spec, "@every "); ok {
		if dur, err := time.ParseDuration(strings.TrimSpace(d)); err == nil && dur > 0 {
			return T(ctx, "ux.every", FormatDuration(ctx, dur.Milliseconds()))
		}
	}
	return DescribeCron(ctx, spec)
}

// FormatDuration says a duration shortly in the page's language: "850 毫秒",
// "12 秒", "10 分钟", "1 小时 30 分钟".
func FormatDuration(ctx context.Context, ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	switch {
	case d < time.Second:
		return T(ctx, "ux.dur.ms", ms)
	case d < time.Minute:
		s := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
		if d%time.Second != 0 {
			s = strconv.FormatFloat(d.Seconds(), 'f', 1, 64)
		}
		return T(ctx, "ux.dur.s", s)
	case d < time.Hour:
		if d%time.Minute == 0 {
			return T(ctx, "ux.dur.m", int(d.Minutes()))
		}
		return T(ctx, "ux.dur.ms2", int(d.Minutes()), int(d.Seconds())%60)
	}
	if d%time.Hour == 0 {
		return T(ctx, "ux.dur.h", int(d.Hours()))
	}
	return T(ctx, "ux.dur.hm", int(d.Hours()), int(d.Minutes())%60)
}
