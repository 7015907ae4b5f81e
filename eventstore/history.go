package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"provisioning/events"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// HistoryQuery selects the events of one stream for History: sequences
// From..To and times Since..Until (all inclusive; zero values leave that
// end open), narrowed to Subjects (none: every subject; they must not
// overlap).
type HistoryQuery struct {
	From, To     uint64
	Since, Until time.Time
	Subjects     []string
	// Match, when set, keeps only the events it accepts, after the
	// subject filter: the range is then scanned to count them (time in
	// proportion to the events on Subjects in the range, memory one
	// page). For sets of aggregates too large for subject filters.
	Match func(events.Envelope) bool
}

// HistoryPage is one page of a history read: the events (oldest first)
// and how many events the query matches in all, as of the read.
type HistoryPage struct {
	Events []events.Envelope
	Total  int
}

// History reads one page of the events q selects, oldest first, skipping
// offset of them. It reads JetStream, never a copy: the server filters
// by subject and counts matches (consumer pending counts), this process
// holds one page. Skipping costs time in proportion to offset; a client
// paging deep does better to move From past the last sequence it got.
//
// Events are returned as stored, in their own schema version (not
// upcast): it is the history.
func (s *Store) History(ctx context.Context, st events.Stream, q HistoryQuery, offset, limit int) (HistoryPage, error) {
	state, err := s.streamState(ctx, st)
	if err != nil {
		return HistoryPage{}, err
	}
	lo, hi, err := s.resolveRange(ctx, st, state, q)
	if err != nil || lo > hi {
		return HistoryPage{}, err
	}
	if q.Match != nil {
		return s.scanRange(ctx, st, lo, hi, q, offset, limit)
	}
	total, err := s.countRange(ctx, st, state, lo, hi, q.Subjects)
	if err != nil {
		return HistoryPage{}, err
	}
	page := HistoryPage{Total: total}
	if offset >= total || limit <= 0 {
		return page, nil
	}
	page.Events, err = s.readRange(ctx, st, lo, hi, q.Subjects, offset, limit)
	return page, err
}

// streamState reads st's state (one stream info request) for History to
// resolve its range and count it from.
func (s *Store) streamState(ctx context.Context, st events.Stream) (jetstream.StreamState, error) {
	str, err := s.stream(ctx, st)
	if err != nil {
		return jetstream.StreamState{}, fmt.Errorf("history: state of %s: %w", st.Name, err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		return jetstream.StreamState{}, fmt.Errorf("history: state of %s: %w", st.Name, err)
	}
	return info.State, nil
}

// resolveRange turns q's bounds into a range of sequences, lo..hi, within
// the stream as state shows it (lo > hi: nothing matches).
func (s *Store) resolveRange(ctx context.Context, st events.Stream, state jetstream.StreamState, q HistoryQuery) (lo, hi uint64, err error) {
	lo, hi = max(q.From, 1), state.LastSeq
	if q.To > 0 {
		hi = min(hi, q.To)
	}
	if !q.Since.IsZero() {
		first, err := s.SeqAt(ctx, st, q.Since)
		if err != nil {
			return 0, 0, err
		}
		lo = max(lo, first)
	}
	if !q.Until.IsZero() {
		after, err := s.SeqAt(ctx, st, q.Until.Add(time.Nanosecond))
		if err != nil {
			return 0, 0, err
		}
		if after == 0 {
			return 1, 0, nil
		}
		hi = min(hi, after-1)
	}
	return lo, hi, nil
}

// SeqAt is the sequence of the first message stream st stored at or
// after t (the stream's last sequence plus one when there is none).
func (s *Store) SeqAt(ctx context.Context, st events.Stream, t time.Time) (uint64, error) {
	info, err := s.probe(ctx, st, jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &t})
	if err != nil {
		return 0, fmt.Errorf("history: position of %s: %w", t.Format(time.RFC3339Nano), err)
	}
	return info.Delivered.Stream + 1, nil
}

// pendingFrom counts the messages on subjects from seq to the end.
func (s *Store) pendingFrom(ctx context.Context, st events.Stream, seq uint64, subjects []string) (uint64, error) {
	info, err := s.probe(ctx, st, jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: seq, FilterSubjects: subjects})
	if err != nil {
		return 0, fmt.Errorf("history: count from seq %d: %w", seq, err)
	}
	return info.NumPending, nil
}

// probe creates an ephemeral consumer only to read what the server
// computed for it (its start, its pending count), then deletes it.
func (s *Store) probe(ctx context.Context, st events.Stream, cfg jetstream.ConsumerConfig) (*jetstream.ConsumerInfo, error) {
	str, err := s.stream(ctx, st)
	if err != nil {
		return nil, err
	}
	cfg.AckPolicy = jetstream.AckNonePolicy
	cfg.MemoryStorage = true
	cfg.Replicas = 1
	cfg.InactiveThreshold = 30 * time.Second
	cons, err := str.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	info := cons.CachedInfo()
	_ = str.DeleteConsumer(context.WithoutCancel(ctx), info.Name)
	return info, nil
}

// countRange counts the messages on subjects in lo..hi: with no subjects
// in a stream that state shows holding every sequence from 1 to its last
// (nothing deleted or expired), the range's length; otherwise the pending
// count from lo minus the one from hi+1, taken so that an append between
// the two reads cannot skew it (the second count from hi+1 must equal the
// first).
func (s *Store) countRange(ctx context.Context, st events.Stream, state jetstream.StreamState, lo, hi uint64, subjects []string) (int, error) {
	if len(subjects) == 0 && state.FirstSeq <= 1 && state.NumDeleted == 0 && hi <= state.LastSeq {
		return int(hi - lo + 1), nil
	}
	for range 5 {
		after, err := s.pendingFrom(ctx, st, hi+1, subjects)
		if err != nil {
			return 0, err
		}
		from, err := s.pendingFrom(ctx, st, lo, subjects)
		if err != nil {
			return 0, err
		}
		again, err := s.pendingFrom(ctx, st, hi+1, subjects)
		if err != nil {
			return 0, err
		}
		if again == after && from >= after {
			return int(from - after), nil
		}
	}
	return 0, errors.New("history: the stream kept growing while its events were counted; retry")
}

// readRange reads limit messages on subjects within lo..hi after skipping
// offset of them.
func (s *Store) readRange(ctx context.Context, st events.Stream, lo, hi uint64, subjects []string, offset, limit int) ([]events.Envelope, error) {
	out := make([]events.Envelope, 0, min(limit, 1024))
	skipped := 0
	err := s.eachStored(ctx, st, lo, hi, subjects, func(e events.Envelope) bool {
		if skipped < offset {
			skipped++
			return true
		}
		out = append(out, e)
		return len(out) < limit
	})
	return out, err
}

// eachStored hands fn the messages on subjects within lo..hi, as stored,
// in order, until fn returns false.
func (s *Store) eachStored(ctx context.Context, st events.Stream, lo, hi uint64, subjects []string, fn func(events.Envelope) bool) error {
	cons, err := s.js.OrderedConsumer(ctx, st.Name, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: lo,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if info.NumPending == 0 {
		return nil
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("history: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("history: %w", err)
		}
		seq := meta.Sequence.Stream
		if seq > hi || !fn(parseStored(msg.Data(), seq)) || meta.NumPending == 0 || seq == hi {
			return nil
		}
	}
}

// scanRange reads every event on q's subjects in lo..hi, counts those
// q.Match accepts and keeps the page of them.
func (s *Store) scanRange(ctx context.Context, st events.Stream, lo, hi uint64, q HistoryQuery, offset, limit int) (HistoryPage, error) {
	var page HistoryPage
	err := s.eachStored(ctx, st, lo, hi, q.Subjects, func(e events.Envelope) bool {
		if q.Match(e) {
			if page.Total >= offset && len(page.Events) < limit {
				page.Events = append(page.Events, e)
			}
			page.Total++
		}
		return true
	})
	return page, err
}

// parseStored decodes a message body as it was stored, without upcasting;
// a body that is not an envelope is returned as its raw data.
func parseStored(body []byte, seq uint64) events.Envelope {
	var e events.Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		raw, _ := json.Marshal(string(body))
		e = events.Envelope{Type: "Unreadable", Data: raw}
	}
	e.Seq = seq
	return e
}
