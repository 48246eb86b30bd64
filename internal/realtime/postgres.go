package realtime

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lib/pq"
)

// PostgresBroker fans events out across processes with PostgreSQL LISTEN/NOTIFY.
//
// Each topic maps to one notification channel (ChannelName). The broker keeps one dedicated
// listening connection (lib/pq's Listener, which reconnects by itself and re-issues its
// LISTENs), LISTENs on a channel while it has at least one local subscriber, and fans each
// notification out to them. Publishing is a `SELECT pg_notify(channel, payload)` on an
// ordinary pooled connection, so every instance LISTENing on the channel — this one
// included — receives it. PublishTx sends it through a transaction instead: PostgreSQL then
// delivers it on commit and drops it on rollback.
//
// Notification channels are per database, not per schema: two deployments sharing one
// database see each other's topics. Topics carry organization ids, which are unique.
type PostgresBroker struct {
	db    *sql.DB
	ownDB bool
	log   *slog.Logger
	l     *pq.Listener
	hub   *hub

	// syncMu serializes LISTEN/UNLISTEN; listening (guarded by it) is what the listener
	// has been asked to listen on.
	syncMu    sync.Mutex
	listening map[string]bool

	done      chan struct{}
	closeOnce sync.Once
}

// PostgresOption configures NewPostgres.
type PostgresOption func(*PostgresBroker)

// WithDB publishes through db, the process's shared pool, instead of a small pool of the
// broker's own. The broker does not close it.
func WithDB(db *sql.DB) PostgresOption {
	return func(b *PostgresBroker) { b.db = db }
}

// Reconnection back-off of the listening connection.
const (
	minReconnect = 100 * time.Millisecond
	maxReconnect = 5 * time.Second
)

// NewPostgres connects a broker to the PostgreSQL database at dsn (a postgres:// URL or
// key=value string, as lib/pq takes). It returns once the listening connection is up, or
// with the first connection error. Publishing uses the pool given with WithDB, or else a
// small pool the broker opens on dsn and closes with Close.
func NewPostgres(ctx context.Context, dsn string, log *slog.Logger, opts ...PostgresOption) (*PostgresBroker, error) {
	if log == nil {
		log = slog.Default()
	}
	b := &PostgresBroker{log: log, hub: newHub(), listening: map[string]bool{}, done: make(chan struct{})}
	for _, o := range opts {
		o(b)
	}
	b.hub.onDrop = func(ch string) {
		log.Warn("realtime: subscriber too far behind; event dropped", "channel", ch)
	}
	if b.db == nil {
		db, err := sql.Open("postgres", dsn)
		if err != nil {
			return nil, fmt.Errorf("realtime: open postgres: %w", err)
		}
		db.SetMaxOpenConns(4)
		db.SetMaxIdleConns(2)
		b.db, b.ownDB = db, true
	}

	first := make(chan error, 1)
	var once sync.Once
	b.l = pq.NewListener(dsn, minReconnect, maxReconnect, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnected:
			once.Do(func() { first <- nil })
		case pq.ListenerEventConnectionAttemptFailed:
			once.Do(func() { first <- err })
			log.Warn("realtime: listener cannot connect", "err", err)
		case pq.ListenerEventDisconnected:
			log.Warn("realtime: listener disconnected; reconnecting", "err", err)
		case pq.ListenerEventReconnected:
			log.Info("realtime: listener reconnected; events published while it was down are lost")
		}
	})
	select {
	case err := <-first:
		if err != nil {
			b.close()
			return nil, fmt.Errorf("realtime: listen on postgres: %w", err)
		}
	case <-ctx.Done():
		b.close()
		return nil, ctx.Err()
	}
	go b.dispatch()
	return b, nil
}

// ChannelName is the notification channel of topic: a valid, unquoted identifier whatever
// the topic holds ("books_" and 32 hex digits of its SHA-256).
func ChannelName(topic string) string {
	sum := sha256.Sum256([]byte(topic))
	return "books_" + hex.EncodeToString(sum[:])[:32]
}

// dispatch hands notifications to local subscribers until the listener is closed.
func (b *PostgresBroker) dispatch() {
	for n := range b.l.NotificationChannel() {
		if n == nil {
			continue // sent after a reconnection
		}
		b.hub.deliver(n.Channel, []byte(n.Extra))
	}
}

// Publish implements Broker: a NOTIFY through the pool, delivered to every instance at once.
func (b *PostgresBroker) Publish(ctx context.Context, topic string, payload []byte) error {
	return b.notify(ctx, b.db, topic, payload)
}

// PublishTx implements TxPublisher: the NOTIFY is part of tx, delivered when it commits and
// never if it rolls back.
func (b *PostgresBroker) PublishTx(ctx context.Context, tx *sql.Tx, topic string, payload []byte) error {
	return b.notify(ctx, tx, topic, payload)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (b *PostgresBroker) notify(ctx context.Context, ex execer, topic string, payload []byte) error {
	if err := checkTopic(topic); err != nil {
		return err
	}
	if err := checkPayload(payload); err != nil {
		return err
	}
	select {
	case <-b.done:
		return ErrClosed
	default:
	}
	if _, err := ex.ExecContext(ctx, `SELECT pg_notify($1, $2)`, ChannelName(topic), string(payload)); err != nil {
		return fmt.Errorf("realtime: notify: %w", err)
	}
	return nil
}

// Subscribe implements Broker. It returns once the broker LISTENs on the topic's channel, so
// everything published after it returns is delivered (barring the losses the package
// documents).
func (b *PostgresBroker) Subscribe(ctx context.Context, topic string) (<-chan []byte, error) {
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	ch := ChannelName(topic)
	s, _, err := b.hub.add(ch)
	if err != nil {
		return nil, err
	}
	// LISTEN blocks while the connection is down; the caller's ctx bounds the wait.
	errc := make(chan error, 1)
	go func() { errc <- b.sync(ch) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		err = ctx.Err()
	case <-b.done:
		err = ErrClosed
	}
	if err != nil {
		if b.hub.remove(ch, s) {
			go func() { _ = b.sync(ch) }()
		}
		return nil, err
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-b.done:
		}
		if b.hub.remove(ch, s) {
			_ = b.sync(ch)
		}
	}()
	return s.c, nil
}

// sync makes the listener's LISTEN on ch match whether ch has local subscribers. Running it
// after every change of subscribers, one at a time, converges whatever the interleaving.
func (b *PostgresBroker) sync(ch string) error {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	select {
	case <-b.done:
		return ErrClosed
	default:
	}
	want, has := b.hub.has(ch), b.listening[ch]
	switch {
	case want && !has:
		if err := b.l.Listen(ch); err != nil && !errors.Is(err, pq.ErrChannelAlreadyOpen) {
			return fmt.Errorf("realtime: listen: %w", err)
		}
		b.listening[ch] = true
	case !want && has:
		if err := b.l.Unlisten(ch); err != nil && !errors.Is(err, pq.ErrChannelNotOpen) {
			b.log.Warn("realtime: unlisten failed", "channel", ch, "err", err)
			return err
		}
		delete(b.listening, ch)
	}
	return nil
}

// Dropped returns how many events were dropped because a subscriber was too far behind.
func (b *PostgresBroker) Dropped() int64 { return b.hub.dropped.Load() }

// Close stops listening, ends every subscription and closes the broker's own pool (not one
// given with WithDB).
func (b *PostgresBroker) Close() error {
	return b.close()
}

func (b *PostgresBroker) close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.done)
		if lerr := b.l.Close(); lerr != nil {
			err = lerr
		}
		b.hub.close()
		if b.ownDB {
			err = errors.Join(err, b.db.Close())
		}
	})
	return err
}
