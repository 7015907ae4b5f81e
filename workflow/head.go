package workflow

import (
	"errors"
	"fmt"

	"provisioning/events"
)

// Head is what a task's last event says about it: enough for a writer to
// decide its next append without folding the whole history.
type Head struct {
	Seq             uint64
	Status          string
	Attempt         int
	CancelRequested bool
	BatchID         string
}

// HeadOf reads the head of a task from its last event.
func HeadOf(last events.Envelope) (Head, error) {
	h := Head{Seq: last.Seq}
	switch last.Type {
	case events.TaskCreated:
		var d events.TaskCreatedData
		if err := last.Decode(&d); err != nil {
			return h, err
		}
		h.Status, h.BatchID = events.StatusPending, d.BatchID
	case events.TaskStatusChanged:
		var d events.TaskStatusChangedData
		if err := last.Decode(&d); err != nil {
			return h, err
		}
		h.Status, h.Attempt, h.BatchID = d.Status, d.Attempt, d.BatchID
	case events.TaskProgress:
		var d events.TaskProgressData
		if err := last.Decode(&d); err != nil {
			return h, err
		}
		h.Status, h.Attempt, h.BatchID = events.StatusRunning, d.Attempt, d.BatchID
	case events.TaskCancelRequested:
		var d events.TaskCancelRequestedData
		if err := last.Decode(&d); err != nil {
			return h, err
		}
		h.Status, h.CancelRequested, h.BatchID = events.StatusRunning, true, d.BatchID
	default:
		return h, fmt.Errorf("%w: %s is not a task event", events.ErrInvalid, last.Type)
	}
	return h, nil
}

// ErrFinished: the task already reached a final status other than the one
// asked for.
var ErrFinished = errors.New("task already finished")

// CancelEvent decides how to cancel a task whose head is h: a pending task
// is cancelled at once; a running one gets a cancellation request that its
// executor carries out. It returns no event when there is nothing to do
// (already cancelled or requested) and ErrFinished when the task ended
// otherwise.
func CancelEvent(taskID string, h Head, reason string) (*events.Envelope, error) {
	var (
		e   events.Envelope
		err error
	)
	switch {
	case h.Status == events.StatusCancelled || h.CancelRequested:
		return nil, nil
	case events.Terminal(h.Status):
		return nil, fmt.Errorf("%w: task %s is %s", ErrFinished, taskID, h.Status)
	case h.Status == events.StatusPending:
		e, err = events.New(events.TaskStatusChanged, taskID, events.TaskStatusChangedData{
			TaskID: taskID, Status: events.StatusCancelled, Error: "cancelled before it started: " + reason, BatchID: h.BatchID})
	default:
		e, err = events.New(events.TaskCancelRequested, taskID, events.TaskCancelRequestedData{TaskID: taskID, Reason: reason, BatchID: h.BatchID})
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}
