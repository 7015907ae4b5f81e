package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"provisioning/events"
)

// ErrEventsLost: a stream holds less than was stored in it. Our streams
// never delete an event (age limits drop the oldest ones only), so events
// missing inside a stream, or a position something stored of it beyond
// its end, are proof that storage lost acknowledged data (a block file
// cut short, a disk restored to an older state).
var ErrEventsLost = errors.New("events acknowledged before were lost from the event store")

// Mark is a position something stored of a stream: the sequence a view's
// snapshot was taken at, or the last one an instance applied.
type Mark struct {
	What string
	Seq  uint64
}

// Loss is what one stream lost.
type Loss struct {
	Stream string
	// LastSeq is where the stream's readable events end now.
	LastSeq uint64
	// Missing counts events inside the stream that it lists but cannot
	// give (beyond those accepted before); Claimed is the last sequence
	// its index claims.
	Missing, Claimed uint64
	// Ahead are the marks beyond LastSeq.
	Ahead []Mark
}

// Error says what was lost.
func (l *Loss) Error() string {
	var parts []string
	if l.Missing > 0 {
		parts = append(parts, fmt.Sprintf("%d events up to seq %d are missing inside it", l.Missing, l.Claimed))
	}
	if len(l.Ahead) > 0 {
		top := l.Ahead[0]
		for _, m := range l.Ahead {
			if m.Seq > top.Seq {
				top = m
			}
		}
		// Marks at one sequence are said once: "a, b at seq 60".
		var what []string
		bySeq := map[uint64][]string{}
		var seqs []uint64
		for _, m := range l.Ahead {
			if _, ok := bySeq[m.Seq]; !ok {
				seqs = append(seqs, m.Seq)
			}
			bySeq[m.Seq] = append(bySeq[m.Seq], m.What)
		}
		for _, seq := range seqs {
			what = append(what, strings.Join(bySeq[seq], ", ")+" at seq "+strconv.FormatUint(seq, 10))
		}
		parts = append(parts, fmt.Sprintf("it ends at seq %d but %s: at least %d events (seqs %d to %d) are gone",
			l.LastSeq, strings.Join(what, ", "), top.Seq-l.LastSeq, l.LastSeq+1, top.Seq))
	}
	return fmt.Sprintf("%v: stream %s: %s", ErrEventsLost, l.Stream, strings.Join(parts, "; "))
}

// Unwrap makes errors.Is(loss, ErrEventsLost) hold.
func (l *Loss) Unwrap() error { return ErrEventsLost }

// CheckLoss compares stream st with what was stored of it: nil when it
// is whole, a *Loss saying what it lost otherwise. Missing events already
// accepted (AcceptLoss) do not count again.
func (s *Store) CheckLoss(ctx context.Context, st events.Stream, marks []Mark) (*Loss, error) {
	str, err := s.stream(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", st.Name, err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", st.Name, err)
	}
	last, err := s.lastExisting(ctx, str, info.State)
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", st.Name, err)
	}
	accepted, err := s.acceptedLoss(ctx, st)
	if err != nil {
		return nil, err
	}
	loss := &Loss{Stream: st.Name, LastSeq: last, Claimed: info.State.LastSeq}
	if info.State.NumDeleted > 0 && uint64(info.State.NumDeleted) > accepted {
		loss.Missing = uint64(info.State.NumDeleted) - accepted
	}
	for _, m := range marks {
		if m.Seq > last && m.Seq > info.State.LastSeq {
			loss.Ahead = append(loss.Ahead, m)
		}
	}
	if loss.Missing == 0 && len(loss.Ahead) == 0 {
		return nil, nil
	}
	return loss, nil
}

// lastExisting is the sequence of the stream's last readable event: its
// last sequence, unless events are missing, when the last of them may
// be among the missing.
func (s *Store) lastExisting(ctx context.Context, str jetstream.Stream, state jetstream.StreamState) (uint64, error) {
	if state.NumDeleted == 0 || state.Msgs == 0 {
		return state.LastSeq, nil
	}
	msg, err := str.GetLastMsgForSubject(ctx, str.CachedInfo().Config.Subjects[0])
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return msg.Sequence, nil
}

// IntegrityBucket records, per stream, the missing events an operator
// accepted (--accept-event-loss), so that the same loss does not refuse
// every later start.
const IntegrityBucket = "PROV_INTEGRITY"

type acceptedLoss struct {
	Missing    uint64    `json:"missing"`
	LastSeq    uint64    `json:"last_seq"`
	AcceptedAt time.Time `json:"accepted_at"`
}

func (s *Store) integrity(ctx context.Context) (jetstream.KeyValue, error) {
	return s.KeyValue(ctx, jetstream.KeyValueConfig{Bucket: IntegrityBucket,
		Description: "event losses accepted by an operator (--accept-event-loss)", History: 10})
}

func (s *Store) acceptedLoss(ctx context.Context, st events.Stream) (uint64, error) {
	kv, err := s.js.KeyValue(ctx, IntegrityBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read accepted losses: %w", err)
	}
	entry, err := kv.Get(ctx, st.Name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read accepted losses: %w", err)
	}
	var a acceptedLoss
	if err := json.Unmarshal(entry.Value(), &a); err != nil {
		return 0, fmt.Errorf("read accepted losses of %s: %w", st.Name, err)
	}
	return a.Missing, nil
}

// AcceptLoss records the events loss says are missing as accepted: a
// later CheckLoss counts only events missing beyond them.
func (s *Store) AcceptLoss(ctx context.Context, loss *Loss) error {
	kv, err := s.integrity(ctx)
	if err != nil {
		return err
	}
	st := events.Stream{Name: loss.Stream}
	before, err := s.acceptedLoss(ctx, st)
	if err != nil {
		return err
	}
	data, err := json.Marshal(acceptedLoss{Missing: before + loss.Missing, LastSeq: loss.LastSeq, AcceptedAt: s.Now().UTC()})
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, loss.Stream, data); err != nil {
		return fmt.Errorf("record the accepted loss of %s: %w", loss.Stream, err)
	}
	return nil
}
