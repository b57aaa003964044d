package handlers

import (
	"errors"
	"strings"

	"github.com/minipush/minipush/models"
	"github.com/minipush/minipush/views"
	"github.com/minipush/minipush/views/components"
	"github.com/minipush/minipush/wechat"
)

// checkMode says which keyword values keywordRows checks.
type checkMode int

const (
	checkNone   checkMode = iota
	checkFilled           // while typing: only values typed so far
	checkAll              // on "check" and "test send": every keyword
)

// keywordRows builds the keyword rows, checking values as mode says.
func keywordRows(t *models.Template, values map[string]string, mode checkMode, lang string) ([]views.KeywordRow, map[string]string) {
	kws, _ := t.KeywordList()
	rows := make([]views.KeywordRow, len(kws))
	data := make(map[string]string, len(kws))
	for i, k := range kws {
		wk := k.WeChat()
		rows[i] = views.KeywordRow{Label: k.Label, Key: k.Key, Type: k.Type, Enum: k.Enum, Rule: keywordRule(wk.Type, lang),
			Help: ruleDetail(wk, lang), Value: values[k.Key]}
		data[k.Key] = values[k.Key]
		if mode == checkAll || mode == checkFilled && values[k.Key] != "" {
			if err := wechat.CheckValue(wk, values[k.Key]); err != nil {
				rows[i].Error = valueError(err, lang)
			}
		}
	}
	return rows, data
}

// keywordRule is a keyword type's rule in the few words of WeChat's own
// console ("20个以内字符").
func keywordRule(typ, lang string) string {
	key := "ux.kwrule." + typ
	switch {
	case typ == wechat.TypeShortThing:
		return components.Translate(lang, key, wechat.DefaultRules.ShortMax())
	case components.HasKey(key):
		return components.Translate(lang, key)
	}
	return components.Translate(lang, "ux.kwrule.unknown")
}

// ruleDetail is the full rule with its examples, without the type's code
// in front ("thing：最多 20 个字符…" reads "最多 20 个字符…").
func ruleDetail(kw wechat.Keyword, lang string) string {
	s := wechat.DescribeRule(kw, lang)
	for _, sep := range []string{"：", ": "} {
		if rest, ok := strings.CutPrefix(s, kw.Type+sep); ok {
			return rest
		}
	}
	return s
}

// valueError words a keyword value's error shortly, for under its field:
// what is wrong and, for a wrong character or format, what the rule is.
func valueError(err error, lang string) string {
	tr := func(key string, args ...any) string { return components.Translate(lang, key, args...) }
	var ve *wechat.ValueError
	if !errors.As(err, &ve) {
		return tr("ux.value.format", keywordRule("", lang))
	}
	switch ve.Rule {
	case wechat.RuleTooLong:
		return tr("ux.value.too_long", ve.Len, ve.Max)
	case wechat.RuleCharset:
		return tr("ux.value.charset", ve.Char, keywordRule(ve.Type, lang))
	case wechat.RuleMissing, wechat.RuleEmpty, wechat.RuleEncoding, wechat.RuleControl, wechat.RuleFullWidthTilde, wechat.RuleEnum:
		return tr("ux.value." + string(ve.Rule))
	}
	return tr("ux.value.format", keywordRule(ve.Type, lang))
}

// contentError words why a template's content typed by hand cannot be read.
func contentError(err error, lang string) string {
	var ce *wechat.ContentError
	if !errors.As(err, &ce) {
		return components.Translate(lang, "ux.content.empty")
	}
	switch ce.Code {
	case wechat.ContentUnopened, wechat.ContentUnclosed:
		return components.Translate(lang, "ux.content."+string(ce.Code), ce.Line)
	case wechat.ContentNoData, wechat.ContentBadKey, wechat.ContentDuplicate:
		return components.Translate(lang, "ux.content."+string(ce.Code), ce.Key)
	}
	return components.Translate(lang, "ux.content.empty")
}
