package events

import "errors"

// ErrInvalid: an event cannot be stored or read as given (an id that cannot
// be a subject token, a schema version newer than this binary).
var ErrInvalid = errors.New("invalid event")
