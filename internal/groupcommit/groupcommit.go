// Package groupcommit stores items that many callers submit at once in shared transactions.
// A webhook intake must answer each delivery only after what it carried is durable; doing
// that in one transaction per delivery caps intake at the database's commit rate (SQLite's
// single writer first). Here deliveries that arrive while a store is running wait for it and
// are then stored together, so under load one commit serves many deliveries while a lone
// delivery is stored at once.
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"books/internal/database"
)

// Batcher stores submitted items through Store, batching concurrent submissions. The zero
// value is not usable: Store must be set.
type Batcher[T any] struct {
	// Store writes items in one transaction; it runs in no caller's context.
	Store func(ctx context.Context, items []T) error
	// MaxBatch bounds the items stored in one call; 0 is 1,000. A submission is never split.
	MaxBatch int
	// Timeout bounds one Store call; 0 is 30 seconds.
	Timeout time.Duration
	// OnPanic, when set, is told of a panic in Store (which fails the batch's submissions).
	OnPanic func(v any, stack []byte)

	mu       sync.Mutex
	queue    []*submission[T]
	flushing bool
}

type submission[T any] struct {
	items []T
	err   error
	done  chan struct{}
}

// Submit stores items, returning once they are stored (nil) or could not be (the error of
// their batch; when a batch of several fails for a reason other than an outage, each
// submission is stored again alone, so one bad submission cannot fail the others). When ctx
// ends first Submit returns ctx's error; the store goes on.
func (b *Batcher[T]) Submit(ctx context.Context, items []T) error {
	if len(items) == 0 {
		return nil
	}
	s := &submission[T]{items: items, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, s)
	if !b.flushing {
		b.flushing = true
		go b.flush()
	}
	b.mu.Unlock()
	select {
	case <-s.done:
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Batcher[T]) flush() {
	for {
		batch := b.next()
		if batch == nil {
			return
		}
		var items []T
		for _, s := range batch {
			items = append(items, s.items...)
		}
		err := b.store(items)
		if err != nil && len(batch) > 1 && !database.IsUnavailable(err) && !errors.Is(err, context.DeadlineExceeded) {
			for _, s := range batch {
				s.err = b.store(s.items)
			}
		} else {
			for _, s := range batch {
				s.err = err
			}
		}
		for _, s := range batch {
			close(s.done)
		}
	}
}

// next takes the submissions of the next batch off the queue, in arrival order, up to
// MaxBatch items (at least one submission); nil when the queue is empty, and flushing stops.
func (b *Batcher[T]) next() []*submission[T] {
	limit := b.MaxBatch
	if limit <= 0 {
		limit = 1000
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n, i := 0, 0
	for i < len(b.queue) && (i == 0 || n+len(b.queue[i].items) <= limit) {
		n += len(b.queue[i].items)
		i++
	}
	if i == 0 {
		b.flushing = false
		return nil
	}
	batch := b.queue[:i:i]
	b.queue = slices.Clone(b.queue[i:])
	return batch
}

func (b *Batcher[T]) store(items []T) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if b.OnPanic != nil {
				b.OnPanic(v, debug.Stack())
			}
			err = fmt.Errorf("groupcommit: store panicked: %v", v)
		}
	}()
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return b.Store(ctx, items)
}
