// Package realtime carries events between the parts of Books that change data and the
// GraphQL subscriptions that stream it, across every server instance of a deployment.
//
// A Broker publishes small text payloads (typically an id to load) on a topic and hands them
// to every subscriber of the topic. On PostgreSQL the PostgresBroker uses LISTEN/NOTIFY, so an
// event published by one server instance reaches subscribers on all of them; in SQLite mode
// (one process) the Local broker does the same in memory.
//
// Delivery is at most once. An event is a hint that something changed — subscribers load
// the current state by the id it carries, in their own tenant scope — so a lost event costs a
// stale screen, never wrong data. Events are lost when a subscriber falls more than
// SubscriberBuffer events behind, and on PostgreSQL while a broker's listening connection is
// down (lib/pq reconnects by itself).
//
// Events about a database change must fire only once the change is committed: see
// PublishCommitted, which uses a NOTIFY inside the transaction where the broker supports it
// (PostgreSQL: delivered on commit, dropped on rollback) and an ent commit hook otherwise.
package realtime

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"unicode/utf8"

	"books/ent"
)

// Broker publishes events on topics and streams them to subscribers.
type Broker interface {
	// Publish sends payload to every current subscriber of topic.
	Publish(ctx context.Context, topic string, payload []byte) error
	// Subscribe returns the events published on topic from now on. The subscription ends,
	// and the channel is closed, when ctx is done (or the broker is closed).
	Subscribe(ctx context.Context, topic string) (<-chan []byte, error)
}

// TxPublisher is a Broker that can publish as part of a database transaction: the event is
// delivered if and when the transaction commits, and never if it rolls back.
type TxPublisher interface {
	PublishTx(ctx context.Context, tx *sql.Tx, topic string, payload []byte) error
}

// MaxPayload is the largest payload a broker accepts, in bytes: PostgreSQL's NOTIFY takes
// less than 8000. Both brokers enforce it, so SQLite mode refuses what PostgreSQL would.
const MaxPayload = 7999

// SubscriberBuffer is how many undelivered events a subscriber may fall behind before
// further events to it are dropped.
const SubscriberBuffer = 256

// ErrPayload is returned for a payload a broker cannot carry.
var ErrPayload = errors.New("realtime: payload must be valid UTF-8 text without NUL bytes, at most 7999 bytes")

// ErrClosed is returned by a closed broker.
var ErrClosed = errors.New("realtime: broker is closed")

// checkPayload keeps payloads to what NOTIFY can carry: text, no NUL, < 8000 bytes.
func checkPayload(payload []byte) error {
	if len(payload) > MaxPayload || !utf8.Valid(payload) {
		return ErrPayload
	}
	for _, b := range payload {
		if b == 0 {
			return ErrPayload
		}
	}
	return nil
}

func checkTopic(topic string) error {
	if topic == "" {
		return errors.New("realtime: empty topic")
	}
	return nil
}

// AfterCommit runs fn once the ent transaction of ctx (ent.TxFromContext: a GraphQL
// mutation's, or one put there with ent.NewTxContext) has committed, and never if it rolls
// back. Without a transaction in ctx it runs fn at once.
func AfterCommit(ctx context.Context, fn func()) {
	tx := ent.TxFromContext(ctx)
	if tx == nil {
		fn()
		return
	}
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			if err := next.Commit(ctx, tx); err != nil {
				return err
			}
			fn()
			return nil
		})
	})
}

// PublishCommitted publishes payload on topic once the writes made through c are visible
// to other connections:
//
//   - b is a TxPublisher (PostgreSQL) and c is transactional: a NOTIFY inside c's
//     transaction, which PostgreSQL delivers on commit and discards on rollback.
//   - c is the client of ctx's ent transaction (ent.TxFromContext, as in a GraphQL
//     mutation): after commit, through an ent commit hook (AfterCommit); nothing on rollback.
//   - c is not transactional: now.
//   - c belongs to a transaction ctx does not carry: now, before that transaction commits.
//     Code running its own transaction should pass ent.NewTxContext(ctx, tx) to avoid this.
//
// A publish after commit that fails (the local broker never does; PostgreSQL may) is lost:
// the data is committed either way, and events are hints.
func PublishCommitted(ctx context.Context, b Broker, c *ent.Client, topic string, payload []byte) error {
	if stx, ok := c.SQLTx(); ok {
		if tp, ok := b.(TxPublisher); ok {
			return tp.PublishTx(ctx, stx, topic, payload)
		}
	}
	if tx := ent.TxFromContext(ctx); tx != nil && tx.Client() == c {
		if err := checkTopic(topic); err != nil {
			return err
		}
		if err := checkPayload(payload); err != nil {
			return err
		}
		pctx := context.WithoutCancel(ctx)
		AfterCommit(ctx, func() { _ = b.Publish(pctx, topic, payload) })
		return nil
	}
	if err := b.Publish(ctx, topic, payload); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}
