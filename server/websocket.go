package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"books/internal/apperr"
)

// WebSocket close codes. graphql-transport-ws names 4401 Unauthorized and 4403 Forbidden;
// Books closes with 4401 whenever the token is the problem (missing, invalid, expired at
// connection_init, or expiring while the socket is open), since a new token is the fix.
// 4403 is kept for a valid principal that may not open a socket; none exists today.
const (
	closeUnauthorized websocket.StatusCode = 4401
	closeGoingAway                         = websocket.StatusGoingAway
)

// wsInitTimeout closes a socket that sends no connection_init: it holds a connection
// without having authenticated.
const wsInitTimeout = 10 * time.Second

// webSocket upgrades GET /graphql. The origin is checked against the same list CORS uses.
// The http.Server's read and write timeouts do not cut a socket short: net/http clears a
// connection's deadlines when it is hijacked (TestHTTPTimeouts checks it), and a socket
// then lives as long as its token does.
func (s *Server) webSocket(gql http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.origins.allowWebSocket(r) {
			writeCoded(w, r, http.StatusForbidden, apperr.Forbidden, "WebSocket connections from this origin are not allowed")
			return
		}
		if s.rateLimited(w, r, nil) {
			return
		}
		c := &wsConn{hub: s.ws, log: s.log, requestID: requestID(r.Context())}
		gql.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), wsConnKey{}, c)))
		// gqlgen returns without closing on some failed handshakes (a connection_init
		// whose payload is not an object); nothing may stay open once it has returned.
		c.closeWith(websocket.StatusProtocolError, "closed")
	})
}

type wsConnKey struct{}

// wsFrom returns the WebSocket connection an operation arrived on, or nil for HTTP.
func wsFrom(ctx context.Context) *wsConn {
	c, _ := ctx.Value(wsConnKey{}).(*wsConn)
	return c
}

// wsImplementation is gqlgen's WebSocket adapter for coder/websocket, with connections the
// server can close on its own terms: when a token expires (4401) and at shutdown (1001).
type wsImplementation struct{}

func (wsImplementation) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	for k, vs := range opts.ResponseHeader {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	c := wsFrom(r.Context())
	if c == nil {
		return nil, errors.New("WebSocket upgrade outside Server.webSocket")
	}
	// The origin was checked by webSocket, against the configured list.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: opts.Subprotocols, InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	c.open(conn)
	return c, nil
}

// wsConn is one WebSocket. Its close handshake runs in the background (coder/websocket
// waits up to 5 s for the peer's close frame) and is tracked by the hub, so shutdown can
// wait for every close frame to be sent.
type wsConn struct {
	hub       *wsHub
	log       *slog.Logger
	requestID string
	conn      *websocket.Conn

	mu         sync.Mutex
	closing    bool
	registered bool
	deadline   *time.Timer
	expiry     *time.Timer
}

var (
	_ transport.WebsocketConn          = (*wsConn)(nil)
	_ transport.WebsocketReadLimiter   = (*wsConn)(nil)
	_ transport.WebsocketReadDeadliner = (*wsConn)(nil)
)

func (c *wsConn) open(conn *websocket.Conn) {
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
	if !c.hub.add(c) {
		c.closeWith(closeGoingAway, "server shutting down")
	}
}

// expireAt closes the connection with 4401 when its token expires at t.
func (c *wsConn) expireAt(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.expiry = time.AfterFunc(time.Until(t), func() {
		c.log.Info("closing WebSocket: token expired", "request_id", c.requestID)
		c.closeWith(closeUnauthorized, "token expired")
	})
}

// closeWith starts the close handshake with code, unless one has started.
func (c *wsConn) closeWith(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	if c.closing || c.conn == nil {
		c.closing = true
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.stopTimersLocked()
	conn, registered := c.conn, c.registered
	c.mu.Unlock()
	go func() {
		_ = conn.Close(code, reason)
		if registered {
			c.hub.remove(c)
		}
	}()
}

func (c *wsConn) stopTimersLocked() {
	for _, t := range []*time.Timer{c.deadline, c.expiry} {
		if t != nil {
			t.Stop()
		}
	}
	c.deadline, c.expiry = nil, nil
}

// WriteClose is how gqlgen closes: with its code, unless the server closed first.
func (c *wsConn) WriteClose(code int, reason string) error {
	c.closeWith(websocket.StatusCode(code), reason)
	return nil
}

// Close drops the connection at once when no close handshake is under way; one under way
// closes it when done.
func (c *wsConn) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	c.stopTimersLocked()
	conn, registered := c.conn, c.registered
	c.mu.Unlock()
	err := conn.CloseNow()
	if registered {
		c.hub.remove(c)
	}
	return err
}

func (c *wsConn) NextReader() (int, io.Reader, error) {
	typ, data, err := c.conn.Read(context.Background())
	if err != nil {
		switch websocket.CloseStatus(err) {
		case websocket.StatusNormalClosure, websocket.StatusNoStatusRcvd:
			return int(typ), nil, transport.ErrWebsocketClosed
		}
		return int(typ), nil, err
	}
	return int(typ), bytes.NewReader(data), nil
}

func (c *wsConn) WriteJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.conn.Write(context.Background(), websocket.MessageText, data)
}

func (c *wsConn) Subprotocol() string { return c.conn.Subprotocol() }

func (c *wsConn) SetReadLimit(n int64) { c.conn.SetReadLimit(n) }

// SetReadDeadline drops the connection when no message arrives by t (gqlgen's ping/pong).
func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deadline != nil {
		c.deadline.Stop()
		c.deadline = nil
	}
	if t.IsZero() || c.closing {
		return nil
	}
	conn := c.conn
	c.deadline = time.AfterFunc(time.Until(t), func() { _ = conn.CloseNow() })
	return nil
}

// wsHub tracks the open WebSockets: http.Server.Shutdown forgets hijacked connections, so
// without it clients would see the connection drop at exit instead of a close frame.
type wsHub struct {
	gauge prometheus.Gauge

	mu      sync.Mutex
	conns   map[*wsConn]struct{}
	closing bool
	wg      sync.WaitGroup
}

func newWSHub(g prometheus.Gauge) *wsHub {
	return &wsHub{gauge: g, conns: map[*wsConn]struct{}{}}
}

func (h *wsHub) add(c *wsConn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	c.mu.Lock()
	c.registered = true
	c.mu.Unlock()
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	h.gauge.Inc()
	return true
}

func (h *wsHub) remove(c *wsConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.conns[c]; !ok {
		return
	}
	delete(h.conns, c)
	h.wg.Done()
	h.gauge.Dec()
}

// shutdown closes every socket with 1001 Going Away and waits, until ctx ends, for their
// close handshakes; sockets opened after it are closed at once.
func (h *wsHub) shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	conns := make([]*wsConn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.closeWith(closeGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// websocketInit authenticates a WebSocket connection by the token in connection_init's
// payload ("Authorization": "Bearer …", or "token"/"authToken"), and arranges for the
// socket to close when the token expires. Any token failure closes it with 4401.
func (s *Server) websocketInit(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	reject := func(msg string) (context.Context, *transport.InitPayload, error) {
		ctx = transport.WithWebsocketCloseCode(ctx, int(closeUnauthorized))
		ctx = transport.AppendCloseReason(ctx, "Unauthorized")
		return ctx, nil, errors.New(msg)
	}
	token := strings.TrimPrefix(payload.Authorization(), "Bearer ")
	for _, k := range []string{"token", "authToken"} {
		if token == "" {
			token = payload.GetString(k)
		}
	}
	if strings.TrimSpace(token) == "" {
		return reject("connection_init needs an Authorization bearer token")
	}
	p, err := s.cfg.Auth.VerifyBearer(ctx, strings.TrimSpace(token))
	if err != nil {
		return reject(err.Error())
	}
	if c := wsFrom(ctx); c != nil && !p.ExpiresAt.IsZero() {
		c.expireAt(p.ExpiresAt)
	}
	return authenticated(ctx, p), nil, nil
}
