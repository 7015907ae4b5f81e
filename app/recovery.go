package app

import (
	"context"

	"provisioning/eventstore"
	"provisioning/executors"
	"provisioning/handlers/orchestrator"
	"provisioning/projections"
)

// recoveryParts are an instance's checkpoints, rollbacks and restores:
// two views among the event views, the checkpoint object store, the
// timeline that folds restores, and the rollback coordinator.
type recoveryParts struct {
	rollbacks   *projections.Rollbacks
	checkpoints *projections.Checkpoints
	objects     *projections.CheckpointObjects
	coord       *executors.RollbackCoordinator
	// unlock releases the data directory (embedded NATS only).
	unlock func()
}

// lockDataDir keeps a second process from running an embedded NATS
// server on the same data: a `serve` already running, or `provisioning
// replay` reading it.
func (in *Instance) lockDataDir() error {
	unlock, err := eventstore.LockDataDir(in.cfg.DataDir)
	if err != nil {
		return err
	}
	in.recovery.unlock = unlock
	return nil
}

// wireRecovery adds the recovery views to the event runner (folded with
// the tasks and batches), gives the runner its timeline, and starts the
// rollback coordinator once the views have caught up. It runs before the
// runner does.
func (in *Instance) wireRecovery(bg context.Context) {
	in.recovery.rollbacks, in.recovery.checkpoints = projections.NewRollbacks(), projections.NewCheckpoints()
	in.view.Add(in.recovery.rollbacks, in.recovery.checkpoints)
	in.view.Timeline = &projections.Timeline{Store: in.store, Objects: in.recovery.objects, Log: in.log}
	in.recovery.coord = executors.NewRollbackCoordinator(in.store, in.recovery.rollbacks, in.id, 0, in.log)
	in.view.OnApply(in.recovery.coord.Observe)
	in.goRun("rollback coordinator", func() error { return in.recovery.coord.Run(bg, in.view.Ready()) })
}

func (in *Instance) recoveryAPI() *orchestrator.Recovery {
	return &orchestrator.Recovery{
		Checkpoints: in.recovery.checkpoints, Rollbacks: in.recovery.rollbacks,
		Checkpointer: &projections.Checkpointer{Runner: in.view, Objects: in.recovery.objects, Tasks: in.tasks},
	}
}

// Rollbacks is the instance's rollback view.
func (in *Instance) Rollbacks() *projections.Rollbacks { return in.recovery.rollbacks }

// Checkpoints is the instance's checkpoint view.
func (in *Instance) Checkpoints() *projections.Checkpoints { return in.recovery.checkpoints }

// View is the runner of the instance's event views.
func (in *Instance) View() *projections.Runner { return in.view }
