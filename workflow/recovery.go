package workflow

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"provisioning/events"
)

// Bounds of the recovery requests.
const (
	MaxDescriptionLen = 1024
	// MaxOperationIDs bounds operation_ids of one rollback.
	MaxOperationIDs = 1000
	// MaxRollbackTargets bounds the tasks one rollback compensates: its
	// RollbackStarted holds each one's spec.
	MaxRollbackTargets = 10000
)

// CheckpointRequest is the body of POST /rollback/checkpoints.
type CheckpointRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Validate checks the request: a name like every other name of ours, a
// description of printable text.
func (r CheckpointRequest) Validate() error {
	var v ValidationError
	v.CheckName("name", r.Name, true)
	switch {
	case len(r.Description) > MaxDescriptionLen:
		v.Add("description", "is longer than %d characters", MaxDescriptionLen)
	case !utf8.ValidString(r.Description):
		v.Add("description", "is not valid UTF-8")
	case strings.IndexFunc(r.Description, func(c rune) bool { return c < ' ' && c != '\n' && c != '\t' || c == 0x7f }) >= 0:
		v.Add("description", "must not hold control characters")
	}
	return v.Err()
}

// RollbackRequest is the body of POST /rollback/execute: a checkpoint, or
// the operations to compensate.
type RollbackRequest struct {
	CheckpointID string   `json:"checkpoint_id"`
	OperationIDs []string `json:"operation_ids"`
}

// Validate checks that exactly one of the two is given and well formed.
// An operation id is a task id, "<batch id>/<operation id>", or an
// operation id.
func (r RollbackRequest) Validate() error {
	var v ValidationError
	switch {
	case r.CheckpointID == "" && r.OperationIDs == nil:
		v.Add("checkpoint_id", "give checkpoint_id or operation_ids")
	case r.CheckpointID != "" && r.OperationIDs != nil:
		v.Add("operation_ids", "give checkpoint_id or operation_ids, not both")
	case r.CheckpointID != "":
		if !events.ValidID(r.CheckpointID) {
			v.Add("checkpoint_id", "is not a valid id")
		}
	case len(r.OperationIDs) == 0:
		v.Add("operation_ids", "is empty")
	case len(r.OperationIDs) > MaxOperationIDs:
		v.Add("operation_ids", "holds more than %d ids", MaxOperationIDs)
	default:
		seen := map[string]bool{}
		for i, id := range r.OperationIDs {
			field := "operation_ids[" + strconv.Itoa(i) + "]"
			batch, op, nested := strings.Cut(id, "/")
			switch {
			case id == "":
				v.Add(field, "is empty")
			case nested && (!events.ValidID(batch) || !events.ValidID(op) || len(op) > 128):
				v.Add(field, "must be a task id, <batch id>/<operation id> or an operation id")
			case !nested && !events.ValidID(id):
				v.Add(field, "must be a task id, <batch id>/<operation id> or an operation id")
			case seen[id]:
				v.Add(field, "repeats %q", id)
			}
			seen[id] = true
		}
	}
	return v.Err()
}
