package realtime_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/ent"
	"books/internal/dbtest"
	"books/internal/realtime"
)

var topicSeq atomic.Int64

// uniqueTopic returns a topic no other test (or test run on the same database) uses:
// notification channels are shared by the whole PostgreSQL database.
func uniqueTopic(t testing.TB) string {
	return fmt.Sprintf("test:%s:%d:%d", t.Name(), time.Now().UnixNano(), topicSeq.Add(1))
}

// receive waits up to d for the next event on c.
func receive(t testing.TB, c <-chan []byte, d time.Duration) (string, bool) {
	t.Helper()
	select {
	case p, ok := <-c:
		if !ok {
			return "", false
		}
		return string(p), true
	case <-time.After(d):
		return "", false
	}
}

// requireNothing asserts nothing arrives on c within d.
func requireNothing(t testing.TB, c <-chan []byte, d time.Duration) {
	t.Helper()
	select {
	case p, ok := <-c:
		if ok {
			t.Fatalf("unexpected event %q", p)
		}
		t.Fatal("subscription closed unexpectedly")
	case <-time.After(d):
	}
}

// requireClosed asserts c is closed within d (after draining what is buffered).
func requireClosed(t testing.TB, c <-chan []byte, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-c:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("subscription was not closed")
		}
	}
}

func TestLocalFanOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := realtime.NewLocal()
	defer b.Close()

	ctx1, cancel1 := context.WithCancel(ctx)
	defer cancel1()
	s1, err := b.Subscribe(ctx1, "orders")
	require.NoError(t, err)
	s2, err := b.Subscribe(ctx, "orders")
	require.NoError(t, err)
	other, err := b.Subscribe(ctx, "invoices")
	require.NoError(t, err)

	require.NoError(t, b.Publish(ctx, "orders", []byte("o1")))
	for _, s := range []<-chan []byte{s1, s2} {
		p, ok := receive(t, s, time.Second)
		require.True(t, ok)
		require.Equal(t, "o1", p)
	}
	requireNothing(t, other, 50*time.Millisecond)

	// A cancelled subscription is closed and gets nothing more; the others carry on.
	cancel1()
	requireClosed(t, s1, time.Second)
	require.NoError(t, b.Publish(ctx, "orders", []byte("o2")))
	p, ok := receive(t, s2, time.Second)
	require.True(t, ok)
	require.Equal(t, "o2", p)

	// Payloads are text that NOTIFY can carry, on both brokers alike.
	require.ErrorIs(t, b.Publish(ctx, "orders", []byte("a\x00b")), realtime.ErrPayload)
	require.ErrorIs(t, b.Publish(ctx, "orders", []byte{0xff, 0xfe}), realtime.ErrPayload)
	require.ErrorIs(t, b.Publish(ctx, "orders", []byte(strings.Repeat("x", realtime.MaxPayload+1))), realtime.ErrPayload)
	require.NoError(t, b.Publish(ctx, "orders", []byte(strings.Repeat("x", realtime.MaxPayload))))
	require.Error(t, b.Publish(ctx, "", []byte("x")))

	// A subscriber that does not read loses events beyond its buffer; publishing never blocks.
	slow, err := b.Subscribe(ctx, "slow")
	require.NoError(t, err)
	for i := range realtime.SubscriberBuffer + 10 {
		require.NoError(t, b.Publish(ctx, "slow", fmt.Appendf(nil, "%d", i)))
	}
	require.EqualValues(t, 10, b.Dropped())
	p, ok = receive(t, slow, time.Second)
	require.True(t, ok)
	require.Equal(t, "0", p, "the oldest events are kept")

	// Close ends every subscription.
	require.NoError(t, b.Close())
	requireClosed(t, s2, time.Second)
	requireClosed(t, other, time.Second)
	_, err = b.Subscribe(ctx, "orders")
	require.ErrorIs(t, err, realtime.ErrClosed)
}

func TestChannelName(t *testing.T) {
	t.Parallel()
	a := realtime.ChannelName("admin_issues:org_01jd")
	require.Len(t, a, len("books_")+32)
	require.Regexp(t, `^books_[0-9a-f]{32}$`, a)
	require.Equal(t, a, realtime.ChannelName("admin_issues:org_01jd"))
	require.NotEqual(t, a, realtime.ChannelName("admin_issues:org_01je"))
	require.Regexp(t, `^books_[0-9a-f]{32}$`, realtime.ChannelName(`"; DROP TABLE x; -- ünïcode`))
}

// TestPublishCommittedLocal: with a broker that cannot join a transaction, an event about
// a write inside ctx's ent transaction is published on commit, never on rollback.
func TestPublishCommittedLocal(t *testing.T) {
	t.Parallel()
	db := dbtest.Open(t, dialect.SQLite)
	client := db.Client()
	b := realtime.NewLocal()
	defer b.Close()
	ctx := context.Background()
	sub, err := b.Subscribe(ctx, "t")
	require.NoError(t, err)

	// No transaction: at once.
	require.NoError(t, realtime.PublishCommitted(ctx, b, client, "t", []byte("now")))
	p, ok := receive(t, sub, time.Second)
	require.True(t, ok)
	require.Equal(t, "now", p)

	for _, commit := range []bool{true, false} {
		tx, err := client.Tx(ctx)
		require.NoError(t, err)
		tctx := ent.NewTxContext(ctx, tx)
		require.NoError(t, realtime.PublishCommitted(tctx, b, tx.Client(), "t", fmt.Appendf(nil, "commit=%v", commit)))
		requireNothing(t, sub, 50*time.Millisecond)
		if commit {
			require.NoError(t, tx.Commit())
			p, ok := receive(t, sub, time.Second)
			require.True(t, ok, "published on commit")
			require.Equal(t, "commit=true", p)
		} else {
			require.NoError(t, tx.Rollback())
			requireNothing(t, sub, 100*time.Millisecond)
		}
	}

	// AfterCommit without a transaction runs at once.
	ran := false
	realtime.AfterCommit(ctx, func() { ran = true })
	require.True(t, ran)
}

// pgBrokers returns two brokers on the same PostgreSQL database, each with its own pool and
// listening connection, as two server instances would have.
func pgBrokers(t testing.TB) (a, b *realtime.PostgresBroker, dbA *sql.DB) {
	t.Helper()
	url := dbtest.PostgresURL(t)
	if url == "" {
		t.Skip("BOOKS_TEST_POSTGRES_URL not set")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	open := func() (*realtime.PostgresBroker, *sql.DB) {
		db, err := sql.Open("postgres", url)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		br, err := realtime.NewPostgres(ctx, url, log, realtime.WithDB(db))
		require.NoError(t, err)
		t.Cleanup(func() { br.Close() })
		return br, db
	}
	a, dbA = open()
	b, _ = open()
	return a, b, dbA
}

func TestPostgresBroker(t *testing.T) {
	t.Parallel()
	a, b, dbA := pgBrokers(t)
	ctx := context.Background()

	t.Run("publish on one instance, receive on the other", func(t *testing.T) {
		topic := uniqueTopic(t)
		onB, err := b.Subscribe(ctx, topic)
		require.NoError(t, err)
		onA, err := a.Subscribe(ctx, topic)
		require.NoError(t, err)
		otherTopic, err := b.Subscribe(ctx, uniqueTopic(t))
		require.NoError(t, err)

		require.NoError(t, a.Publish(ctx, topic, []byte("iss_1 ünïcode")))
		p, ok := receive(t, onB, 5*time.Second)
		require.True(t, ok, "the other instance receives it")
		require.Equal(t, "iss_1 ünïcode", p)
		p, ok = receive(t, onA, 5*time.Second)
		require.True(t, ok, "the publishing instance's own subscribers receive it too")
		require.Equal(t, "iss_1 ünïcode", p)
		requireNothing(t, otherTopic, 100*time.Millisecond)

		// Many subscribers of one topic on one instance share its LISTEN.
		more, err := b.Subscribe(ctx, topic)
		require.NoError(t, err)
		for i := range 20 {
			require.NoError(t, a.Publish(ctx, topic, fmt.Appendf(nil, "%d", i)))
		}
		for _, s := range []<-chan []byte{onB, more} {
			var got []string
			for range 20 {
				p, ok := receive(t, s, 5*time.Second)
				require.True(t, ok)
				got = append(got, p)
			}
			require.Len(t, got, 20)
			require.Equal(t, "0", got[0])
			require.Equal(t, "19", got[19], "in order")
		}
		require.ErrorIs(t, a.Publish(ctx, topic, []byte(strings.Repeat("x", realtime.MaxPayload+1))), realtime.ErrPayload)
		require.NoError(t, a.Publish(ctx, topic, []byte(strings.Repeat("x", realtime.MaxPayload))), "NOTIFY takes the largest payload")
		p, ok = receive(t, onB, 5*time.Second)
		require.True(t, ok)
		require.Len(t, p, realtime.MaxPayload)
	})

	t.Run("PublishTx delivers on commit only", func(t *testing.T) {
		topic := uniqueTopic(t)
		onB, err := b.Subscribe(ctx, topic)
		require.NoError(t, err)

		tx, err := dbA.BeginTx(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, a.PublishTx(ctx, tx, topic, []byte("committed")))
		requireNothing(t, onB, 300*time.Millisecond)
		require.NoError(t, tx.Commit())
		p, ok := receive(t, onB, 5*time.Second)
		require.True(t, ok)
		require.Equal(t, "committed", p)

		tx, err = dbA.BeginTx(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, a.PublishTx(ctx, tx, topic, []byte("rolled back")))
		require.NoError(t, tx.Rollback())
		// A later event arrives alone: the rolled-back one never does.
		require.NoError(t, a.Publish(ctx, topic, []byte("after")))
		p, ok = receive(t, onB, 5*time.Second)
		require.True(t, ok)
		require.Equal(t, "after", p)
		requireNothing(t, onB, 200*time.Millisecond)
	})

	t.Run("PublishCommitted joins the ent transaction", func(t *testing.T) {
		db := dbtest.Open(t, dialect.Postgres)
		client := db.Client()
		topic := uniqueTopic(t)
		onB, err := b.Subscribe(ctx, topic)
		require.NoError(t, err)
		for _, commit := range []bool{false, true} {
			tx, err := client.Tx(ctx)
			require.NoError(t, err)
			require.NoError(t, realtime.PublishCommitted(ctx, a, tx.Client(), topic, fmt.Appendf(nil, "commit=%v", commit)))
			requireNothing(t, onB, 200*time.Millisecond)
			if commit {
				require.NoError(t, tx.Commit())
			} else {
				require.NoError(t, tx.Rollback())
			}
		}
		p, ok := receive(t, onB, 5*time.Second)
		require.True(t, ok)
		require.Equal(t, "commit=true", p)
		requireNothing(t, onB, 200*time.Millisecond)
	})

	t.Run("unsubscribe", func(t *testing.T) {
		topic := uniqueTopic(t)
		sctx, cancel := context.WithCancel(ctx)
		s, err := b.Subscribe(sctx, topic)
		require.NoError(t, err)
		cancel()
		requireClosed(t, s, 5*time.Second)
		// Subscribing again works (LISTEN again after the UNLISTEN).
		s2, err := b.Subscribe(ctx, topic)
		require.NoError(t, err)
		require.NoError(t, a.Publish(ctx, topic, []byte("again")))
		p, ok := receive(t, s2, 5*time.Second)
		require.True(t, ok)
		require.Equal(t, "again", p)
	})

	t.Run("subscribe and unsubscribe concurrently", func(t *testing.T) {
		topic := uniqueTopic(t)
		done := make(chan struct{})
		for range 8 {
			go func() {
				defer func() { done <- struct{}{} }()
				for range 10 {
					sctx, cancel := context.WithCancel(ctx)
					if _, err := b.Subscribe(sctx, topic); err != nil {
						t.Error(err)
					}
					cancel()
				}
			}()
		}
		for range 8 {
			<-done
		}
		// Whatever the interleaving, a new subscriber is listened for.
		s, err := b.Subscribe(ctx, topic)
		require.NoError(t, err)
		require.NoError(t, a.Publish(ctx, topic, []byte("x")))
		p, ok := receive(t, s, 5*time.Second)
		require.True(t, ok)
		require.Equal(t, "x", p)
	})

	t.Run("a cancelled subscribe returns", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := b.Subscribe(cctx, uniqueTopic(t))
		// LISTEN may win the race against the cancelled context; either way it returns.
		if err != nil {
			require.ErrorIs(t, err, context.Canceled)
		}
	})
}

func TestPostgresBrokerClose(t *testing.T) {
	t.Parallel()
	url := dbtest.PostgresURL(t)
	if url == "" {
		t.Skip("BOOKS_TEST_POSTGRES_URL not set")
	}
	ctx := context.Background()
	// Without WithDB the broker opens and closes a pool of its own.
	br, err := realtime.NewPostgres(ctx, url, nil)
	require.NoError(t, err)
	s, err := br.Subscribe(ctx, uniqueTopic(t))
	require.NoError(t, err)
	require.NoError(t, br.Publish(ctx, "x", []byte("y")))
	require.NoError(t, br.Close())
	requireClosed(t, s, 5*time.Second)
	require.ErrorIs(t, br.Publish(ctx, "x", []byte("y")), realtime.ErrClosed)
	_, err = br.Subscribe(ctx, "x")
	require.ErrorIs(t, err, realtime.ErrClosed)
	require.NoError(t, br.Close(), "Close twice is harmless")

	// A database that cannot be reached fails at once.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = realtime.NewPostgres(cctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", nil)
	require.Error(t, err)
}

// BenchmarkFanOut measures how long an event takes from Publish on one instance to the
// subscribers of its topic on another (two brokers, two pools, two listening connections, one
// PostgreSQL database), one event at a time: each op publishes one event and waits until
// every subscriber has it. It reports the p50 and p99 of that latency in microseconds.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) { benchFanOut(b, n) })
	}
}

func benchFanOut(b *testing.B, subscribers int) {
	pub, sub, _ := pgBrokers(b)
	ctx := context.Background()
	topic := uniqueTopic(b)
	subs := make([]<-chan []byte, subscribers)
	for i := range subs {
		var err error
		subs[i], err = sub.Subscribe(ctx, topic)
		require.NoError(b, err)
	}
	roundTrip := func(payload []byte) time.Duration {
		start := time.Now()
		if err := pub.Publish(ctx, topic, payload); err != nil {
			b.Fatal(err)
		}
		for _, s := range subs {
			if _, ok := receive(b, s, 5*time.Second); !ok {
				b.Fatal("event not received within 5 s")
			}
		}
		return time.Since(start)
	}
	for range 10 { // warm up the pools and the channel
		roundTrip([]byte("warm"))
	}
	lat := make([]time.Duration, 0, b.N)
	payload := []byte("iss_01jdexampleexampleexampleexam")
	b.ResetTimer()
	for range b.N {
		lat = append(lat, roundTrip(payload))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(q(0.50), "p50-us")
	b.ReportMetric(q(0.99), "p99-us")
}
