package events

import "sort"

// KnownTypes lists every event type registered by this binary, sorted.
// Filters that name event types (the WebSocket's events=, webhook event
// names) validate against it.
func KnownTypes() []Type {
	out := make([]Type, 0, len(aggregateOf))
	for t := range aggregateOf {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
