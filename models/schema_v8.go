package models

// schemaV8 adds delivery_hourly: per app and UTC hour, how many messages
// WeChat accepted ("sent"), how many were confirmed delivered and how many
// failed (by errcode or reason, in detail). It is fed by the same batch
// that updates delivery_stats (one upsert per batch) and read by the
// dashboard, which buckets hours into days in the console's time zone:
// a week of charts reads a few hundred small rows instead of counting
// millions of deliveries.
var schemaV8 = []string{
	`CREATE TABLE delivery_hourly (
		app_id {BIGINT} NOT NULL,
		hour {BIGINT} NOT NULL,
		status {SHORT} NOT NULL,
		detail {SHORT} NOT NULL DEFAULT '',
		n {BIGINT} NOT NULL DEFAULT 0,
		PRIMARY KEY (app_id, hour, status, detail)){OPTIONS}`,
	`CREATE INDEX ix_delivery_hourly_hour ON delivery_hourly (hour)`,
}
