package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Event types the orchestrator streams (PascalCase, as in the frames).
const (
	EventTaskCreated            = "TaskCreated"
	EventTaskStatusChanged      = "TaskStatusChanged"
	EventTaskProgress           = "TaskProgress"
	EventTaskCancelRequested    = "TaskCancelRequested"
	EventBatchCreated           = "BatchCreated"
	EventBatchStatusChanged     = "BatchStatusChanged"
	EventOperationStatusChanged = "OperationStatusChanged"
	EventCheckpointCreated      = "CheckpointCreated"
	EventRollbackCompleted      = "RollbackCompleted"
)

// Event is one frame of the WebSocket: the reference's
// {event_type, timestamp, data, metadata} and seq, the event's position in
// the stream (give it back as Since to resume after it).
type Event struct {
	Type      string          `json:"event_type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
	Metadata  json.RawMessage `json:"metadata,omitempty"`
	Seq       uint64          `json:"seq"`
}

// Decode unmarshals the event's data into v (for example a
// TaskProgressData).
func (e Event) Decode(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("decode %s data: %w", e.Type, err)
	}
	return nil
}

// The data of the events a watcher needs. Statuses may arrive in any case.
type (
	// TaskStatusData is the data of TaskStatusChanged.
	TaskStatusData struct {
		TaskID      string  `json:"task_id"`
		Status      string  `json:"status"`
		Attempt     int     `json:"attempt,omitempty"`
		Output      string  `json:"output,omitempty"`
		Error       string  `json:"error,omitempty"`
		ExitCode    *int    `json:"exit_code,omitempty"`
		BatchID     string  `json:"batch_id,omitempty"`
		OperationID string  `json:"operation_id,omitempty"`
		Progress    float64 `json:"progress,omitempty"`
	}
	// TaskProgressData is the data of TaskProgress.
	TaskProgressData struct {
		TaskID     string  `json:"task_id"`
		Progress   float64 `json:"progress"`
		Step       string  `json:"step,omitempty"`
		TotalSteps int     `json:"total_steps,omitempty"`
		BatchID    string  `json:"batch_id,omitempty"`
	}
	// TaskCreatedData is the part of TaskCreated's data a watcher uses.
	TaskCreatedData struct {
		TaskID      string `json:"task_id"`
		Name        string `json:"name"`
		BatchID     string `json:"batch_id,omitempty"`
		OperationID string `json:"operation_id,omitempty"`
		Compensates string `json:"compensates,omitempty"`
	}
	// OperationStatusData is the data of OperationStatusChanged.
	OperationStatusData struct {
		BatchID        string  `json:"batch_id"`
		OperationID    string  `json:"operation_id"`
		Status         string  `json:"status"`
		Progress       float64 `json:"progress"`
		CompletedTasks int     `json:"completed_tasks"`
		TotalTasks     int     `json:"total_tasks"`
	}
	// BatchStatusData is the data of BatchStatusChanged.
	BatchStatusData struct {
		BatchID  string  `json:"batch_id"`
		Status   string  `json:"status"`
		Progress float64 `json:"progress"`
		Error    string  `json:"error,omitempty"`
	}
)

// SubscribeOptions selects the events of a subscription; zero fields do
// not filter.
type SubscribeOptions struct {
	// Events keeps these event types (events=).
	Events []string
	// TaskID keeps the events of one task (task_id=).
	TaskID string
	// BatchID keeps the events of one batch and its tasks (batch_id=).
	BatchID string
	// Since replays from this stream sequence, then goes live (since=).
	// Zero starts live.
	Since uint64
	// Resume reconnects after the connection drops (a restart of the
	// server, a slow consumer cut off), from the event after the last one
	// received; events already received are never delivered twice.
	Resume bool
}

func (o SubscribeOptions) query(since uint64) url.Values {
	q := url.Values{}
	if len(o.Events) > 0 {
		q.Set("events", strings.Join(o.Events, ","))
	}
	if o.TaskID != "" {
		q.Set("task_id", o.TaskID)
	}
	if o.BatchID != "" {
		q.Set("batch_id", o.BatchID)
	}
	if since > 0 {
		q.Set("since", strconv.FormatUint(since, 10))
	}
	return q
}

// maxFrameBytes bounds one frame (an event's data is at most what the
// event store accepts).
const maxFrameBytes = 8 << 20

// Subscription is an open WebSocket of /ws. Next returns its events in
// order; Close ends it. It is not safe for concurrent use.
type Subscription struct {
	c    *Client
	opts SubscribeOptions
	conn *websocket.Conn
	last uint64
}

// Subscribe opens the event stream (GET /ws) with the client's token. A
// server without the endpoint answers ErrNotFound.
func (c *Client) Subscribe(ctx context.Context, opts SubscribeOptions) (*Subscription, error) {
	s := &Subscription{c: c, opts: opts}
	if err := s.dial(ctx, opts.Since); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Subscription) dial(ctx context.Context, since uint64) error {
	c := s.c
	if c.orchestrator == nil {
		return errors.New("subscribe: no orchestrator URL configured")
	}
	c.refreshIfDue(ctx)
	u := *c.orchestrator
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path += "/ws"
	u.RawQuery = s.opts.query(since).Encode()
	h := http.Header{"User-Agent": {c.userAgent}}
	if token := c.Session().Token; token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	conn, res, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: c.http, HTTPHeader: h})
	if err != nil {
		if res != nil && res.StatusCode != http.StatusSwitchingProtocols {
			return dialError(res, err)
		}
		return fmt.Errorf("subscribe %s: %w", u.Redacted(), err)
	}
	conn.SetReadLimit(maxFrameBytes)
	s.conn = conn
	return nil
}

// dialError turns a refused handshake into an *Error with the server's
// message (websocket.Dial keeps a prefix of the body).
func dialError(res *http.Response, err error) error {
	req := request{method: http.MethodGet, path: "/ws"}
	var env envelope
	var raw []byte
	if res.Body != nil {
		raw, _ = io.ReadAll(io.LimitReader(res.Body, 4096))
		_ = res.Body.Close()
	}
	jsonErr := json.Unmarshal(raw, &env)
	e := newError(req, res, raw, env, jsonErr)
	if jsonErr != nil {
		e.Message = fmt.Sprintf("websocket handshake refused: %v", err)
	}
	return e
}

// Next waits for the next event. With Resume it reconnects (three tries,
// backing off) when the connection drops. It returns ctx's error when ctx
// ends, and an error that wraps io.EOF-like closes otherwise.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	for tries := 0; ; {
		if s.conn == nil {
			if err := s.reconnect(ctx, &tries); err != nil {
				return Event{}, err
			}
		}
		ev, err := s.read(ctx)
		if err == nil {
			if ev.Seq != 0 && ev.Seq <= s.last {
				continue // replayed after a reconnect: delivered already
			}
			if ev.Seq != 0 {
				s.last = ev.Seq
			}
			return ev, nil
		}
		_ = s.conn.CloseNow()
		s.conn = nil
		if ctx.Err() != nil {
			return Event{}, ctx.Err()
		}
		if !s.opts.Resume {
			return Event{}, err
		}
	}
}

func (s *Subscription) read(ctx context.Context) (Event, error) {
	for {
		typ, data, err := s.conn.Read(ctx)
		if err != nil {
			return Event{}, fmt.Errorf("event stream: %w", err)
		}
		if typ != websocket.MessageText {
			continue
		}
		var ev Event
		if err := json.Unmarshal(data, &ev); err != nil {
			return Event{}, fmt.Errorf("event stream: frame is not an event: %w", err)
		}
		return ev, nil
	}
}

func (s *Subscription) reconnect(ctx context.Context, tries *int) error {
	var err error
	for *tries < 3 {
		*tries++
		if err = sleep(ctx, time.Duration(125<<*tries)*time.Millisecond); err != nil {
			return err
		}
		since := s.opts.Since
		if s.last > 0 {
			since = s.last + 1
		}
		if err = s.dial(ctx, since); err == nil {
			return nil
		}
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.StatusCode < 500 {
			return err // refused, not a transient failure
		}
	}
	return fmt.Errorf("event stream: reconnect: %w", err)
}

// Last returns the sequence of the last event Next returned.
func (s *Subscription) Last() uint64 { return s.last }

// Close ends the subscription.
func (s *Subscription) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close(websocket.StatusNormalClosure, "")
	s.conn = nil
	return err
}

// Events subscribes and iterates over the events until ctx ends or the
// stream fails; the error, if any, is yielded last. Breaking out of the
// loop closes the subscription.
func (c *Client) Events(ctx context.Context, opts SubscribeOptions) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		s, err := c.Subscribe(ctx, opts)
		if err != nil {
			yield(Event{}, err)
			return
		}
		defer s.Close()
		for {
			ev, err := s.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					yield(Event{}, err)
				}
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}
