package wechat

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

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

// ShortMax is the short_thing limit in force under r.
func (r Rules) ShortMax() int { return r.shortMax() }
