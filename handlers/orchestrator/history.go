package orchestrator

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"provisioning/events"
	"provisioning/eventstore"
	"provisioning/handlers"
)

// HistoryEvent is one stored event as GET /events shows it: the envelope
// as stored (its own schema version) with the stream sequence.
type HistoryEvent struct {
	Seq           uint64           `json:"seq"`
	ID            string           `json:"id"`
	Type          events.Type      `json:"type"`
	Aggregate     events.Aggregate `json:"aggregate"`
	AggregateID   string           `json:"aggregate_id"`
	Time          time.Time        `json:"time"`
	SchemaVersion int              `json:"schema_version"`
	Actor         string           `json:"actor,omitempty"`
	CorrelationID string           `json:"correlation_id,omitempty"`
	CausationID   string           `json:"causation_id,omitempty"`
	Data          json.RawMessage  `json:"data"`
}

// maxSubjectFilters is how many aggregates a history read names to
// JetStream as subjects; a workflow with more tasks is filtered here.
const maxSubjectFilters = 256

// listEvents is GET /events: the history of PROV_EVENTS, oldest first,
// filtered by aggregate, id, type (comma-separated), from/to (RFC 3339,
// the time JetStream stored the event) and from_seq/to_seq, paginated.
// Secrets in event data (webhook signing secrets) are redacted.
func (o *API) listEvents(w http.ResponseWriter, r *http.Request) error {
	p, err := handlers.ParsePage(r)
	if err != nil {
		return err
	}
	q, err := historyQuery(r)
	if err != nil {
		return err
	}
	agg, id, err := aggregateFilter(r)
	if err != nil {
		return err
	}
	if q.Subjects, err = historySubjects(agg, id, typesOf(r)); err != nil {
		return err
	}
	return o.writeHistory(w, r, p, q)
}

// workflowHistory is GET /state/workflows/{id}/history: the events of a
// task, of a batch and its tasks, or of a rollback and its compensation
// tasks, with the filters of GET /events but aggregate and id.
func (o *API) workflowHistory(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	p, err := handlers.ParsePage(r)
	if err != nil {
		return err
	}
	q, err := historyQuery(r)
	if err != nil {
		return err
	}
	own, members, from, ok := o.workflowMembers(id)
	if !ok {
		own, members, ok, err = o.formerWorkflow(r, id)
		if err != nil {
			return err
		}
	}
	if !ok {
		return handlers.Errorf(http.StatusNotFound, "workflow %s not found (neither a task, a batch nor a rollback)", id)
	}
	q.From = max(q.From, from)
	types := typesOf(r)
	if err := checkTypes(types); err != nil {
		return err
	}
	refs := []aggregateRef{own}
	if len(members) < maxSubjectFilters {
		refs = append(refs, members...)
	} else {
		// Too many tasks to name: read every task event from the
		// workflow's creation on and keep its tasks'.
		refs = append(refs, aggregateRef{events.AggTask, ""})
		set := make(map[string]bool, len(members))
		for _, m := range members {
			set[m.id] = true
		}
		q.Match = func(e events.Envelope) bool { return e.Aggregate != events.AggTask || set[e.AggregateID] }
	}
	for _, ref := range refs {
		subjects, err := historySubjects(ref.agg, ref.id, typesFor(ref.agg, types))
		if err != nil {
			return err
		}
		q.Subjects = append(q.Subjects, subjects...)
	}
	if len(q.Subjects) == 0 {
		// Only types of other aggregates were asked for.
		return handlers.WritePage(w, r, p, 0, []HistoryEvent{})
	}
	return o.writeHistory(w, r, p, q)
}

// checkTypes refuses event types the history does not hold.
func checkTypes(types []string) error {
	known := events.TypesIn(events.EventsStream)
	for _, t := range types {
		if !slices.Contains(known, events.Type(t)) {
			return handlers.Errorf(http.StatusBadRequest, "type %q is not an event type of the orchestrator's history", t)
		}
	}
	return nil
}

// typesFor keeps the types of aggregate agg; with no types asked for it
// is nil (every type), with none of agg's it is empty (nothing).
func typesFor(agg events.Aggregate, types []string) []string {
	if len(types) == 0 {
		return nil
	}
	out := []string{}
	for _, t := range types {
		if a, _ := events.AggregateOf(events.Type(t)); a == agg {
			out = append(out, t)
		}
	}
	return out
}

type aggregateRef struct {
	agg events.Aggregate
	id  string
}

// workflowMembers finds id among the tasks, batches and rollbacks: the
// workflow itself, its tasks, and the sequence it was created at.
func (o *API) workflowMembers(id string) (own aggregateRef, members []aggregateRef, from uint64, ok bool) {
	if t, ok := o.Tasks.Get(id); ok {
		return aggregateRef{events.AggTask, id}, nil, t.CreatedSeq, true
	}
	if ids, seq, ok := o.Batches.Members(id); ok {
		return aggregateRef{events.AggBatch, id}, taskRefs(ids), seq, true
	}
	if o.Recovery != nil {
		if ids, seq, ok := o.Recovery.Rollbacks.CompensationIDs(id); ok {
			return aggregateRef{events.AggRollback, id}, taskRefs(ids), seq, true
		}
	}
	return aggregateRef{}, nil, 0, false
}

// formerWorkflow finds a task or batch that a restore took out of the
// views in the stream itself: its history is still whole.
func (o *API) formerWorkflow(r *http.Request, id string) (own aggregateRef, members []aggregateRef, ok bool, err error) {
	if !events.ValidID(id) {
		return own, nil, false, nil
	}
	if _, err := o.Store.Last(r.Context(), events.AggTask, id); err == nil {
		return aggregateRef{events.AggTask, id}, nil, true, nil
	} else if !errors.Is(err, eventstore.ErrNotFound) {
		return own, nil, false, err
	}
	if _, err := o.Store.Last(r.Context(), events.AggBatch, id); errors.Is(err, eventstore.ErrNotFound) {
		return own, nil, false, nil
	} else if err != nil {
		return own, nil, false, err
	}
	err = o.Store.Read(r.Context(), events.EventsStream, eventstore.Position{Subjects: []string{events.Subject(events.AggBatch, id, events.BatchTasksScheduled)}},
		func(e events.Envelope, perr error) error {
			var d events.BatchTasksScheduledData
			if perr == nil && e.Decode(&d) == nil {
				for _, t := range d.Tasks {
					members = append(members, aggregateRef{events.AggTask, t.TaskID})
				}
			}
			return nil
		})
	return aggregateRef{events.AggBatch, id}, members, err == nil, err
}

func taskRefs(ids []string) []aggregateRef {
	out := make([]aggregateRef, len(ids))
	for i, id := range ids {
		out[i] = aggregateRef{events.AggTask, id}
	}
	return out
}

func (o *API) writeHistory(w http.ResponseWriter, r *http.Request, p handlers.Page, q eventstore.HistoryQuery) error {
	res, err := o.Store.History(r.Context(), events.EventsStream, q, p.Offset, p.Limit)
	if err != nil {
		return err
	}
	out := make([]HistoryEvent, len(res.Events))
	for i, e := range res.Events {
		out[i] = HistoryEvent{Seq: e.Seq, ID: e.ID, Type: e.Type, Aggregate: e.Aggregate, AggregateID: e.AggregateID, Time: e.Time,
			SchemaVersion: e.SchemaVersion, Actor: e.Actor, CorrelationID: e.CorrelationID, CausationID: e.CausationID, Data: redact(e.Data)}
	}
	return handlers.WritePage(w, r, p, res.Total, out)
}

// historyQuery reads the range filters: from_seq, to_seq (integers >= 1)
// and from, to (RFC 3339); anything else is 400.
func historyQuery(r *http.Request) (eventstore.HistoryQuery, error) {
	var q eventstore.HistoryQuery
	v := r.URL.Query()
	for _, f := range []struct {
		name string
		dst  *uint64
	}{{"from_seq", &q.From}, {"to_seq", &q.To}} {
		if s := v.Get(f.name); s != "" || v.Has(f.name) {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil || n == 0 {
				return q, handlers.Errorf(http.StatusBadRequest, "%s must be a stream sequence (an integer >= 1), not %q", f.name, s)
			}
			*f.dst = n
		}
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.Since}, {"to", &q.Until}} {
		if s := v.Get(f.name); s != "" || v.Has(f.name) {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return q, handlers.Errorf(http.StatusBadRequest, "%s must be an RFC 3339 time such as 2025-09-26T10:00:00Z, not %q", f.name, s)
			}
			*f.dst = t
		}
	}
	return q, nil
}

// aggregateFilter reads aggregate= and id=.
func aggregateFilter(r *http.Request) (events.Aggregate, string, error) {
	v := r.URL.Query()
	agg, id := events.Aggregate(v.Get("aggregate")), v.Get("id")
	known := events.AggregatesIn(events.EventsStream)
	if (agg != "" || v.Has("aggregate")) && !slices.Contains(known, agg) {
		names := make([]string, len(known))
		for i, a := range known {
			names[i] = string(a)
		}
		return "", "", handlers.Errorf(http.StatusBadRequest, "aggregate must be one of %s, not %q", strings.Join(names, ", "), agg)
	}
	if (id != "" || v.Has("id")) && !events.ValidID(id) {
		return "", "", handlers.Errorf(http.StatusBadRequest, "id %q is not a valid aggregate id", id)
	}
	return agg, id, nil
}

// typesOf reads type= (comma-separated, repeatable).
func typesOf(r *http.Request) []string {
	var out []string
	for _, v := range r.URL.Query()["type"] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// historySubjects turns the filters into subjects that never overlap:
// one per event type (on its aggregate), else the aggregate's, else the
// id's under any aggregate; none at all (nil) means every event. Types
// that are not nil but empty select nothing.
func historySubjects(agg events.Aggregate, id string, types []string) ([]string, error) {
	prefix := events.EventsStream.Prefix
	idToken := id
	if idToken == "" {
		idToken = "*"
	}
	if types != nil && len(types) == 0 {
		return nil, nil
	}
	if len(types) == 0 {
		switch {
		case agg != "":
			return []string{prefix + "." + string(agg) + "." + idToken + ".>"}, nil
		case id != "":
			return []string{prefix + ".*." + id + ".>"}, nil
		}
		return nil, nil
	}
	known := events.TypesIn(events.EventsStream)
	out := make([]string, 0, len(types))
	for _, t := range types {
		typ := events.Type(t)
		if !slices.Contains(known, typ) {
			return nil, handlers.Errorf(http.StatusBadRequest, "type %q is not an event type of the orchestrator's history", t)
		}
		a, _ := events.AggregateOf(typ)
		if agg != "" && a != agg {
			return nil, handlers.Errorf(http.StatusBadRequest, "type %s is an event of aggregate %s, not %s", t, a, agg)
		}
		out = append(out, prefix+"."+string(a)+"."+idToken+"."+t)
	}
	return out, nil
}

// secretFields are the keys whose string values history never shows.
var secretFields = []string{"secret", "sealed_secret", "seed", "sealed_seed", "password", "password_hash", "totp_secret", "private_key", "signing_key", "token"}

// redact replaces the values of secret fields anywhere in data with
// "[redacted]"; data without any is returned byte for byte.
func redact(data json.RawMessage) json.RawMessage {
	if !containsSecretKey(data) {
		return data
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return data
	}
	if !redactTree(tree) {
		return data
	}
	out, err := json.Marshal(tree)
	if err != nil {
		return data
	}
	return out
}

func containsSecretKey(data []byte) bool {
	for _, k := range secretFields {
		if bytes.Contains(data, []byte(`"`+k+`"`)) {
			return true
		}
	}
	return false
}

func redactTree(v any) (changed bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && s != "" && slices.Contains(secretFields, strings.ToLower(k)) {
				x[k] = "[redacted]"
				changed = true
				continue
			}
			changed = redactTree(val) || changed
		}
	case []any:
		for _, val := range x {
			changed = redactTree(val) || changed
		}
	}
	return changed
}
