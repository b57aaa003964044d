package models

// schemaV6 serves the settler's page of pending sent events,
// "WHERE delivery_id IS NULL AND id > ? ORDER BY id LIMIT n": an index on
// (delivery_id, id) reads exactly that page in order. The index it
// replaces, (delivery_id, created_at), orders by arrival time, so the page
// needed a sort (MySQL) and, under a locking read, a lock on every pending
// event.
var schemaV6 = []string{
	`DROP INDEX ix_sent_events_pending ON sent_events`,
	`CREATE INDEX ix_sent_events_pending ON sent_events (delivery_id, id)`,
}
