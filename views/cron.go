package views

import (
	"context"
	"strconv"
	"strings"
)

// DescribeCron says a five-field cron expression in words for the common
// forms (every N minutes, hourly, daily, on weekdays, monthly); other
// expressions are shown as they are.
func DescribeCron(ctx context.Context, expr string) string {
	f := strings.Fields(expr)
	raw := T(ctx, "cron.raw", expr)
	if len(f) != 5 {
		switch expr {
		case "@daily", "@midnight":
			return T(ctx, "cron.daily", "00:00")
		case "@hourly":
			return T(ctx, "cron.hourly", 0)
		}
		return raw
	}
	min, hour, dom, mon, dow := f[0], f[1], f[2], f[3], f[4]
	if mon != "*" {
		return raw
	}
	if n, ok := strings.CutPrefix(min, "*/"); ok && hour == "*" && dom == "*" && dow == "*" {
		if v, err := strconv.Atoi(n); err == nil {
			return T(ctx, "cron.every_minutes", v)
		}
		return raw
	}
	m, err := strconv.Atoi(min)
	if err != nil || m < 0 || m > 59 {
		return raw
	}
	if hour == "*" && dom == "*" && dow == "*" {
		return T(ctx, "cron.hourly", m)
	}
	if n, ok := strings.CutPrefix(hour, "*/"); ok && dom == "*" && dow == "*" {
		if v, err := strconv.Atoi(n); err == nil {
			return T(ctx, "cron.every_hours", v, m)
		}
		return raw
	}
	var times []string
	for _, hs := range strings.Split(hour, ",") {
		h, err := strconv.Atoi(hs)
		if err != nil || h < 0 || h > 23 {
			return raw
		}
		times = append(times, clock(h, m))
	}
	at := strings.Join(times, ", ")
	switch {
	case dom == "*" && dow == "*":
		return T(ctx, "cron.daily", at)
	case dom == "*":
		days, ok := weekdays(ctx, dow)
		if !ok {
			return raw
		}
		return T(ctx, "cron.weekly", days, at)
	case dow == "*":
		if _, err := strconv.Atoi(strings.ReplaceAll(dom, ",", "")); err != nil {
			return raw
		}
		return T(ctx, "cron.monthly", dom, at)
	}
	return raw
}

func clock(h, m int) string {
	return strconv.Itoa(h/10) + strconv.Itoa(h%10) + ":" + strconv.Itoa(m/10) + strconv.Itoa(m%10)
}

// weekdays names a day-of-week field: "1-5", "0,6", "MON-FRI", "1".
func weekdays(ctx context.Context, f string) (string, bool) {
	names := map[string]int{"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
	day := func(s string) (int, bool) {
		if n, ok := names[strings.ToUpper(s)]; ok {
			return n, true
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 7 {
			return 0, false
		}
		return n % 7, true
	}
	var parts []string
	for _, p := range strings.Split(f, ",") {
		if a, b, ok := strings.Cut(p, "-"); ok {
			x, ok1 := day(a)
			y, ok2 := day(b)
			if !ok1 || !ok2 {
				return "", false
			}
			parts = append(parts, T(ctx, "cron.dow."+strconv.Itoa(x))+T(ctx, "cron.range")+T(ctx, "cron.dow."+strconv.Itoa(y)))
			continue
		}
		x, ok := day(p)
		if !ok {
			return "", false
		}
		parts = append(parts, T(ctx, "cron.dow."+strconv.Itoa(x)))
	}
	return strings.Join(parts, T(ctx, "cron.sep")), true
}
