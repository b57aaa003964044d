package models

// schemaV13 puts queued_at into the account's list indexes, after id:
// (app_id, id, queued_at), (app_id, status, id, queued_at), (app_id,
// errcode, id, queued_at) and (app_id, template_id, id, queued_at).
//
// A time range in the deliveries list is read as an id range (ids grow with
// queued_at; DeliveryIDAt finds the bounds), widened by idSlack ids at each
// end for rows committed slightly out of order. Those slack rows are
// checked against queued_at and dropped: with queued_at only in the row,
// each was a primary-key lookup, 10,000 of them for any range that ends
// before now (a two-day range ten days back: p50 15 ms on 10M rows).
// MariaDB does not push the check into a descending index scan, so
// ListDeliveries finds such a page's ids in the index alone first (the
// index now holds every column the check needs) and then reads only the
// page's rows.
//
// The cost: none per change. queued_at is written once, when the delivery
// is queued, so no update moves these entries more than before; each entry
// is 6 bytes longer. Same names, so the list's index hints do not change:
// on MariaDB each index is replaced in one ALTER TABLE (online, the table
// stays writable), on SQLite dropped and created again.
var schemaV13 = []string{
	`{MYSQL}ALTER TABLE deliveries
		DROP INDEX ix_deliveries_app, ADD INDEX ix_deliveries_app (app_id, id, queued_at),
		DROP INDEX ix_deliveries_app_status, ADD INDEX ix_deliveries_app_status (app_id, status, id, queued_at),
		DROP INDEX ix_deliveries_app_errcode, ADD INDEX ix_deliveries_app_errcode (app_id, errcode, id, queued_at),
		DROP INDEX ix_deliveries_app_tpl, ADD INDEX ix_deliveries_app_tpl (app_id, template_id, id, queued_at)`,
	`{SQLITE}DROP INDEX ix_deliveries_app`,
	`{SQLITE}CREATE INDEX ix_deliveries_app ON deliveries (app_id, id, queued_at)`,
	`{SQLITE}DROP INDEX ix_deliveries_app_status`,
	`{SQLITE}CREATE INDEX ix_deliveries_app_status ON deliveries (app_id, status, id, queued_at)`,
	`{SQLITE}DROP INDEX ix_deliveries_app_errcode`,
	`{SQLITE}CREATE INDEX ix_deliveries_app_errcode ON deliveries (app_id, errcode, id, queued_at)`,
	`{SQLITE}DROP INDEX ix_deliveries_app_tpl`,
	`{SQLITE}CREATE INDEX ix_deliveries_app_tpl ON deliveries (app_id, template_id, id, queued_at)`,
}
