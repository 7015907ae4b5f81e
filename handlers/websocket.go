package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"provisioning/events"
	"provisioning/fanout"
	"provisioning/outward"
)

// WebSocket tunes /ws. Zero values take the defaults.
type WebSocket struct {
	// AllowedOrigins lists the browser origins allowed besides the
	// server's own host: "https://dash.example.com", a host pattern
	// ("*.example.com", matched with path.Match) or "*" for any. Requests
	// without an Origin header (non-browser clients) are allowed.
	AllowedOrigins []string
	// PingInterval: how often an idle connection is pinged; a pong must
	// come back within PingTimeout or the connection is closed.
	PingInterval, PingTimeout time.Duration
	// WriteTimeout bounds writing one frame to a client.
	WriteTimeout time.Duration
	// ReadLimit bounds one frame from a client (they have nothing to say
	// but control frames).
	ReadLimit int64
}

func (c WebSocket) withDefaults() WebSocket {
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = 4096
	}
	return c
}

// wsOptions are the query options of /ws.
type wsOptions struct {
	filter fanout.Filter
	since  uint64 // 0: live only
}

func parseWSOptions(q url.Values) (wsOptions, error) {
	var o wsOptions
	for _, v := range q["events"] {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			t := events.Type(name)
			if _, known := events.AggregateOf(t); !known || outward.InternalType(t) {
				return o, errorf(http.StatusBadRequest, "events: %q is not an event type that is streamed (e.g. TaskCreated, TaskStatusChanged, TaskProgress)", name)
			}
			if o.filter.Types == nil {
				o.filter.Types = map[events.Type]bool{}
			}
			o.filter.Types[t] = true
		}
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"task_id", &o.filter.TaskID}, {"batch_id", &o.filter.BatchID}} {
		if !q.Has(p.name) {
			continue
		}
		v := q.Get(p.name)
		if !events.ValidID(v) {
			return o, errorf(http.StatusBadRequest, "%s must be an id, not %q", p.name, v)
		}
		*p.dst = v
	}
	if q.Has("since") {
		n, err := strconv.ParseUint(q.Get("since"), 10, 64)
		if err != nil {
			return o, errorf(http.StatusBadRequest, "since must be a stream sequence (an integer >= 0), not %q", q.Get("since"))
		}
		o.since = max(n, 1)
	}
	return o, nil
}

// originAllowed: no Origin (not a browser), the server's own host, or
// one of the allowed origins.
func originAllowed(r *http.Request, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range allowed {
		p = strings.ToLower(strings.TrimSpace(p))
		target := strings.ToLower(u.Host)
		if strings.Contains(p, "://") {
			target = strings.ToLower(u.Scheme + "://" + u.Host)
		}
		if ok, _ := path.Match(p, target); ok || p == "*" {
			return true
		}
	}
	return false
}

func isUpgrade(r *http.Request) bool {
	return headerHas(r.Header, "Connection", "upgrade") && headerHas(r.Header, "Upgrade", "websocket")
}

func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// websocket streams events: it refuses before upgrading (401 bad token,
// 400 bad option, 403 foreign origin, 426 not a WebSocket request), then
// replays since= from the stream if asked and goes live.
func (o *Orchestrator) websocket(w http.ResponseWriter, r *http.Request) {
	if o.Auth != nil {
		if _, err := o.Auth.Authenticate(r); err != nil {
			e := errorf(http.StatusUnauthorized, "missing or invalid token")
			e.Header = http.Header{"WWW-Authenticate": {`Bearer realm="provisioning"`}}
			writeError(w, r, e)
			return
		}
	}
	opts, err := parseWSOptions(r.URL.Query())
	if err != nil {
		writeError(w, r, err)
		return
	}
	cfg := o.WebSocket.withDefaults()
	if !originAllowed(r, cfg.AllowedOrigins) {
		writeError(w, r, errorf(http.StatusForbidden, "origin %q is not allowed to open a WebSocket here", r.Header.Get("Origin")))
		return
	}
	if !isUpgrade(r) {
		e := errorf(http.StatusUpgradeRequired, "GET /ws is a WebSocket endpoint: send Connection: Upgrade and Upgrade: websocket")
		e.Header = http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}
		writeError(w, r, e)
		return
	}
	select {
	case <-o.Hub.Ready():
	case <-time.After(o.readWait()):
		writeError(w, r, errorf(http.StatusServiceUnavailable, "the event stream is not ready yet; retry shortly"))
		return
	}
	// The origin was checked above, with the envelope on refusal.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		logger(r.Context()).Debug("websocket upgrade failed", "err", err)
		return
	}
	conn.SetReadLimit(cfg.ReadLimit)
	o.ws.connections.Inc()
	defer o.ws.connections.Dec()
	reason := o.stream(conn, opts, cfg)
	o.ws.closed.WithLabelValues(reason).Inc()
	logger(r.Context()).Debug("websocket closed", "reason", reason)
}

// stream runs one connection until it ends and says why it ended.
func (o *Orchestrator) stream(conn *websocket.Conn, opts wsOptions, cfg WebSocket) string {
	// CloseRead answers pings and close frames; its context ends when
	// the connection does.
	ctx := conn.CloseRead(context.Background())
	go o.ping(ctx, conn, cfg)
	sub, err := o.catchUp(ctx, conn, opts, cfg)
	if err != nil {
		return o.closeFor(conn, err, 0)
	}
	var (
		buf  []*fanout.Event
		last uint64
	)
	for {
		buf, err = sub.Next(ctx, buf[:0], 64)
		for _, e := range buf {
			if werr := o.send(ctx, conn, cfg, e.Frame); werr != nil {
				return o.closeFor(conn, werr, last)
			}
			last = e.Seq
		}
		if err != nil {
			return o.closeFor(conn, err, last)
		}
	}
}

// catchUp replays the stream from opts.since until the hub can take
// over without a gap, then returns the live subscription.
func (o *Orchestrator) catchUp(ctx context.Context, conn *websocket.Conn, opts wsOptions, cfg WebSocket) (*fanout.Subscription, error) {
	from := opts.since
	for {
		sub, err := o.Hub.Subscribe(from, opts.filter)
		if !errors.Is(err, fanout.ErrTooOld) {
			return sub, err
		}
		next := from
		err = o.Store.Read(ctx, events.EventsStream, events.Position{From: from}, func(env events.Envelope, perr error) error {
			next = env.Seq + 1
			if perr != nil || outward.Internal(env) {
				return nil
			}
			e, err := fanout.NewEvent(env)
			if err != nil || !opts.filter.Match(e) {
				return nil
			}
			return o.send(ctx, conn, cfg, e.Frame)
		})
		if err != nil {
			return nil, err
		}
		if next == from {
			// Nothing at or after from in the stream: what comes next is live.
			next = max(from, o.Hub.Pos()+1)
		}
		from = next
	}
}

func (o *Orchestrator) send(ctx context.Context, conn *websocket.Conn, cfg WebSocket, frame []byte) error {
	wctx, cancel := context.WithTimeout(ctx, cfg.WriteTimeout)
	defer cancel()
	if err := conn.Write(wctx, websocket.MessageText, frame); err != nil {
		return fmt.Errorf("%w: %w", errWrite, err)
	}
	o.ws.frames.Inc()
	return nil
}

var errWrite = errors.New("write to client")

// closeFor closes the connection with a status and reason that tell the
// client what happened, and names the reason for metrics.
func (o *Orchestrator) closeFor(conn *websocket.Conn, err error, last uint64) string {
	switch {
	case errors.Is(err, fanout.ErrTooSlow):
		reason := "client too slow: send buffer full"
		if last > 0 {
			reason += "; resume with since=" + strconv.FormatUint(last+1, 10)
		}
		_ = conn.Close(websocket.StatusPolicyViolation, reason)
		return "too_slow"
	case errors.Is(err, fanout.ErrClosed):
		_ = conn.Close(websocket.StatusGoingAway, "server shutting down")
		return "shutdown"
	case errors.Is(err, errWrite):
		_ = conn.CloseNow()
		return "write_failed"
	case errors.Is(err, context.Canceled):
		_ = conn.CloseNow()
		return "client_closed"
	}
	_ = conn.Close(websocket.StatusInternalError, "internal error")
	return "error"
}

// ping keeps idle connections alive through proxies and finds dead
// peers: a ping without a pong within PingTimeout closes the connection.
func (o *Orchestrator) ping(ctx context.Context, conn *websocket.Conn, cfg WebSocket) {
	t := time.NewTicker(cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, cfg.PingTimeout)
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			_ = conn.CloseNow()
			return
		}
	}
}

// wsMetrics count connections and frames; labels are bounded reasons,
// never anything from the request.
type wsMetrics struct {
	connections prometheus.Gauge
	frames      prometheus.Counter
	closed      *prometheus.CounterVec
}

func newWSMetrics(reg prometheus.Registerer) *wsMetrics {
	m := &wsMetrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "websocket_connections", Help: "Open /ws connections."}),
		frames:      prometheus.NewCounter(prometheus.CounterOpts{Name: "websocket_frames_sent_total", Help: "Event frames written to /ws clients."}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "websocket_disconnects_total",
			Help: "Closed /ws connections by reason (too_slow, write_failed, client_closed, shutdown, error)."}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.frames, m.closed)
	}
	return m
}
