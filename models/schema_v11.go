package models

// schemaV11 (support, API and import work of issue 8, second round):
//   - delivery_stats.shard: the queued counter of single sends is spread
//     over 16 rows on MySQL/MariaDB (see stat_shards.go), so concurrent API
//     requests do not wait for each other's commit on one hot row. The
//     primary key gains the column there; SQLite keeps its key (one writer
//     at a time: shards would not help) and only gets the column.
//   - deliveries.mp_state and lang: a message's own miniprogram_state and
//     lang (POST /api/v1/messages); "" sends with the account's. Added with
//     a constant default, both are instant on MariaDB 10.3+ and SQLite (no
//     table rebuild on 10 million rows).
//   - delivery_calls: the WeChat calls that did not end their delivery
//     (retries, 45009, 43108, no token; see DeliveryCall), for the delivery
//     page. A message sent at the first try writes nothing there. Read by
//     (delivery_id, id); the engine inserts one row per retried call.
//   - user_imports.updated_at: a running import's heartbeat, so one cut
//     off by a stop is marked interrupted (at start-up, or when its page
//     is opened) rather than shown running for ever.
//   - three indexes for support's filtered deliveries list (DeliveryFilter,
//     newest first by keyset within an account): (app_id, status, id) for
//     a status, (app_id, errcode, id) for an errcode, (app_id,
//     template_id, id) for a template. Each reads exactly the matching rows
//     in id order from the keyset bound, where ix_deliveries_app (app_id,
//     id) read every row of the account and filtered (a filter matching
//     nothing read all of them: 70–92 s on 10 million). Their cost: three
//     more index entries per delivery inserted (12 secondary entries instead
//     of 9, each appended at the right edge of its (app, value) range since
//     ids grow), one more entry moved per status change (the engine already
//     moves three: the due, app-due and run-status indexes) and one when a
//     call fails (errcode); nothing on the API's or the claim's reads.
var schemaV11 = []string{
	`ALTER TABLE delivery_stats ADD COLUMN shard {INT} NOT NULL DEFAULT 0`,
	`{MYSQL}ALTER TABLE delivery_stats DROP PRIMARY KEY, ADD PRIMARY KEY (app_id, run_id, status, detail, shard)`,

	`ALTER TABLE deliveries ADD COLUMN mp_state {SHORT} NOT NULL DEFAULT ''`,
	`ALTER TABLE deliveries ADD COLUMN lang {SHORT} NOT NULL DEFAULT ''`,

	`CREATE TABLE delivery_calls (
		id {ID},
		delivery_id {BIGINT} NOT NULL,
		attempt {INT} NOT NULL DEFAULT 0,
		errcode {INT} NOT NULL DEFAULT 0,
		errmsg {KEY} NOT NULL DEFAULT '',
		reason {SHORT} NOT NULL DEFAULT '',
		next_attempt_at {TIME} NULL,
		answered_at {TIME} NOT NULL){OPTIONS}`,
	`CREATE INDEX ix_delivery_calls_delivery ON delivery_calls (delivery_id, id)`,

	`ALTER TABLE user_imports ADD COLUMN updated_at {TIME} NULL`,

	`CREATE INDEX ix_deliveries_app_status ON deliveries (app_id, status, id)`,
	`CREATE INDEX ix_deliveries_app_errcode ON deliveries (app_id, errcode, id)`,
	`CREATE INDEX ix_deliveries_app_tpl ON deliveries (app_id, template_id, id)`,
}
