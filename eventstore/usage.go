package eventstore

import (
	"context"
	"fmt"
)

// StreamUsage is what one JetStream stream holds.
type StreamUsage struct {
	Name     string `json:"name"`
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
}

// Usage lists every stream of the account (ours, the snapshot object
// store's, the KV buckets') with its message and byte counts, as
// JetStream reports them. It fails when JetStream does not answer.
func (s *Store) Usage(ctx context.Context) ([]StreamUsage, error) {
	lister := s.js.ListStreams(ctx)
	var out []StreamUsage
	for info := range lister.Info() {
		out = append(out, StreamUsage{Name: info.Config.Name, Messages: info.State.Msgs, Bytes: info.State.Bytes})
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	return out, nil
}
