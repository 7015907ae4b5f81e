package eventstore_test

import (
	"context"
	"testing"
	"time"

	"provisioning/events"
	"provisioning/events/eventstest"
	"provisioning/eventstore"
)

func TestHistory(t *testing.T) {
	t.Parallel()
	env := eventstest.Start(t)
	ctx := context.Background()
	// 30 events: tasks A (created + 9 progress), B (created + 9 progress),
	// and batch C (created + 9 cancel requests), interleaved; the time
	// between the 10th and the 11th append is remembered.
	var mid time.Time
	for i := 0; i < 10; i++ {
		for _, id := range []string{"A", "B", "C"} {
			var e events.Envelope
			switch {
			case id == "C" && i == 0:
				e = taskEvent(t, events.BatchCreated, id, events.BatchCreatedData{BatchID: id})
			case id == "C":
				e = taskEvent(t, events.BatchCancelRequested, id, events.BatchCancelRequestedData{BatchID: id})
			case i == 0:
				e = taskEvent(t, events.TaskCreated, id, events.TaskCreatedData{TaskID: id})
			default:
				e = taskEvent(t, events.TaskProgress, id, events.TaskProgressData{TaskID: id, Progress: float64(i)})
			}
			if _, err := env.Store.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if i == 3 {
			mid = time.Now()
		}
	}
	tests := []struct {
		name          string
		q             eventstore.HistoryQuery
		offset, limit int
		wantTotal     int
		wantSeqs      []uint64
	}{
		{name: "everything", q: eventstore.HistoryQuery{}, limit: 3, wantTotal: 30, wantSeqs: []uint64{1, 2, 3}},
		{name: "offset", q: eventstore.HistoryQuery{}, offset: 28, limit: 5, wantTotal: 30, wantSeqs: []uint64{29, 30}},
		{name: "one task", q: eventstore.HistoryQuery{Subjects: []string{events.AggregateSubject(events.AggTask, "B")}}, offset: 1, limit: 2,
			wantTotal: 10, wantSeqs: []uint64{5, 8}},
		{name: "one type", q: eventstore.HistoryQuery{Subjects: []string{events.TypeSubject(events.TaskCreated)}}, limit: 10,
			wantTotal: 2, wantSeqs: []uint64{1, 2}},
		{name: "two subjects, sequence range", q: eventstore.HistoryQuery{From: 4, To: 9, Subjects: []string{
			events.AggregateSubject(events.AggTask, "A"), events.AggregateSubject(events.AggBatch, "C")}}, limit: 10,
			wantTotal: 4, wantSeqs: []uint64{4, 6, 7, 9}},
		{name: "since a time", q: eventstore.HistoryQuery{Since: mid, Subjects: []string{events.AggregateSubject(events.AggTask, "A")}}, limit: 2,
			wantTotal: 6, wantSeqs: []uint64{13, 16}},
		{name: "until a time", q: eventstore.HistoryQuery{Until: mid}, offset: 10, limit: 5, wantTotal: 12, wantSeqs: []uint64{11, 12}},
		{name: "empty range", q: eventstore.HistoryQuery{From: 20, To: 10}, limit: 5, wantTotal: 0},
		{name: "matched here", q: eventstore.HistoryQuery{From: 5, Subjects: []string{events.TypeSubject(events.TaskProgress)},
			Match: func(e events.Envelope) bool { return e.AggregateID == "A" }}, offset: 2, limit: 3, wantTotal: 8, wantSeqs: []uint64{13, 16, 19}},
		{name: "past the end", q: eventstore.HistoryQuery{From: 31}, limit: 5, wantTotal: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := env.Store.History(ctx, events.EventsStream, tc.q, tc.offset, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			for _, e := range page.Events {
				seqs = append(seqs, e.Seq)
			}
			if page.Total != tc.wantTotal || len(seqs) != len(tc.wantSeqs) {
				t.Fatalf("total %d seqs %v, want %d %v", page.Total, seqs, tc.wantTotal, tc.wantSeqs)
			}
			for i := range seqs {
				if seqs[i] != tc.wantSeqs[i] {
					t.Fatalf("seqs %v, want %v", seqs, tc.wantSeqs)
				}
			}
		})
	}
}
