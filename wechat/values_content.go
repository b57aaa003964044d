package wechat

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

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
