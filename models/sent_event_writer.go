package models

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"time"

	"gorm.io/gorm"
)

// SentEventWriter stores pushed sent events in batches. WeChat pushes one
// event per accepted message, so intake has to keep pace with sending:
// every push handler waiting at the same moment shares one multi-row
// INSERT (duplicates ignored) and one commit, instead of a commit each.
// Store returns once the caller's events are durable, so the handler
// answers WeChat "success" only for stored events.
//
// The same transaction settles the common case on arrival: an event
// without an error whose delivery is already sent (its msgid recorded)
// marks that delivery delivered and is stored linked to it, so it never
// becomes work for the engine's settle pass. Everything else (an event
// that came before its send's answer was recorded, a failure, an unknown
// delivery) is stored pending, for the settle pass, as before.
//
// No timer holds a batch back: while one batch commits the next gathers,
// so a lone push is written at once and a flood is written in large
// batches.
type SentEventWriter struct {
	db      *gorm.DB
	reqs    chan *sentWrite
	stop    chan struct{}
	done    chan struct{}
	maxRows int
}

type sentWrite struct {
	evs     []SentEvent
	now     time.Time
	settled int // set before done is sent: how many of evs settled a delivery
	done    chan error
}

// ErrWriterClosed is returned by Store after Close.
var ErrWriterClosed = errors.New("the sent-event writer is closed")

// NewSentEventWriter starts a writer on db; Close it after the HTTP server
// has stopped.
func NewSentEventWriter(db *gorm.DB) *SentEventWriter {
	w := &SentEventWriter{db: db, reqs: make(chan *sentWrite, 1024), stop: make(chan struct{}), done: make(chan struct{}), maxRows: 1000}
	go w.run()
	return w
}

// Store writes evs (received at now) and waits until they are committed.
// settled is how many of them settled their delivery on arrival.
func (w *SentEventWriter) Store(ctx context.Context, evs []SentEvent, now time.Time) (settled int, err error) {
	rows := make([]SentEvent, len(evs))
	for i, e := range evs {
		e.ID, e.DeliveryID, e.CreatedAt, e.EventTime = 0, nil, now.UTC(), e.EventTime.UTC()
		rows[i] = e
	}
	r := &sentWrite{evs: rows, now: now.UTC(), done: make(chan error, 1)}
	select {
	case <-w.stop:
		return 0, ErrWriterClosed
	default:
	}
	select {
	case w.reqs <- r:
	case <-w.stop:
		return 0, ErrWriterClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case err := <-r.done:
		return r.settled, err
	case <-w.done:
		// Closed: its last drain may or may not have taken r.
		select {
		case err := <-r.done:
			return r.settled, err
		default:
			return 0, ErrWriterClosed
		}
	case <-ctx.Done():
		return 0, ctx.Err() // it may still be written: WeChat's retry is deduplicated
	}
}

// Close writes what is queued and stops the writer.
func (w *SentEventWriter) Close() {
	close(w.stop)
	<-w.done
}

// run writes one batch at a time. Four at once (tried at 1,000,000
// recipients on MariaDB) took in 3 % more events a second and settled 48 %
// instead of 39 % by the end of the bench's wait, for twice the commits and
// a fifth fewer messages sent; at 100,000 they took in no more and cost
// 15 % more CPU per message. Kept at one.
func (w *SentEventWriter) run() {
	defer close(w.done)
	for {
		select {
		case r := <-w.reqs:
			w.write(r)
		case <-w.stop:
			for {
				select {
				case r := <-w.reqs:
					w.write(r)
				default:
					return
				}
			}
		}
	}
}

// write commits r and whatever else is waiting (up to maxRows events) as
// one statement, then answers each waiting handler.
func (w *SentEventWriter) write(first *sentWrite) {
	batch := []*sentWrite{first}
	n := len(first.evs)
gather:
	for n < w.maxRows {
		select {
		case r := <-w.reqs:
			batch = append(batch, r)
			n += len(r.evs)
		default:
			break gather
		}
	}
	rows := make([]SentEvent, 0, n)
	now := first.now
	for _, r := range batch {
		rows = append(rows, r.evs...)
		if r.now.After(now) {
			now = r.now
		}
	}
	var settled []bool
	// Bounded: WeChat waits 5 s for an answer and then retries, and every
	// push of this instance waits behind this batch.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := retryTx(ctx, w.db.WithContext(ctx), func(tx *gorm.DB) error {
		var err error
		settled, err = storeSentEvents(tx, rows, now, w.maxRows)
		return err
	})
	err = translate(err)
	i := 0
	for _, r := range batch {
		if err == nil {
			for range r.evs {
				if settled[i] {
					r.settled++
				}
				i++
			}
		}
		r.done <- err
	}
}

// storeSentEvents inserts evs (duplicates ignored) and settles on arrival
// each event without an error whose delivery is sent: delivered, and the
// event stored linked to it. An event whose delivery is final already is
// stored linked too; the rest are stored pending for the settle pass.
// settled[i] tells whether evs[i] settled its delivery.
//
// The deliveries are looked up without a lock, so another writer (another
// instance took WeChat's retry) or a settle pass (it took a pending copy)
// may decide to settle the same delivery at the same moment: what makes
// one of them win is the update's `status = 'sent'` condition. The loser
// changes fewer rows than it meant to, and its whole transaction is
// retried (errSettleRace), finding the delivery final: it only links.
// Rows are inserted in (app_id, msgid) order, so two writers inserting the
// same retried events take the unique index's locks in the same order.
func storeSentEvents(tx *gorm.DB, evs []SentEvent, now time.Time, perInsert int) ([]bool, error) {
	settled := make([]bool, len(evs))
	found, err := deliveriesByMsgID(tx, evs)
	if err != nil {
		return nil, err
	}
	st := StatDeltas{}
	var okIDs []int64
	marked := map[int64]bool{}
	for i := range evs {
		e := &evs[i]
		e.ID, e.DeliveryID = 0, nil // a retried transaction starts afresh
		d := found[msgKey{e.AppID, e.MsgID}]
		switch {
		case d == nil:
			continue // its send's answer is not recorded yet: the settle pass
		case d.Status == DeliverySent && e.ErrorCode == 0:
			if !marked[d.ID] { // WeChat's retry in the same batch settles nothing more
				marked[d.ID] = true
				okIDs = append(okIDs, d.ID)
				st.Move(d.AppID, d.RunID, DeliverySent, DeliveryDelivered, "")
				settled[i] = true
			}
		case d.Status == DeliverySent || d.Status == DeliveryUnknown:
			continue // a failure or an unknown delivery: the settle pass
		}
		id := d.ID
		e.DeliveryID = &id
	}
	ins := slices.Clone(evs)
	slices.SortFunc(ins, func(a, b SentEvent) int {
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.MsgID, b.MsgID))
	})
	if err := insertIgnore(tx).CreateInBatches(ins, perInsert).Error; err != nil {
		return nil, err
	}
	if err := markDelivered(tx, okIDs, now); err != nil {
		return nil, err
	}
	// Another shard than the engine's: its outcome transactions move the
	// same sent counter (sending → sent) and hold it until they commit. At
	// 1,000,000 single sends on MariaDB, with shard 0 here: 3,542 messages/s
	// sent and 912 events/s taken in; with another shard 4,423 and 1,137.
	// A campaign run's counters are also columns of its campaign_runs row,
	// which both still update: there the wait remains (not measured).
	return settled, applyStatsOnShard(tx, st, 1+rand.IntN(statShards-1))
}
