package wechat

import (
	"fmt"
	"strconv"
	"strings"
)

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
