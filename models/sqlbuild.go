package models

import (
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// Helpers shared by the engine's statements: literal id lists and CASE
// expressions and the batched spend insert.

// Statements over a batch write its ids (and other integers the engine
// made) as literals: it keeps the arguments to the strings and times.
// Fewer placeholders is cheaper on both databases, and on SQLite it avoids
// the driver's binding, which is quadratic in the number of arguments.

// inList returns "(1,2,3)" ("(NULL)" when empty: matches nothing).
func inList(ids []int64) string {
	if len(ids) == 0 {
		return "(NULL)"
	}
	b := make([]byte, 0, 2+8*len(ids))
	b = append(b, '(')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ')'))
}

// caseSQL returns "CASE id WHEN 1 THEN ? ... END" and its arguments.
func caseSQL(col string, ids []int64, vals []any) (string, []any) {
	var sb strings.Builder
	args := make([]any, 0, len(ids))
	sb.WriteString("CASE id")
	for i, id := range ids {
		sb.WriteString(" WHEN ")
		sb.WriteString(strconv.FormatInt(id, 10))
		sb.WriteString(" THEN ?")
		args = append(args, vals[i])
	}
	sb.WriteString(" ELSE " + col + " END")
	return sb.String(), args
}

// caseIntSQL returns "CASE id WHEN 1 THEN 10 ... END" (integers only).
func caseIntSQL(ids, vals []int64) string {
	b := make([]byte, 0, 16+40*len(ids))
	b = append(b, "CASE id"...)
	for i, id := range ids {
		b = append(b, " WHEN "...)
		b = strconv.AppendInt(b, id, 10)
		b = append(b, " THEN "...)
		b = strconv.AppendInt(b, vals[i], 10)
	}
	return string(append(b, " END"...))
}

// insertSpendEvents writes the ledger's spend events of a claim in
// multi-row INSERTs: integers and the engine's own constant words as
// literals, the time as an argument.
func insertSpendEvents(tx *gorm.DB, events []SubscriptionEvent) error {
	const chunk = 500
	for start := 0; start < len(events); start += chunk {
		evs := events[start:min(start+chunk, len(events))]
		b := make([]byte, 0, 128+96*len(evs))
		b = append(b, "INSERT INTO subscription_events (app_id, user_id, template_id, kind, delta, source, delivery_id, dedup_key, created_at) VALUES "...)
		args := make([]any, 0, len(evs))
		for i := range evs {
			e := &evs[i]
			if e.TemplateID == nil || e.DeliveryID == nil || e.DedupKey == nil || !plainWord(e.Kind) || !plainWord(e.Source) || !plainWord(*e.DedupKey) {
				return fmt.Errorf("insertSpendEvents: event %d is not an engine spend", i)
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '(')
			b = strconv.AppendInt(b, e.AppID, 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, e.UserID, 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, *e.TemplateID, 10)
			b = append(b, ",'"...)
			b = append(b, e.Kind...)
			b = append(b, "',"...)
			b = strconv.AppendInt(b, int64(e.Delta), 10)
			b = append(b, ",'"...)
			b = append(b, e.Source...)
			b = append(b, "',"...)
			b = strconv.AppendInt(b, *e.DeliveryID, 10)
			b = append(b, ",'"...)
			b = append(b, *e.DedupKey...)
			b = append(b, "',?)"...)
			args = append(args, e.CreatedAt)
		}
		if err := tx.Exec(string(b), args...).Error; err != nil {
			return err
		}
	}
	return nil
}

// plainWord tells whether s is safe to write as a literal: letters,
// digits, '_' and ':' only.
func plainWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':') {
			return false
		}
	}
	return s != ""
}

func uniq(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// updateDeliveriesByID begins an UPDATE of deliveries chosen by id (id IN
// (…) or id = ?), up to SET. On MySQL/MariaDB it names the primary key:
// these statements also check status = 'sending', and when MariaDB's
// statistics say few rows are sending (taken before a campaign started) it
// may read the status index instead, every row in sending of every app,
// for each statement (TestUpdatesByIDReadThePrimaryKey: the lease renewal
// of a batch did).
func updateDeliveriesByID(db *gorm.DB) string {
	if IsMySQL(db) {
		return "UPDATE deliveries FORCE INDEX (PRIMARY) SET "
	}
	return "UPDATE deliveries SET "
}

// addCounts adds to counter rows of table in one statement (INSERT …
// ON DUPLICATE KEY UPDATE on MySQL, ON CONFLICT … DO UPDATE on SQLite):
// keys are the key columns, each row holds their values followed by the
// amount added to n. Rows are written in the order given: callers sort
// them, so concurrent batches lock the rows in one order and cannot
// deadlock on them.
func addCounts(tx *gorm.DB, table string, keys []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	cols := strings.Join(keys, ", ")
	one := "(" + strings.Repeat("?,", len(keys)) + "?)"
	var sb strings.Builder
	sb.WriteString("INSERT INTO " + table + " (" + cols + ", n) VALUES ")
	args := make([]any, 0, len(rows)*(len(keys)+1))
	for i, r := range rows {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(one)
		args = append(args, r...)
	}
	if IsMySQL(tx) {
		sb.WriteString(" ON DUPLICATE KEY UPDATE n = n + VALUES(n)")
	} else {
		sb.WriteString(" ON CONFLICT (" + cols + ") DO UPDATE SET n = n + excluded.n")
	}
	return tx.Exec(sb.String(), args...).Error
}
