package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"provisioning/eventstore"
	"provisioning/handlers/orchestrator"
	"provisioning/projections"
)

// checkLoss refuses to start on streams that lost acknowledged events:
// a view snapshot beyond a stream's end, or events missing inside it.
// Serving from such a store would show fewer tasks than clients were
// told exist and hand the lost sequence numbers to new events. With
// AcceptEventLoss the loss is logged, recorded as accepted, and the views
// ahead are rebuilt from what is left.
func (in *Instance) checkLoss(ctx context.Context, runners ...*projections.Runner) error {
	var refused []error
	for _, r := range runners {
		marks, err := r.Marks(ctx)
		if err != nil {
			return err
		}
		loss, err := in.store.CheckLoss(ctx, r.Stream(), marks)
		if err != nil {
			return err
		}
		if loss == nil {
			continue
		}
		if !in.cfg.AcceptEventLoss {
			refused = append(refused, loss)
			continue
		}
		in.log.Error("starting on an event store that lost events, as --accept-event-loss asks: the lost events stay lost", "err", loss)
		if err := r.DropSnapshotsAfter(ctx, loss.LastSeq); err != nil {
			return err
		}
		if err := in.store.AcceptLoss(ctx, loss); err != nil {
			return err
		}
	}
	if len(refused) == 0 {
		return nil
	}
	return fmt.Errorf("%w\nRefusing to start. To recover: stop every instance and restore the NATS store (%s) from a backup taken before the loss; "+
		"or, to go on with what is left, start once with --accept-event-loss: the views are rebuilt from the events that remain, "+
		"new events take the lost sequence numbers, and the lost ones stay lost (see docs/recovery.md, \"Lost events\")",
		errors.Join(refused...), in.natsStoreDescription())
}

func (in *Instance) natsStoreDescription() string {
	if in.cfg.NATSURL != "" {
		return "the JetStream store of the NATS servers of --nats-url"
	}
	return in.cfg.DataDir + "/nats"
}

// lossWatch is the part of the storage health that watches for events
// lost while the instance runs (a NATS deployment that came back with
// less than it acknowledged): the views hold events the stream no longer
// has. Once seen, a loss is reported until the instance restarts (and
// then refuses to start until it is dealt with).
type lossWatch struct {
	store   *eventstore.Store
	runners []*projections.Runner
	mu      sync.Mutex
	seen    error
	logged  bool
}

func (w *lossWatch) check(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen != nil {
		return w.seen
	}
	for _, r := range w.runners {
		loss, err := w.store.CheckLoss(ctx, r.Stream(), []eventstore.Mark{{What: "this instance's views applied events", Seq: r.Seq()}})
		if err != nil {
			return nil // JetStream not answering is the storage check's business
		}
		if loss != nil {
			w.seen = loss
			return loss
		}
	}
	return nil
}

// storageCheck is the storage component of the health: JetStream answers
// with every stream, and none lost events.
func (in *Instance) storageCheck(runners ...*projections.Runner) orchestrator.HealthCheck {
	base := orchestrator.StorageCheck(in.store)
	watch := &lossWatch{store: in.store, runners: runners}
	return func(ctx context.Context) (string, string) {
		if status, detail := base(ctx); status != "Healthy" {
			return status, detail
		}
		if err := watch.check(ctx); err != nil {
			if watch.reported() {
				in.log.Error("the event store lost events while this instance ran; restart it to be told how to recover", "err", err)
			}
			return "Unhealthy", strings.TrimSpace(err.Error())
		}
		return "Healthy", ""
	}
}

// reported reports true the first time it is called after a loss was
// seen (the ERROR log is written once).
func (w *lossWatch) reported() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil || w.logged {
		return false
	}
	w.logged = true
	return true
}
