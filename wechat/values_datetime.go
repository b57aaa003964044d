package wechat

import (
	"strconv"
	"strings"
)

// checkRange checks a time or date value, or two joined with ~.
func (r Rules) checkRange(kw Keyword, value string) *ValueError {
	if strings.ContainsAny(value, "～〜") {
		return r.newErr(kw, RuleFullWidthTilde)
	}
	parts := strings.Split(value, "~")
	if len(parts) > 2 {
		return r.newErr(kw, RuleFormat)
	}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		var ok bool
		if kw.Type == TypeTime {
			ok = isTimeValue(p)
		} else {
			ok = isDateValue(p)
		}
		if !ok {
			return r.newErr(kw, RuleFormat)
		}
	}
	return nil
}

// isTimeValue: a clock, optionally after a date that has a day.
func isTimeValue(s string) bool {
	if isClock(s) {
		return true
	}
	d, rest, ok := parseDate(s)
	if !ok || !d.hasDay {
		return false
	}
	return isClockAfterDate(rest, d)
}

// isDateValue: a date in one of the formats, optionally with a clock when
// it has a day.
func isDateValue(s string) bool {
	d, rest, ok := parseDate(s)
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	return d.hasDay && isClockAfterDate(rest, d)
}

func isClockAfterDate(rest string, d dateParts) bool {
	trimmed := strings.TrimLeft(rest, " ")
	if trimmed == rest && !d.cjk {
		return false // "2019-10-0115:01": numeric dates need a space
	}
	return isClock(trimmed)
}

type dateParts struct {
	hasDay bool
	cjk    bool // ends with 日 (no space needed before a clock)
}

// parseDate reads a date at the start of s and returns what follows.
// Formats: Y年M月D日, Y年M月, M月D日, Y-M-D, Y/M/D, Y.M.D, Y-M, M-D
// (Y four digits; M and D one or two; "-" may be "/" or "." throughout).
func parseDate(s string) (dateParts, string, bool) {
	// CJK forms.
	if y, rest, ok := readDigits(s, 4, 4); ok && strings.HasPrefix(rest, "年") {
		rest = rest[len("年"):]
		m, rest, ok := readDigits(rest, 1, 2)
		if !ok || !strings.HasPrefix(rest, "月") || !validMonth(m) {
			return dateParts{}, "", false
		}
		rest = rest[len("月"):]
		if d, r2, ok := readDigits(rest, 1, 2); ok && strings.HasPrefix(r2, "日") {
			if !validDay(y, m, d) {
				return dateParts{}, "", false
			}
			return dateParts{hasDay: true, cjk: true}, r2[len("日"):], true
		}
		return dateParts{}, rest, true
	}
	if m, rest, ok := readDigits(s, 1, 2); ok && strings.HasPrefix(rest, "月") {
		rest = rest[len("月"):]
		d, r2, ok := readDigits(rest, 1, 2)
		if !ok || !strings.HasPrefix(r2, "日") || !validMonth(m) || !validDay(0, m, d) {
			return dateParts{}, "", false
		}
		return dateParts{hasDay: true, cjk: true}, r2[len("日"):], true
	}
	// Numeric forms.
	a, rest, ok := readDigits(s, 1, 4)
	if !ok || rest == "" || !strings.ContainsRune("-/.", rune(rest[0])) {
		return dateParts{}, "", false
	}
	sep := rest[0]
	aLen := len(s) - len(rest)
	b, rest, ok := readDigits(rest[1:], 1, 2)
	if !ok {
		return dateParts{}, "", false
	}
	if aLen == 4 { // Y-M or Y-M-D
		if !validMonth(b) {
			return dateParts{}, "", false
		}
		if rest != "" && rest[0] == sep {
			d, r2, ok := readDigits(rest[1:], 1, 2)
			if !ok || !validDay(a, b, d) {
				return dateParts{}, "", false
			}
			return dateParts{hasDay: true}, r2, true
		}
		return dateParts{}, rest, true
	}
	if aLen > 2 || !validMonth(a) || !validDay(0, a, b) { // M-D
		return dateParts{}, "", false
	}
	return dateParts{hasDay: true}, rest, true
}

// isClock: H:MM or H:MM:SS, 24-hour.
func isClock(s string) bool {
	h, rest, ok := readDigits(s, 1, 2)
	if !ok || h > 23 || !strings.HasPrefix(rest, ":") {
		return false
	}
	m, rest, ok := readDigits(rest[1:], 2, 2)
	if !ok || m > 59 {
		return false
	}
	if rest == "" {
		return true
	}
	if rest[0] != ':' {
		return false
	}
	sec, rest, ok := readDigits(rest[1:], 2, 2)
	return ok && sec <= 59 && rest == ""
}

// readDigits reads between min and max ASCII digits (and no more) at the
// start of s.
func readDigits(s string, min, max int) (int, string, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i < min || i > max {
		return 0, s, false
	}
	n, _ := strconv.Atoi(s[:i])
	return n, s[i:], true
}

func validMonth(m int) bool { return m >= 1 && m <= 12 }

// validDay checks d against month m of year y (y 0: any year, so 2-29 is
// allowed).
func validDay(y, m, d int) bool {
	if d < 1 {
		return false
	}
	days := [...]int{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m-1]
	if m == 2 && y != 0 && !(y%4 == 0 && (y%100 != 0 || y%400 == 0)) {
		days = 28
	}
	return d <= days
}
