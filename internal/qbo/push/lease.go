package push

import (
	"context"
	"database/sql"
	"errors"
	"hash/fnv"
	"sync"
)

// ErrDrainBusy: another process is draining the connection; the job tries again shortly.
var ErrDrainBusy = errors.New("push: another process is draining this connection")

// PostgresLease returns a Lease that holds a PostgreSQL session advisory lock per connection
// on a connection of its own: one drain per QuickBooks connection across every process on
// the database. A process that dies loses its session, and with it the lock.
func PostgresLease(db *sql.DB) func(ctx context.Context, connectionID string) (func(), error) {
	return func(ctx context.Context, connectionID string) (func(), error) {
		c, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		key := leaseKey(connectionID)
		var ok bool
		if err := c.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
			c.Close()
			return nil, err
		}
		if !ok {
			c.Close()
			return nil, ErrDrainBusy
		}
		return func() {
			// Unlocked even when the drain's context is done; closing the session would too.
			_, _ = c.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
			c.Close()
		}, nil
	}
}

func leaseKey(connectionID string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("books qbo drain " + connectionID))
	return int64(h.Sum64())
}

// drainLocks keeps drains of one connection apart within the process.
var drainLocks sync.Map

func lockDrain(id string) func() {
	v, _ := drainLocks.LoadOrStore(id, &sync.Mutex{})
	m := v.(*sync.Mutex)
	m.Lock()
	return m.Unlock
}
