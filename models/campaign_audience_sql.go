package models

import (
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// The audience filters (tags, attribute conditions) in SQL, so a count or
// an expansion reads only the members. Tags are looked up in user_tags
// (one row per user and tag, kept by every user write). Attribute
// conditions read users.attributes with each dialect's JSON functions;
// jsonAttr holds the only dialect-specific part, and Audience.Match is the
// reference the tests hold both dialects to.

// audienceFilter returns the SQL condition (over subscriptions s and users
// u) that keeps the members of a tags or attributes audience, with its
// arguments; "" for audiences without a filter.
func audienceFilter(db *gorm.DB, appID int64, a *Audience) (string, []any) {
	switch a.Kind {
	case AudienceTags:
		if len(a.Tags) == 0 {
			return "1 = 0", nil
		}
		return "EXISTS (SELECT 1 FROM user_tags ut WHERE ut.app_id = ? AND ut.tag IN ? AND ut.user_id = s.user_id)", []any{appID, a.Tags}
	case AudienceAttrs:
		ja := jsonAttrFor(db)
		var parts []string
		var args []any
		for _, c := range a.Conds {
			sql, cargs := condSQL(ja, c)
			parts = append(parts, "("+sql+")")
			args = append(args, cargs...)
		}
		if len(parts) == 0 {
			return "1 = 1", nil
		}
		return strings.Join(parts, " AND "), args
	}
	return "", nil
}

// jsonAttr builds the expressions over one attribute of users.attributes,
// named by a JSON path given as an argument.
type jsonAttr struct {
	// present: the attribute exists and is not JSON null (one path argument).
	present string
	// text: the value as message text, as AttrString gives it for strings,
	// numbers and booleans (one path argument).
	text string
	// number: the value as a number when it is one, or a string that
	// reads as one; NULL otherwise (one path argument each time "%s" is
	// replaced: see numberArgs).
	number     string
	numberArgs int
	// eq and contains compare text exactly (case and accents count).
	eq, contains string
}

func jsonAttrFor(db *gorm.DB) jsonAttr {
	if IsMySQL(db) {
		v := "JSON_EXTRACT(u.attributes, ?)"
		t := "JSON_UNQUOTE(JSON_EXTRACT(u.attributes, ?))"
		return jsonAttr{
			present: "COALESCE(JSON_TYPE(" + v + "), 'NULL') <> 'NULL'",
			text:    t,
			number: "CASE WHEN JSON_TYPE(" + v + ") IN ('INTEGER', 'DOUBLE', 'UNSIGNED INTEGER', 'DECIMAL') " +
				"OR " + t + " REGEXP '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$' THEN CAST(" + t + " AS DOUBLE) END",
			numberArgs: 3,
			eq:         "CAST(%s AS BINARY) = CAST(? AS BINARY)",
			contains:   "INSTR(CAST(%s AS BINARY), CAST(? AS BINARY)) > 0",
		}
	}
	// SQLite: json_type is NULL for a missing key and 'null' for JSON null;
	// booleans read back as 1/0 from json_extract, so they are spelt here.
	a := "(CASE WHEN json_valid(u.attributes) THEN u.attributes ELSE '{}' END)"
	ty := "json_type(" + a + ", ?)"
	t := "(CASE " + ty + " WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract(" + a + ", ?) AS TEXT) END)"
	return jsonAttr{
		present: "COALESCE(" + ty + ", 'null') <> 'null'",
		text:    t,
		number: "(CASE WHEN " + ty + " IN ('integer', 'real') OR (" + ty + " = 'text' AND json_extract(" + a + ", ?) GLOB '*[0-9]*' " +
			"AND json_extract(" + a + ", ?) NOT GLOB '*[^0-9eE.+-]*') THEN CAST(json_extract(" + a + ", ?) AS REAL) END)",
		numberArgs: 5,
		eq:         "%s = ?",
		contains:   "instr(%s, ?) > 0",
	}
}

// textArgs is how many path arguments jsonAttr.text takes.
func (j jsonAttr) textArgs() int { return strings.Count(j.text, "?") }

// condSQL is one condition with its arguments.
func condSQL(j jsonAttr, c Cond) (string, []any) {
	if strings.ContainsAny(c.Attr, "\"\\") || c.Attr == "" {
		return "1 = 0", nil // not a name the path syntax can carry; the form refuses it
	}
	path := `$."` + c.Attr + `"`
	paths := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = path
		}
		return out
	}
	text, textArgs := j.text, paths(j.textArgs())
	switch c.Op {
	case "exists":
		return j.present, paths(1)
	case "eq":
		return j.present + " AND " + strings.Replace(j.eq, "%s", text, 1), append(append(paths(1), textArgs...), c.Value)
	case "ne":
		return "NOT (" + j.present + ") OR NOT (" + strings.Replace(j.eq, "%s", text, 1) + ")",
			append(append(paths(1), textArgs...), c.Value)
	case "contains":
		return j.present + " AND " + strings.Replace(j.contains, "%s", text, 1), append(append(paths(1), textArgs...), c.Value)
	case "gt", "lt":
		want, err := strconv.ParseFloat(c.Value, 64)
		if err != nil {
			return "1 = 0", nil
		}
		op := ">"
		if c.Op == "lt" {
			op = "<"
		}
		return j.number + " " + op + " ?", append(paths(j.numberArgs), want)
	}
	return "1 = 0", nil
}
