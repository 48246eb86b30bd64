package realtime

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
)

// Local is an in-process Broker: SQLite mode (a single process) and tests. Publish hands
// the event to every subscriber in this process and never blocks.
type Local struct {
	hub       *hub
	done      chan struct{}
	closeOnce sync.Once
}

// NewLocal returns an in-process broker.
func NewLocal() *Local { return &Local{hub: newHub(), done: make(chan struct{})} }

// Publish implements Broker.
func (l *Local) Publish(_ context.Context, topic string, payload []byte) error {
	if err := checkTopic(topic); err != nil {
		return err
	}
	if err := checkPayload(payload); err != nil {
		return err
	}
	// Subscribers share one copy; the caller may reuse payload.
	l.hub.deliver(topic, bytes.Clone(payload))
	return nil
}

// Subscribe implements Broker.
func (l *Local) Subscribe(ctx context.Context, topic string) (<-chan []byte, error) {
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	s, _, err := l.hub.add(topic)
	if err != nil {
		return nil, err
	}
	go func() {
		select {
		case <-ctx.Done():
			l.hub.remove(topic, s)
		case <-l.done:
		}
	}()
	return s.c, nil
}

// Dropped returns how many events were dropped because a subscriber was too far behind.
func (l *Local) Dropped() int64 { return l.hub.dropped.Load() }

// Close ends every subscription; later calls fail with ErrClosed.
func (l *Local) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.hub.close()
	})
	return nil
}

// hub is the fan-out both brokers share: subscribers per key (a topic, or a PostgreSQL
// channel), each with a buffered channel that is closed exactly once, under mu, so delivery
// (also under mu) never sends on a closed channel.
type hub struct {
	mu      sync.Mutex
	subs    map[string]map[*subscriber]struct{}
	closed  bool
	dropped atomic.Int64
	// onDrop, when set, is told about each dropped event (logging).
	onDrop func(key string)
}

type subscriber struct {
	c chan []byte
}

func newHub() *hub { return &hub{subs: map[string]map[*subscriber]struct{}{}} }

// add registers a subscriber of key and reports whether it is the key's first.
func (h *hub) add(key string) (*subscriber, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false, ErrClosed
	}
	s := &subscriber{c: make(chan []byte, SubscriberBuffer)}
	set := h.subs[key]
	if set == nil {
		set = map[*subscriber]struct{}{}
		h.subs[key] = set
	}
	set[s] = struct{}{}
	return s, len(set) == 1, nil
}

// remove unregisters s, closes its channel and reports whether key has no subscriber left.
func (h *hub) remove(key string, s *subscriber) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	set, ok := h.subs[key]
	if !ok {
		return false
	}
	if _, ok := set[s]; !ok {
		return false
	}
	delete(set, s)
	close(s.c)
	if len(set) == 0 {
		delete(h.subs, key)
		return true
	}
	return false
}

// has reports whether key has subscribers.
func (h *hub) has(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[key]) > 0
}

// deliver hands payload to key's subscribers without blocking: one whose buffer is full
// loses the event.
func (h *hub) deliver(key string, payload []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[key] {
		select {
		case s.c <- payload:
		default:
			h.dropped.Add(1)
			if h.onDrop != nil {
				h.onDrop(key)
			}
		}
	}
}

// close closes every subscriber's channel.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for key, set := range h.subs {
		for s := range set {
			close(s.c)
		}
		delete(h.subs, key)
	}
}
