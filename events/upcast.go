package events

import (
	"encoding/json"
	"fmt"
)

// upcaster turns the data of one schema version into the next.
type upcaster func(json.RawMessage) (json.RawMessage, error)

// upcasters[t][v] lifts data of type t from version v to v+1. A type whose
// shape never changed has no entry and is lifted unchanged.
var upcasters = map[Type]map[int]upcaster{}

// Upcast lifts an event read from the stream to SchemaVersion, so folds
// only ever see the current shapes. An event written by a newer version
// than this binary knows is an error: folding it could lose data.
func Upcast(e Envelope) (Envelope, error) {
	if e.SchemaVersion == 0 {
		e.SchemaVersion = 1
	}
	if e.SchemaVersion > SchemaVersion {
		return e, fmt.Errorf("%w: %s %s has schema version %d, this binary knows up to %d",
			ErrInvalid, e.Type, e.ID, e.SchemaVersion, SchemaVersion)
	}
	for e.SchemaVersion < SchemaVersion {
		if up, ok := upcasters[e.Type][e.SchemaVersion]; ok {
			data, err := up(e.Data)
			if err != nil {
				return e, fmt.Errorf("upcast %s %s from v%d: %w", e.Type, e.ID, e.SchemaVersion, err)
			}
			e.Data = data
		}
		e.SchemaVersion++
	}
	return e, nil
}
