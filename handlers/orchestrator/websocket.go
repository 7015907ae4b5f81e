package orchestrator

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"provisioning/auth"
	"provisioning/events"
	"provisioning/handlers"
	"provisioning/hub"
	"provisioning/outward"
)

// WebSocket settings.
const (
	wsReadLimit    = 4 << 10 // clients send nothing but control frames
	wsWriteTimeout = 10 * time.Second
	// wsSocketBuffer bounds what the kernel holds for one client: beyond
	// it events wait in the client's queue, and a client that lets the
	// queue fill is cut off, instead of megabytes piling up unseen.
	wsSocketBuffer = 64 << 10
)

type connKey struct{}

// WithConn remembers a request's connection (an http.Server's
// ConnContext), so the WebSocket can size its socket buffer.
func WithConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// websocket streams events as frames {event_type, timestamp, data,
// metadata, seq}. The guard has authenticated the caller (the token may
// come as a bearer subprotocol or ?token=). Options: events= (comma-separated types), task_id=,
// batch_id=, since= (replay from that sequence, inclusive, then live).
func (o *API) websocket(w http.ResponseWriter, r *http.Request) error {
	if o.Hub == nil {
		return handlers.Errorf(http.StatusServiceUnavailable, "event streaming is not configured")
	}
	filter, since, err := streamOptions(r.URL.Query())
	if err != nil {
		return err
	}
	if err := o.checkOrigin(r); err != nil {
		return err
	}
	if err := checkHandshake(r); err != nil {
		return err
	}
	sub, err := o.Hub.Subscribe(r.Context(), filter, since, 0)
	if err != nil {
		return err
	}
	defer sub.Close()
	// The origin was checked above, against our own list.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, Subprotocols: []string{handlers.WSProtocol}})
	if err != nil {
		handlers.Logger(r.Context()).Info("websocket upgrade failed", "err", err)
		return nil
	}
	defer c.CloseNow()
	if tc, ok := r.Context().Value(connKey{}).(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(wsSocketBuffer)
	}
	c.SetReadLimit(wsReadLimit)
	ctx := c.CloseRead(r.Context())
	// A write stuck on a client that does not read ends as soon as the
	// hub gives up on the subscription.
	writes, stopWrites := context.WithCancel(ctx)
	defer stopWrites()
	go func() {
		select {
		case <-sub.Done():
			stopWrites()
		case <-writes.Done():
		}
	}()
	send := func(ev *hub.Event) error {
		wctx, cancel := context.WithTimeout(writes, wsWriteTimeout)
		defer cancel()
		return c.Write(wctx, websocket.MessageText, ev.Frame())
	}
	if err := sub.Replay(ctx, send); err != nil {
		c.Close(websocket.StatusInternalError, "replay failed")
		return nil
	}
	ping := time.NewTicker(o.wsPing())
	defer ping.Stop()
	valid := o.tokenWatch(r)
	defer valid.stop()
	// ended closes the stream when its token no longer holds.
	ended := func() bool {
		err := valid.err()
		if err != nil {
			c.Close(websocket.StatusPolicyViolation, strings.TrimPrefix(err.Error(), auth.ErrInvalidToken.Error()+": "))
		}
		return err != nil
	}
	for {
		select {
		case <-valid.tick:
			if ended() {
				return nil
			}
		case <-valid.expiry:
			if ended() {
				return nil
			}
		case ev := <-sub.Live():
			if err := send(ev); err != nil && sub.Err() == nil {
				return nil
			}
		case <-sub.Done():
			if errors.Is(sub.Err(), hub.ErrTooSlow) {
				c.Close(websocket.StatusPolicyViolation, "client too slow: it did not read its events; reconnect with since=<last seq + 1>")
			} else {
				c.Close(websocket.StatusGoingAway, "server shutting down")
			}
			return nil
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// WebSocketHandler is the /ws handler without the router's middleware,
// for programs that serve it themselves (the benchmarks).
func (o *API) WebSocketHandler() http.Handler { return handlers.HandlerFunc(o.websocket) }

// wsTokenCheck is how often a WebSocket checks that its token may still
// be used (besides at the token's expiry): a revocation, a disable or a
// delete ends the stream within it.
const wsTokenCheck = time.Second

// tokenWatch checks a WebSocket's token while the stream runs: tick
// fires every wsTokenCheck, expiry at the token's exp; err says whether
// the token still holds. Without access control (tests of handlers
// alone) neither fires.
type tokenWatch struct {
	tick, expiry <-chan time.Time
	err          func() error
	stop         func()
}

func (o *API) tokenWatch(r *http.Request) tokenWatch {
	p, ok := handlers.PrincipalFrom(r.Context())
	if !ok || o.Access == nil || o.Access.Auth == nil {
		return tokenWatch{err: func() error { return nil }, stop: func() {}}
	}
	tick := time.NewTicker(wsTokenCheck)
	expiry := time.NewTimer(time.Until(p.ExpiresAt))
	return tokenWatch{tick: tick.C, expiry: expiry.C, err: func() error { return o.Access.Auth.StillValid(p) },
		stop: func() { tick.Stop(); expiry.Stop() }}
}

// streamOptions parses the query of /ws (and of event tails).
func streamOptions(q url.Values) (hub.Filter, uint64, error) {
	var f hub.Filter
	if v := q.Get("events"); v != "" {
		f.Types = map[events.Type]bool{}
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if _, ok := events.AggregateOf(events.Type(t)); !ok || outward.InternalType(events.Type(t)) {
				return f, 0, handlers.Errorf(http.StatusBadRequest, "events: %q is not an event type", t)
			}
			f.Types[events.Type(t)] = true
		}
	}
	for name, dst := range map[string]*string{"task_id": &f.TaskID, "batch_id": &f.BatchID} {
		if v := q.Get(name); v != "" {
			if !events.ValidID(v) {
				return f, 0, handlers.Errorf(http.StatusBadRequest, "%s: %q is not an id", name, v)
			}
			*dst = v
		}
	}
	var since uint64
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return f, 0, handlers.Errorf(http.StatusBadRequest, "since must be a stream sequence >= 1, not %q", v)
		}
		since = n
	}
	return f, since, nil
}

// checkHandshake refuses a request that is not a WebSocket handshake in
// the envelope (the WebSocket library would answer in plain text): 426
// naming the protocol (RFC 6455 4.2.2), 400 without a key.
func checkHandshake(r *http.Request) error {
	upgrade := handlers.Errorf(http.StatusUpgradeRequired, "GET /ws is a WebSocket: send a WebSocket handshake (Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Version: 13)")
	upgrade.Header = http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-WebSocket-Version": {"13"}}
	switch {
	case !headerHasToken(r.Header, "Connection", "upgrade"), !headerHasToken(r.Header, "Upgrade", "websocket"),
		r.Header.Get("Sec-WebSocket-Version") != "13":
		return upgrade
	case r.Header.Get("Sec-WebSocket-Key") == "":
		return handlers.Errorf(http.StatusBadRequest, "the WebSocket handshake has no Sec-WebSocket-Key")
	}
	return nil
}

// headerHasToken reports whether a comma-separated header holds token,
// case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// checkOrigin lets non-browser clients (no Origin) and pages of this
// server's own host through, pages CORS allows (the dashboard's), and any
// origin host matching one of WSOrigins (path.Match patterns, e.g.
// "*.example.com").
func (o *API) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return handlers.Errorf(http.StatusForbidden, "origin %q is not allowed", origin)
	}
	if strings.EqualFold(u.Host, r.Host) || o.CORS.Allows(origin, r.Host) {
		return nil
	}
	for _, pattern := range o.WSOrigins {
		if ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(u.Host)); ok {
			return nil
		}
	}
	return handlers.Errorf(http.StatusForbidden, "origin %s is not allowed (see --ws-allowed-origins)", u.Host)
}

func (o *API) wsPing() time.Duration {
	if o.WSPing > 0 {
		return o.WSPing
	}
	return 30 * time.Second
}
