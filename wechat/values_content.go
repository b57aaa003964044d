package wechat

import (
	"fmt"
	"strconv"
	"strings"
)

// ContentError says why a template's content cannot be read: a stable
// code (the console words it through its catalogue) and what it concerns.
type ContentError struct {
	Code ContentCode
	Line string // the offending line, as written
	Key  string // the placeholder or key concerned, when there is one
}

// ContentCode names what is wrong with a template's content.
type ContentCode string

const (
	ContentUnopened  ContentCode = "unopened"  // }} without {{
	ContentUnclosed  ContentCode = "unclosed"  // {{ without }}
	ContentNoData    ContentCode = "no_data"   // {{x}} not ending in .DATA
	ContentBadKey    ContentCode = "bad_key"   // key is not type + index (thing1)
	ContentDuplicate ContentCode = "duplicate" // the same key twice
	ContentEmpty     ContentCode = "empty"     // no placeholder at all
)

func (e *ContentError) Error() string {
	switch e.Code {
	case ContentUnopened:
		return fmt.Sprintf("wechat: content: %q has }} without {{", e.Line)
	case ContentUnclosed:
		return fmt.Sprintf("wechat: content: %q has {{ without }}", e.Line)
	case ContentNoData:
		return fmt.Sprintf("wechat: content: placeholder {{%s}} does not end in .DATA", e.Key)
	case ContentBadKey:
		return fmt.Sprintf("wechat: content: %q is not a keyword key (type and index, like thing1)", e.Key)
	case ContentDuplicate:
		return fmt.Sprintf("wechat: content: keyword %s appears twice", e.Key)
	}
	return "wechat: content has no {{key.DATA}} placeholder"
}

// ParseContent reads the keywords of a template's content, in order, from
// lines like "订单号:{{character_string1.DATA}}". Indexes are kept as they
// are (they need not be sequential). It fails on a malformed or duplicate
// placeholder and on content without any; the error is a *ContentError.
func ParseContent(content string) ([]Keyword, error) {
	var kws []Keyword
	seen := make(map[string]bool)
	for _, line := range strings.Split(content, "\n") {
		rest := line
		for {
			open := strings.Index(rest, "{{")
			if open < 0 {
				if strings.Contains(rest, "}}") {
					return nil, &ContentError{Code: ContentUnopened, Line: line}
				}
				break
			}
			closeAt := strings.Index(rest[open:], "}}")
			if closeAt < 0 {
				return nil, &ContentError{Code: ContentUnclosed, Line: line}
			}
			inner := strings.TrimSpace(rest[open+2 : open+closeAt])
			key, ok := strings.CutSuffix(inner, ".DATA")
			if !ok {
				return nil, &ContentError{Code: ContentNoData, Line: line, Key: inner}
			}
			typ, _, ok := SplitKey(key)
			if !ok {
				return nil, &ContentError{Code: ContentBadKey, Line: line, Key: key}
			}
			if seen[key] {
				return nil, &ContentError{Code: ContentDuplicate, Line: line, Key: key}
			}
			seen[key] = true
			label := strings.TrimSpace(rest[:open])
			label = strings.TrimSpace(strings.TrimRight(label, ":："))
			kws = append(kws, Keyword{Label: label, Key: key, Type: typ})
			rest = rest[open+closeAt+2:]
		}
	}
	if len(kws) == 0 {
		return nil, &ContentError{Code: ContentEmpty}
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
