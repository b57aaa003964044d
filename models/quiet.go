package models

import (
	"strconv"
	"strings"
	"time"
)

// ReasonQuietHours: skipped because it fell inside the account's quiet
// hours and the account skips rather than defers.
const ReasonQuietHours = "quiet_hours"

// QuietWindow tells whether now falls inside the app's quiet hours (in the
// app's time zone) and, if so, when the window ends (UTC). Quiet hours
// apply to campaign deliveries only: test sends and API messages go out.
// A window may cross midnight ("22:00"–"08:00"); an empty or zero-length
// one is off.
func QuietWindow(a *App, now time.Time) (bool, time.Time) {
	s, ok1 := clockMinutes(a.QuietStart)
	e, ok2 := clockMinutes(a.QuietEnd)
	if !ok1 || !ok2 || s == e {
		return false, time.Time{}
	}
	loc, err := time.LoadLocation(a.Timezone)
	if err != nil || a.Timezone == "" {
		loc, _ = time.LoadLocation("Asia/Shanghai")
		if loc == nil {
			loc = time.UTC
		}
	}
	lt := now.In(loc)
	m := lt.Hour()*60 + lt.Minute()
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	at := func(d time.Time, min int) time.Time {
		return time.Date(d.Year(), d.Month(), d.Day(), min/60, min%60, 0, 0, loc).UTC()
	}
	if s < e {
		if m >= s && m < e {
			return true, at(day, e)
		}
		return false, time.Time{}
	}
	switch {
	case m >= s:
		return true, at(day.AddDate(0, 0, 1), e)
	case m < e:
		return true, at(day, e)
	}
	return false, time.Time{}
}

func clockMinutes(s string) (int, bool) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, false
	}
	return hh*60 + mm, true
}
