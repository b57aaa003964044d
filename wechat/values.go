package wechat

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Keyword types (the part of a data key before its index).
const (
	TypeThing           = "thing"
	TypeNumber          = "number"
	TypeLetter          = "letter"
	TypeSymbol          = "symbol"
	TypeCharacterString = "character_string"
	TypeTime            = "time"
	TypeDate            = "date"
	TypeAmount          = "amount"
	TypePhoneNumber     = "phone_number"
	TypeCarNumber       = "car_number"
	TypeName            = "name"
	TypePhrase          = "phrase"
	TypeEnumString      = "enum_string"
	TypeShortThing      = "short_thing"
)

// KnownTypes lists every keyword type the rules know, in documentation order.
var KnownTypes = []string{
	TypeThing, TypeNumber, TypeLetter, TypeSymbol, TypeCharacterString, TypeTime, TypeDate,
	TypeAmount, TypePhoneNumber, TypeCarNumber, TypeName, TypePhrase, TypeEnumString, TypeShortThing,
}

// Keyword is one placeholder of a template's content.
type Keyword struct {
	Label string // text before the placeholder on its line: "订单号"
	Key   string // data key: "character_string1"
	Type  string // "character_string"
	// Enum holds the allowed values of an enum_string keyword (from
	// gettemplate's keywordEnumValueList); nil when unknown.
	Enum []string
}

// ParseContent reads the keywords of a template's content, in order, from
// lines like "订单号:{{character_string1.DATA}}". Indexes are kept as they
// are (they need not be sequential). It fails on a malformed or duplicate
// placeholder and on content without any.
func ParseContent(content string) ([]Keyword, error) {
	var kws []Keyword
	seen := make(map[string]bool)
	for _, line := range strings.Split(content, "\n") {
		rest := line
		for {
			open := strings.Index(rest, "{{")
			if open < 0 {
				if strings.Contains(rest, "}}") {
					return nil, fmt.Errorf("wechat: content: %q has }} without {{", line)
				}
				break
			}
			closeAt := strings.Index(rest[open:], "}}")
			if closeAt < 0 {
				return nil, fmt.Errorf("wechat: content: %q has {{ without }}", line)
			}
			inner := strings.TrimSpace(rest[open+2 : open+closeAt])
			key, ok := strings.CutSuffix(inner, ".DATA")
			if !ok {
				return nil, fmt.Errorf("wechat: content: placeholder {{%s}} does not end in .DATA", inner)
			}
			typ, _, ok := SplitKey(key)
			if !ok {
				return nil, fmt.Errorf("wechat: content: %q is not a keyword key (type and index, like thing1)", key)
			}
			if seen[key] {
				return nil, fmt.Errorf("wechat: content: keyword %s appears twice", key)
			}
			seen[key] = true
			label := strings.TrimSpace(rest[:open])
			label = strings.TrimSpace(strings.TrimRight(label, ":："))
			kws = append(kws, Keyword{Label: label, Key: key, Type: typ})
			rest = rest[open+closeAt+2:]
		}
	}
	if len(kws) == 0 {
		return nil, errors.New("wechat: content has no {{key.DATA}} placeholder")
	}
	return kws, nil
}

// SplitKey splits a data key like "character_string12" into its type and
// index. ok is false when key is not lower-case letters and underscores
// followed by digits.
func SplitKey(key string) (typ string, index int, ok bool) {
	i := len(key)
	for i > 0 && key[i-1] >= '0' && key[i-1] <= '9' {
		i--
	}
	if i == 0 || i == len(key) || len(key)-i > 6 {
		return "", 0, false
	}
	typ = key[:i]
	if typ[0] == '_' || typ[len(typ)-1] == '_' {
		return "", 0, false
	}
	for j := 0; j < len(typ); j++ {
		if c := typ[j]; (c < 'a' || c > 'z') && c != '_' {
			return "", 0, false
		}
	}
	index, _ = strconv.Atoi(key[i:])
	return typ, index, true
}

// Rule names the rule a value broke.
type Rule string

const (
	RuleMissing        Rule = "missing"         // no value for the keyword
	RuleEmpty          Rule = "empty"           // empty or blank
	RuleEncoding       Rule = "encoding"        // not valid UTF-8
	RuleControl        Rule = "control"         // control character or line break
	RuleTooLong        Rule = "too_long"        // more characters than the type allows
	RuleCharset        Rule = "charset"         // a character the type does not allow
	RuleFormat         Rule = "format"          // not in one of the type's formats
	RuleFullWidthTilde Rule = "fullwidth_tilde" // range joined with ～ instead of ~
	RuleEnum           Rule = "enum"            // not one of the template's enum values
)

// ValueError says which keyword a value fails and which rule it breaks.
type ValueError struct {
	Key   string // "thing1"
	Label string // "商品名称", may be empty
	Type  string // "thing"
	Rule  Rule
	Max   int    // for RuleTooLong: the limit, in characters
	Len   int    // for RuleTooLong: the value's length, in characters
	Char  string // for RuleCharset: the first character not allowed
	Enum  []string
	// ShortThingMax is the short_thing limit in force, for the description.
	ShortThingMax int
}

func (e *ValueError) Error() string { return e.Message("en") }

// Message renders the error for people: Chinese when lang starts with "zh",
// English otherwise. It names the keyword, the rule broken and the type's
// rule, e.g. "thing1 (商品名称): 23 characters, at most 20 — thing: up to
// 20 characters (Chinese, letters, digits, symbols)".
func (e *ValueError) Message(lang string) string {
	zh := isZh(lang)
	var b strings.Builder
	b.WriteString(e.Key)
	if e.Label != "" {
		if zh {
			b.WriteString("（" + e.Label + "）")
		} else {
			b.WriteString(" (" + e.Label + ")")
		}
	}
	if zh {
		b.WriteString("：")
	} else {
		b.WriteString(": ")
	}
	b.WriteString(e.reason(zh))
	if e.Rule == RuleMissing || e.Rule == RuleEmpty || e.Rule == RuleControl || e.Rule == RuleEncoding {
		return b.String()
	}
	if zh {
		b.WriteString("。规则：")
	} else {
		b.WriteString(". Rule: ")
	}
	b.WriteString(typeRule(e.Type, e.ShortThingMax, e.Enum, zh))
	return b.String()
}

func (e *ValueError) reason(zh bool) string {
	switch e.Rule {
	case RuleMissing:
		if zh {
			return "缺少这个关键词的值"
		}
		return "no value given for this keyword"
	case RuleEmpty:
		if zh {
			return "值不能为空"
		}
		return "the value is empty"
	case RuleEncoding:
		if zh {
			return "值不是有效的 UTF-8 文本"
		}
		return "the value is not valid UTF-8 text"
	case RuleControl:
		if zh {
			return "值不能包含换行或控制字符"
		}
		return "the value must not contain line breaks or control characters"
	case RuleTooLong:
		if zh {
			return fmt.Sprintf("共 %d 个字符，最多 %d 个", e.Len, e.Max)
		}
		return fmt.Sprintf("%d characters, at most %d allowed", e.Len, e.Max)
	case RuleCharset:
		if zh {
			return fmt.Sprintf("不允许的字符 %q", e.Char)
		}
		return fmt.Sprintf("character %q is not allowed", e.Char)
	case RuleFullWidthTilde:
		if zh {
			return "时间段须用半角 ~ 连接，不能用全角 ～"
		}
		return "join a range with the half-width ~, not the full-width ～"
	case RuleEnum:
		if zh {
			return "不是模板允许的枚举值"
		}
		return "not one of the template's enum values"
	default:
		if zh {
			return "格式不正确"
		}
		return "wrong format"
	}
}

func typeRule(typ string, shortMax int, enum []string, zh bool) string {
	if shortMax <= 0 {
		shortMax = defaultShortThingMax
	}
	type pair struct{ zh, en string }
	var p pair
	switch typ {
	case TypeThing:
		p = pair{"thing：最多 20 个字符，可为汉字、字母、数字、符号", "thing: up to 20 characters (Chinese, letters, digits, symbols)"}
	case TypeNumber:
		p = pair{"number：最多 32 位数字，可带小数", "number: up to 32 digits, decimals allowed"}
	case TypeLetter:
		p = pair{"letter：最多 32 个字母", "letter: up to 32 letters only"}
	case TypeSymbol:
		p = pair{"symbol：最多 5 个符号", "symbol: up to 5 symbols only (no letters, digits or Chinese)"}
	case TypeCharacterString:
		p = pair{"character_string：最多 32 个数字、字母或符号，不能含汉字", "character_string: up to 32 digits, letters or symbols, no Chinese"}
	case TypeTime:
		p = pair{"time：24 小时制时间，可带日期，如 15:01、15:01:09、2019年10月1日 15:01、2019-10-01 15:01；时间段用半角 ~ 连接",
			"time: a 24-hour time, optionally with a date: 15:01, 15:01:09, 2019年10月1日 15:01, 2019-10-01 15:01; a range joins two with ~"}
	case TypeDate:
		p = pair{"date：日期，如 2019年10月1日、2019-10-01、2019/10/01、2019.10.01、2019年10月、10月1日、2019-10、10-01，可带 24 小时制时间；时间段用半角 ~ 连接",
			"date: a date such as 2019年10月1日, 2019-10-01, 2019/10/01, 2019.10.01, 2019年10月, 10月1日, 2019-10, 10-01, optionally with a 24-hour time; a range joins two with ~"}
	case TypeAmount:
		p = pair{"amount：1 个币种符号加最多 10 位数字，可带小数，结尾可带“元”，如 ¥100.50、100元",
			"amount: one currency symbol and up to 10 digits, decimals allowed, may end with 元: ¥100.50, 100元"}
	case TypePhoneNumber:
		p = pair{"phone_number：最多 17 位数字和符号，如 +86-0766-66888866", "phone_number: up to 17 digits and symbols: +86-0766-66888866"}
	case TypeCarNumber:
		p = pair{"car_number：最多 8 个字符，首尾可为汉字，其余为字母或数字，如 粤A8Z888挂",
			"car_number: up to 8 characters; first and last may be Chinese, the rest letters or digits: 粤A8Z888挂"}
	case TypeName:
		p = pair{"name：最多 10 个汉字，或最多 20 个字母或符号；中英混合按汉字计", "name: up to 10 Chinese characters, or up to 20 letters or symbols; mixed counts as Chinese"}
	case TypePhrase:
		p = pair{"phrase：最多 5 个汉字，如 配送中", "phrase: up to 5 Chinese characters only: 配送中"}
	case TypeEnumString:
		vals := strings.Join(enum, "、")
		if !zh {
			vals = strings.Join(enum, ", ")
		}
		p = pair{"enum_string：必须是模板的枚举值之一：" + vals, "enum_string: must be one of the template's values: " + vals}
	case TypeShortThing:
		n := strconv.Itoa(shortMax)
		p = pair{"short_thing：最多 " + n + " 个字符（微信未公开此规则）", "short_thing: up to " + n + " characters (WeChat does not document this rule)"}
	default:
		p = pair{typ + "：未知类型，按最多 20 个字符处理", typ + ": unknown type, checked as up to 20 characters"}
	}
	if zh {
		return p.zh
	}
	return p.en
}

// ValueErrors is every problem of a message's data, in keyword order.
type ValueErrors []*ValueError

func (es ValueErrors) Error() string { return es.Message("en") }

// Message renders all problems in lang, one per line.
func (es ValueErrors) Message(lang string) string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Message(lang)
	}
	return strings.Join(msgs, "\n")
}

const defaultShortThingMax = 5

// Rules checks keyword values. The zero value is ready to use and applies
// the documented rules (wechat-api.md §3) with the defaults below.
//
// Where WeChat's wording leaves a choice, the rules lean strict, because a
// value refused here costs an edit while a value refused by WeChat costs a
// failed delivery (47003):
//   - lengths count characters (runes), not bytes; blank values are empty;
//     no control characters, line or paragraph separators in any type;
//   - number: unsigned digits with at most one inner decimal point (no sign,
//     no thousands separator);
//   - letter: ASCII letters; symbol: Unicode punctuation and symbols (not
//     spaces); character_string: ASCII letters and digits plus symbols, no
//     spaces; phone_number: ASCII digits and ASCII symbols;
//   - amount: an optional currency symbol (Unicode Sc), digits with an
//     optional decimal part (at most 10 digits in all), an optional final 元;
//   - name: letters of any script, symbols and spaces, no digits; any Chinese
//     character makes the limit 10;
//   - time and date: 24-hour H:MM[:SS]; dates Y年M月D日, Y-M-D, Y/M/D,
//     Y.M.D, Y年M月, M月D日, Y-M, M-D checked against the calendar; a clock
//     may follow a date with a day; a range is two values joined by a
//     half-width ~ (spaces around it allowed);
//   - enum_string with no known values (template not synced) is accepted;
//   - short_thing and unknown types: see ShortThingMax and UnknownTypeMax.
type Rules struct {
	// ShortThingMax is the most characters a short_thing value may have.
	// short_thing appears in real templates but WeChat documents no rule for
	// it (unverified). Decision: accept any printable text of at most 5
	// characters by default — the limit of WeChat's other short types
	// (symbol, phrase) — and keep it configurable so a deployment that sees
	// 47003 (or needless rejections) can change it without a release.
	ShortThingMax int
	// UnknownTypeMax is the most characters for a keyword type these rules
	// do not know (a type WeChat adds later); default 20, like thing. Such
	// values are otherwise only checked for emptiness and control
	// characters.
	UnknownTypeMax int
}

// DefaultRules are the rules with their defaults.
var DefaultRules = Rules{}

// CheckValue checks value against kw with DefaultRules.
func CheckValue(kw Keyword, value string) error { return DefaultRules.Check(kw, value) }

// CheckData checks a message's data against the template's keywords with
// DefaultRules.
func CheckData(kws []Keyword, data map[string]string) error { return DefaultRules.CheckData(kws, data) }

// CheckData checks that every keyword has a valid value. Keys that are not
// keywords of the template are ignored (WeChat does not document refusing
// them). The error, when not nil, is ValueErrors.
func (r Rules) CheckData(kws []Keyword, data map[string]string) error {
	var errs ValueErrors
	for _, kw := range kws {
		v, ok := data[kw.Key]
		if !ok {
			errs = append(errs, r.newErr(kw, RuleMissing))
			continue
		}
		if err := r.check(kw, v); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// Check checks one value against its keyword's type. The error, when not
// nil, is a *ValueError.
func (r Rules) Check(kw Keyword, value string) error {
	if e := r.check(kw, value); e != nil {
		return e
	}
	return nil
}

func (r Rules) shortMax() int {
	if r.ShortThingMax > 0 {
		return r.ShortThingMax
	}
	return defaultShortThingMax
}

func (r Rules) newErr(kw Keyword, rule Rule) *ValueError {
	return &ValueError{Key: kw.Key, Label: kw.Label, Type: kw.Type, Rule: rule, Enum: kw.Enum, ShortThingMax: r.shortMax()}
}

func (r Rules) tooLong(kw Keyword, n, max int) *ValueError {
	e := r.newErr(kw, RuleTooLong)
	e.Len, e.Max = n, max
	return e
}

func (r Rules) badChar(kw Keyword, c rune) *ValueError {
	e := r.newErr(kw, RuleCharset)
	e.Char = string(c)
	return e
}

// check returns nil or the first rule value breaks.
func (r Rules) check(kw Keyword, value string) *ValueError {
	if strings.TrimSpace(value) == "" {
		return r.newErr(kw, RuleEmpty)
	}
	if !utf8.ValidString(value) {
		return r.newErr(kw, RuleEncoding)
	}
	n := 0
	for _, c := range value {
		if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
			return r.newErr(kw, RuleControl)
		}
		n++
	}
	limit := func(max int) *ValueError {
		if n > max {
			return r.tooLong(kw, n, max)
		}
		return nil
	}
	each := func(max int, ok func(rune) bool) *ValueError {
		if e := limit(max); e != nil {
			return e
		}
		for _, c := range value {
			if !ok(c) {
				return r.badChar(kw, c)
			}
		}
		return nil
	}
	switch kw.Type {
	case TypeThing:
		return limit(20)
	case TypeShortThing:
		return limit(r.shortMax())
	case TypeNumber:
		if e := limit(32); e != nil {
			return e
		}
		if !isDecimal(value) {
			return r.newErr(kw, RuleFormat)
		}
		return nil
	case TypeLetter:
		return each(32, isASCIILetter)
	case TypeSymbol:
		return each(5, isSymbol)
	case TypeCharacterString:
		return each(32, func(c rune) bool { return isASCIILetter(c) || isASCIIDigit(c) || isSymbol(c) })
	case TypePhoneNumber:
		return each(17, func(c rune) bool { return isASCIIDigit(c) || (c < utf8.RuneSelf && isSymbol(c)) })
	case TypePhrase:
		return each(5, isHan)
	case TypeCarNumber:
		return r.checkCarNumber(kw, value, n)
	case TypeName:
		return r.checkName(kw, value, n)
	case TypeAmount:
		return r.checkAmount(kw, value)
	case TypeTime, TypeDate:
		return r.checkRange(kw, value)
	case TypeEnumString:
		if len(kw.Enum) == 0 {
			// The template's values are unknown (not synced): nothing to
			// compare with. Accept rather than block every send.
			return nil
		}
		for _, v := range kw.Enum {
			if v == value {
				return nil
			}
		}
		return r.newErr(kw, RuleEnum)
	default:
		max := r.UnknownTypeMax
		if max <= 0 {
			max = 20
		}
		return limit(max)
	}
}

func isASCIILetter(c rune) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isASCIIDigit(c rune) bool  { return c >= '0' && c <= '9' }
func isHan(c rune) bool         { return unicode.Is(unicode.Han, c) }

// isSymbol: punctuation or symbol of any script (full-width ones included),
// never a letter, digit, Chinese character or space.
func isSymbol(c rune) bool {
	return (unicode.IsPunct(c) || unicode.IsSymbol(c)) && !isHan(c)
}

// isDecimal: digits with at most one inner decimal point: 12, 0.5, 12.50.
func isDecimal(s string) bool {
	intPart, frac, hasDot := strings.Cut(s, ".")
	return allDigits(intPart) && (!hasDot || allDigits(frac))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (r Rules) checkCarNumber(kw Keyword, value string, n int) *ValueError {
	if n > 8 {
		return r.tooLong(kw, n, 8)
	}
	i := 0
	for _, c := range value {
		ok := isASCIILetter(c) || isASCIIDigit(c) || ((i == 0 || i == n-1) && isHan(c))
		if !ok {
			return r.badChar(kw, c)
		}
		i++
	}
	return nil
}

func (r Rules) checkName(kw Keyword, value string, n int) *ValueError {
	hasHan := false
	for _, c := range value {
		if isHan(c) {
			hasHan = true
		} else if !(unicode.IsLetter(c) || isSymbol(c) || c == ' ') {
			return r.badChar(kw, c)
		}
	}
	if hasHan && n > 10 {
		return r.tooLong(kw, n, 10)
	}
	if n > 20 {
		return r.tooLong(kw, n, 20)
	}
	return nil
}

// checkAmount: [currency symbol] digits[.digits] [元], at most 10 digits.
func (r Rules) checkAmount(kw Keyword, value string) *ValueError {
	s := value
	if c, size := utf8.DecodeRuneInString(s); unicode.Is(unicode.Sc, c) {
		s = s[size:]
	}
	s = strings.TrimSuffix(s, "元")
	if !isDecimal(s) {
		return r.newErr(kw, RuleFormat)
	}
	if digits := len(s) - strings.Count(s, "."); digits > 10 {
		e := r.newErr(kw, RuleFormat)
		return e
	}
	return nil
}

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
