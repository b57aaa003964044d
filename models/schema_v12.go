package models

// schemaV12 is the deliveries' index diet. Every index is one more entry
// to move each time a delivery changes, and a delivery changes four times
// on its way (claimed, called, answered, settled). Two of them served
// nothing the others do not:
//   - ix_deliveries_due (status, next_attempt_at): the claim reads
//     ix_deliveries_app_due (status, app_id, next_attempt_at), and the
//     queue-depth gauge (status = 'queued' GROUP BY app_id) reads that one
//     too, without touching a row;
//   - ix_deliveries_lease (lease_until): lease recovery looks for
//     "status = 'sending' AND lease_until < now" (or one instance's rows
//     at shutdown), and the rows in sending are the ones in flight (a few
//     batches per instance): ix_deliveries_app_due's 'sending' range finds
//     them, lease_until is checked on those. It was also rewritten by every
//     lease renewal and every call, which now touch no index.
var schemaV12 = []string{
	`DROP INDEX ix_deliveries_due ON deliveries`,
	`DROP INDEX ix_deliveries_lease ON deliveries`,
}
