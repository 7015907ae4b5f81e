package webhooks

import (
	"bytes"
	"encoding/gob"
	"fmt"
)

// encodeState gob-encodes the state of one of the webhook views (what
// names it in errors).
func encodeState(what string, st any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(st); err != nil {
		return nil, fmt.Errorf("encode %s: %w", what, err)
	}
	return buf.Bytes(), nil
}

// decodeState gob-decodes data into st, a pointer to a view's state, and
// checks that its version (which version points to) is want: a snapshot
// of another shape is not used, the view is rebuilt from its stream.
func decodeState(what string, data []byte, st any, version *int, want int) error {
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(st); err != nil {
		return fmt.Errorf("decode %s: %w", what, err)
	}
	if *version != want {
		return fmt.Errorf("decode %s: snapshot version %d, want %d", what, *version, want)
	}
	return nil
}
