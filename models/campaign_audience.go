package models

import (
	"context"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/minipush/minipush/wechat"
)

// Member is one user of a campaign's audience as expansion reads it.
type Member struct {
	UserID     int64  `gorm:"column:user_id"`
	OpenID     string `gorm:"column:openid"`
	Attributes string
	Tags       string
	// Reachable: holds a credit (one-time) or an active long-term
	// subscription for the template now.
	Reachable bool
}

// audienceBatch reads up to limit members with user id above after, in
// user id order, and returns them with the last user id read (after when
// none is left). Tags and attribute conditions are applied in SQL.
func audienceBatch(tx *gorm.DB, c *Campaign, a *Audience, longTerm bool, after int64, limit int) ([]Member, int64, error) {
	reach := reachSQL(longTerm)
	var q string
	var args []any
	if a.Kind == AudienceList {
		q = `SELECT r.user_id, u.openid, u.attributes, u.tags,
				CASE WHEN s.id IS NOT NULL AND ` + reach + ` THEN 1 ELSE 0 END AS reachable
			FROM campaign_recipients r
			JOIN users u ON u.id = r.user_id
			LEFT JOIN subscriptions s ON s.user_id = r.user_id AND s.template_id = ?
			WHERE r.campaign_id = ? AND r.user_id > ?
			ORDER BY r.user_id LIMIT ?`
		args = []any{c.TemplateID, c.ID, after, limit}
	} else {
		filter, fargs := audienceFilter(tx, c.AppID, a)
		if filter != "" {
			filter = " AND (" + filter + ")"
		}
		q = `SELECT s.user_id, u.openid, u.attributes, u.tags,
				CASE WHEN ` + reach + ` THEN 1 ELSE 0 END AS reachable
			FROM subscriptions s
			JOIN users u ON u.id = s.user_id
			WHERE s.template_id = ? AND s.status = 'accept' AND s.user_id > ?` + filter + `
			ORDER BY s.user_id LIMIT ?`
		args = append(append([]any{c.TemplateID, after}, fargs...), limit)
	}
	var rows []Member
	if err := tx.Raw(q, args...).Scan(&rows).Error; err != nil {
		return nil, after, err
	}
	if len(rows) == 0 {
		return nil, after, nil
	}
	return rows, rows[len(rows)-1].UserID, nil
}

// AudienceCount is the size of an audience and how many of it can be
// reached now.
type AudienceCount struct {
	Size, Reachable int64
	// Sampled and WouldFail: of the first Sampled members, how many have a
	// value that breaks its keyword's rule after personalisation (or lacks
	// an attribute with no fallback).
	Sampled, WouldFail int64
}

// CountAudience counts a campaign's audience and its reachable part in
// SQL (filters included), and checks the values of the first sample
// members (0: none) against the template's rules.
func CountAudience(ctx context.Context, db *gorm.DB, c *Campaign, t *Template, sample int) (AudienceCount, error) {
	var out AudienceCount
	a := c.AudienceSpec()
	kws, _ := t.KeywordList()
	wkws := make([]wechat.Keyword, len(kws))
	for i, k := range kws {
		wkws[i] = wechat.Keyword{Label: k.Label, Key: k.Key, Type: k.Type, Enum: k.Enum}
	}
	vals := c.Values()
	db = db.WithContext(ctx)
	if err := countAudienceSQL(db, c, &a, t.LongTerm(), &out); err != nil {
		return out, err
	}
	if sample <= 0 || out.Size == 0 {
		return out, nil
	}
	ms, _, err := audienceBatch(db, c, &a, t.LongTerm(), 0, sample)
	if err != nil {
		return out, err
	}
	for _, m := range ms {
		out.Sampled++
		if !valuesOK(wkws, RenderValues(vals, m.Attributes)) {
			out.WouldFail++
		}
	}
	return out, nil
}

// countAudienceSQL counts an audience and its reachable part in one query.
func countAudienceSQL(db *gorm.DB, c *Campaign, a *Audience, longTerm bool, out *AudienceCount) error {
	reach := reachSQL(longTerm)
	var q string
	var args []any
	if a.Kind == AudienceList {
		q = `SELECT COUNT(*) AS size, COALESCE(SUM(CASE WHEN s.id IS NOT NULL AND ` + reach + ` THEN 1 ELSE 0 END), 0) AS reachable
			FROM campaign_recipients r JOIN users u ON u.id = r.user_id
			LEFT JOIN subscriptions s ON s.user_id = r.user_id AND s.template_id = ?
			WHERE r.campaign_id = ?`
		args = []any{c.TemplateID, c.ID}
	} else {
		filter, fargs := audienceFilter(db, c.AppID, a)
		if filter != "" {
			filter = " AND (" + filter + ")"
		}
		// Only attribute conditions read users; the others count
		// subscriptions alone (every one has its user: a foreign key).
		from := "subscriptions s"
		if a.Kind == AudienceAttrs {
			from += " JOIN users u ON u.id = s.user_id"
		}
		q = `SELECT COUNT(*) AS size, COALESCE(SUM(CASE WHEN ` + reach + ` THEN 1 ELSE 0 END), 0) AS reachable
			FROM ` + from + `
			WHERE s.template_id = ? AND s.status = 'accept'` + filter
		args = append([]any{c.TemplateID}, fargs...)
	}
	var row struct{ Size, Reachable int64 }
	if err := db.Raw(q, args...).Scan(&row).Error; err != nil {
		return err
	}
	out.Size, out.Reachable = row.Size, row.Reachable
	return nil
}

func valuesOK(kws []wechat.Keyword, data map[string]string) bool {
	for _, v := range data {
		if strings.Contains(v, "{{") {
			return false
		}
	}
	return wechat.CheckData(kws, data) == nil
}

// SampleMember returns the first member of the audience (for a preview),
// or ErrNotFound.
func SampleMember(ctx context.Context, db *gorm.DB, c *Campaign, t *Template) (*Member, error) {
	a := c.AudienceSpec()
	var after int64
	for i := 0; i < 50; i++ {
		ms, last, err := audienceBatch(db.WithContext(ctx), c, &a, t.LongTerm(), after, 500)
		if err != nil {
			return nil, err
		}
		if len(ms) > 0 {
			return &ms[0], nil
		}
		if last == after {
			break
		}
		after = last
	}
	return nil, ErrNotFound
}

// ListImport is what an uploaded recipient list came to.
type ListImport struct {
	Lines, Added, Missing int64
	// NotFound: the first values (up to MaxListNotFound) that matched no
	// user of the account, as read.
	NotFound []string
	// Column is the header of the column read ("" when the file has no
	// header row: the first column).
	Column string
}

// MaxListNotFound bounds ListImport.NotFound.
const MaxListNotFound = 10

// shorten cuts s to at most n characters, marking a cut with "…".
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// listColumn finds, in a list's first row, the column named col (openid or
// business_id, as importColumn reads headers), else the first one naming
// openid or business_id, with what it names; -1 when the row names
// neither (no header).
func listColumn(rec []string, col string) (int, string) {
	other, kind := -1, ""
	for i, h := range rec {
		switch k := importColumn(h); k {
		case col:
			return i, k
		case "openid", "business_id":
			if other < 0 {
				other, kind = i, k
			}
		}
	}
	return other, kind
}

// ErrListColumn is returned for a list that is not one id per line.
var ErrListColumn = errors.New("list: one openid or business id per line")

// ImportRecipients replaces a campaign's uploaded list with the users named
// by one column of a CSV (openids, or business ids when by is
// "business_id"), read as a stream and resolved in batches. The file is
// UTF-8, GBK/GB18030 or UTF-16 (with its BOM), told apart as the user
// import does. A first line that names the column (openid, business_id,
// as the user import's headers: "OpenID", "业务用户ID"…) is a header: that
// column is read, wherever it is; without one, the first column.
func ImportRecipients(ctx context.Context, db *gorm.DB, c *Campaign, r io.Reader, by string) (ListImport, error) {
	var res ListImport
	col := "openid"
	if by == "business_id" {
		col = "business_id"
	}
	text, err := decodeImport(r, EncodingAuto)
	if err != nil {
		return res, ErrListColumn
	}
	cr := importCSV(text)
	db = db.WithContext(ctx)
	err = db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("DELETE FROM campaign_recipients WHERE campaign_id = ?", c.ID).Error; err != nil {
			return err
		}
		batch := make([]string, 0, 500)
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			var found []struct {
				ID  int64
				Key string
			}
			if err := tx.Model(&User{}).Select("id, "+col+" AS `key`").Where("app_id = ? AND "+col+" IN ?", c.AppID, batch).
				Scan(&found).Error; err != nil {
				return err
			}
			ids := make([]int64, len(found))
			matched := make(map[string]bool, len(found))
			// MySQL's comparison ignores trailing spaces: so does this one.
			for i, f := range found {
				ids[i] = f.ID
				matched[strings.TrimRight(f.Key, " ")] = true
			}
			for _, v := range batch {
				if !matched[strings.TrimRight(v, " ")] && len(res.NotFound) < MaxListNotFound {
					res.NotFound = append(res.NotFound, shorten(v, 40))
				}
			}
			if len(ids) > 0 {
				rows := make([]map[string]any, len(ids))
				for i, id := range ids {
					rows[i] = map[string]any{"campaign_id": c.ID, "user_id": id}
				}
				res2 := insertIgnore(tx.Table("campaign_recipients")).Create(rows)
				if res2.Error != nil {
					return res2.Error
				}
				res.Added += res2.RowsAffected
			}
			batch = batch[:0]
			return nil
		}
		first, at := true, 0
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return ErrListColumn
			}
			if first {
				first = false
				if i, kind := listColumn(rec, col); i >= 0 {
					// The header says what the column holds: it wins over
					// the choice on the form.
					at, col, res.Column = i, kind, strings.TrimSpace(rec[i])
					continue
				}
			}
			if len(rec) <= at {
				continue
			}
			v := strings.TrimSpace(rec[at])
			if v == "" {
				continue
			}
			if len(v) > 190 {
				return ErrListColumn
			}
			res.Lines++
			batch = append(batch, v)
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		res.Missing = res.Lines - res.Added
		a := c.AudienceSpec()
		a.Kind, a.ListLines, a.ListMissing, a.ListBy = AudienceList, res.Lines, res.Missing, col
		c.SetAudience(a)
		return UpdateCampaignFields(ctx, tx, c.ID, map[string]any{"audience": c.Audience})
	})
	return res, err
}
