package wechat

// DescribeRule says in words, in lang ("zh" or "en"), what values a
// keyword accepts under these rules (its type's rule, with the enum values
// of an enum_string keyword).
func (r Rules) DescribeRule(kw Keyword, lang string) string {
	return typeRule(kw.Type, r.shortMax(), kw.Enum, isZh(lang))
}

// DescribeRule is DefaultRules.DescribeRule.
func DescribeRule(kw Keyword, lang string) string { return DefaultRules.DescribeRule(kw, lang) }
