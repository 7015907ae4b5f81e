package eventstore

import (
	"context"
	"errors"
	"fmt"
	"provisioning/events"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Position says where a read starts: at a sequence (From, 1 is the
// beginning) or at a time (Since), optionally narrowed to Subjects.
type Position struct {
	From     uint64
	Since    time.Time
	Subjects []string
}

// Handler receives events in stream order. err is set when the message at
// env.Seq could not be parsed; the handler decides whether to go on. A
// handler error stops the read and is returned.
type Handler func(env events.Envelope, err error) error

// ErrStop, returned by a Handler, ends a read without an error.
var ErrStop = errors.New("stop reading")

// Follow delivers every event of st from pos on, in order and without gaps,
// then keeps delivering new ones until ctx ends (it returns nil then) or
// the handler returns an error. It uses an ordered consumer, which the
// client library recreates from the last delivered sequence after a
// reconnect or a leader change.
func (s *Store) Follow(ctx context.Context, st events.Stream, pos Position, h Handler) error {
	return s.read(ctx, st, pos, false, h)
}

// Read delivers the events of st from pos up to the stream's end at the
// time of the call, then returns.
func (s *Store) Read(ctx context.Context, st events.Stream, pos Position, h Handler) error {
	return s.read(ctx, st, pos, true, h)
}

func (s *Store) read(ctx context.Context, st events.Stream, pos Position, stopAtEnd bool, h Handler) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: pos.Subjects}
	switch {
	case !pos.Since.IsZero():
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		t := pos.Since
		cfg.OptStartTime = &t
	case pos.From > 1:
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = pos.From
	default:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	var until uint64
	if stopAtEnd {
		last, err := s.LastSeq(ctx, st)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if last == 0 || (pos.From > last) {
			return nil
		}
		until = last
	}
	cons, err := s.js.OrderedConsumer(ctx, st.Name, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("read %s: %w", st.Name, err)
	}
	if stopAtEnd {
		info, err := cons.Info(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read %s: %w", st.Name, err)
		}
		if info.NumPending == 0 {
			return nil
		}
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("read %s: %w", st.Name, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("read %s: %w", st.Name, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: %w", st.Name, err)
		}
		seq := meta.Sequence.Stream
		if until > 0 && seq > until {
			return nil
		}
		env, perr := events.Parse(msg.Data(), seq)
		env.Seq = seq
		if err := h(env, perr); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
		if until > 0 && (seq >= until || meta.NumPending == 0) {
			return nil
		}
	}
}
