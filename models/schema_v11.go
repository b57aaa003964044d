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
}
