package models

import (
	"context"
	"errors"
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
	evs  []SentEvent
	done chan error
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
func (w *SentEventWriter) Store(ctx context.Context, evs []SentEvent, now time.Time) error {
	rows := make([]SentEvent, len(evs))
	for i, e := range evs {
		e.ID, e.DeliveryID, e.CreatedAt, e.EventTime = 0, nil, now.UTC(), e.EventTime.UTC()
		rows[i] = e
	}
	r := &sentWrite{evs: rows, done: make(chan error, 1)}
	select {
	case <-w.stop:
		return ErrWriterClosed
	default:
	}
	select {
	case w.reqs <- r:
	case <-w.stop:
		return ErrWriterClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-w.done:
		// Closed: its last drain may or may not have taken r.
		select {
		case err := <-r.done:
			return err
		default:
			return ErrWriterClosed
		}
	case <-ctx.Done():
		return ctx.Err() // it may still be written: WeChat's retry is deduplicated
	}
}

// Close writes what is queued and stops the writer.
func (w *SentEventWriter) Close() {
	close(w.stop)
	<-w.done
}

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
	for _, r := range batch {
		rows = append(rows, r.evs...)
	}
	err := translate(insertIgnore(w.db).CreateInBatches(rows, w.maxRows).Error)
	for _, r := range batch {
		r.done <- err
	}
}
