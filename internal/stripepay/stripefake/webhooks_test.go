package stripefake_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"

	"books/internal/stripepay/stripefake"
)

// charges makes n dashboard charges: 3n events.
func (b *testBundle) charges(t *testing.T, n int) {
	t.Helper()
	for range n {
		_, err := b.fake.Charge(secretKey, 1_000, "usd", nil)
		require.NoError(t, err)
	}
}

// listedEvents pages through /v1/events with stripe-go.
func (b *testBundle) listedEvents(t *testing.T) []*stripe.Event {
	t.Helper()
	params := &stripe.EventListParams{}
	params.Limit = stripe.Int64(100)
	var out []*stripe.Event
	it := b.sc.Events.List(params)
	for it.Next() {
		out = append(out, it.Event())
	}
	require.NoError(t, it.Err())
	return out
}

func TestFaults(t *testing.T) {
	t.Parallel()
	b := setupWith(t, stripefake.Options{Seed: 7})
	b.fake.SetFaults(stripefake.Faults{Drop: 0.2, Duplicate: 0.1, Reorder: true})
	b.charges(t, 30)
	b.flush(t)

	all := eventIDs(t, b.fake)
	require.Len(t, all, 90)
	st := b.fake.WebhookStats()
	require.Positive(t, st.Dropped)
	require.Positive(t, st.Duplicated)
	require.Zero(t, st.Pending)
	require.Zero(t, st.GivenUp)

	// Every event stays listable, dropped or not; a dropped one is still
	// pending at Stripe.
	listed := map[string]bool{}
	pending := 0
	for _, ev := range b.listedEvents(t) {
		listed[ev.ID] = true
		if ev.PendingWebhooks > 0 {
			pending++
		}
	}
	require.Len(t, listed, len(all))
	require.Equal(t, st.Dropped, pending)

	got := b.hook.received()
	require.GreaterOrEqual(t, len(got), len(all)-st.Dropped)
	require.Equal(t, len(all)-st.Dropped+st.Duplicated, len(got))
	require.Equal(t, len(got), st.Delivered)
	seen := map[string]int{}
	var firstSeen []string
	for _, ev := range got {
		require.True(t, listed[ev.ID], ev.ID)
		if seen[ev.ID] == 0 {
			firstSeen = append(firstSeen, ev.ID)
		}
		seen[ev.ID]++
	}
	require.Len(t, seen, len(all)-st.Dropped)
	var inEmissionOrder []string
	for _, id := range all {
		if seen[id] > 0 {
			inEmissionOrder = append(inEmissionOrder, id)
		}
	}
	require.NotEqual(t, inEmissionOrder, firstSeen, "Reorder shuffles batches")

	t.Run("SameSeedSameFaults", func(t *testing.T) {
		t.Parallel()
		again := setupWith(t, stripefake.Options{Seed: 7})
		again.fake.SetFaults(stripefake.Faults{Drop: 0.2, Duplicate: 0.1, Reorder: true})
		again.charges(t, 30)
		again.flush(t)
		st2 := again.fake.WebhookStats()
		require.Equal(t, st.Dropped, st2.Dropped)
		require.Equal(t, st.Duplicated, st2.Duplicated)
	})
}

func TestRetries(t *testing.T) {
	t.Parallel()

	t.Run("UntilAnswered", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var mu sync.Mutex
		attempts := map[string]int{}
		b.hook.setAnswer(func(ev stripe.Event) int {
			mu.Lock()
			defer mu.Unlock()
			attempts[ev.ID]++
			if attempts[ev.ID] <= 2 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		b.charges(t, 1)
		b.flush(t)

		require.Len(t, b.hook.received(), 3)
		st := b.fake.WebhookStats()
		require.Equal(t, 9, st.Attempts)
		require.Equal(t, 3, st.Delivered)
		require.Zero(t, st.GivenUp)
		for _, ev := range b.listedEvents(t) {
			require.Zero(t, ev.PendingWebhooks)
		}
	})
	t.Run("GivenUp", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.hook.setAnswer(func(stripe.Event) int { return http.StatusInternalServerError })
		b.charges(t, 1)
		b.flush(t)

		require.Empty(t, b.hook.received())
		require.Equal(t, 15, b.hook.requestCount(), "5 attempts per event")
		st := b.fake.WebhookStats()
		require.Equal(t, 3, st.GivenUp)
		events := b.listedEvents(t)
		require.Len(t, events, 3)
		for _, ev := range events {
			require.Equal(t, int64(1), ev.PendingWebhooks)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		b.fake.SetWebhook(secretKey, gone.URL, signingSecret)
		b.charges(t, 1)
		b.flush(t)
		st := b.fake.WebhookStats()
		require.Equal(t, 3, st.GivenUp)
		require.Equal(t, 15, st.Attempts)
	})
}

func TestFlushWaits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.flush(t) // nothing queued

	b.hook.setAnswer(func(stripe.Event) int {
		time.Sleep(30 * time.Millisecond)
		return http.StatusOK
	})
	b.charges(t, 2)
	b.flush(t)
	require.Len(t, b.hook.received(), 6)
	require.Zero(t, b.fake.WebhookStats().Pending)
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	b := setupWith(t, stripefake.Options{Seed: 3})
	b.fake.SetFaults(stripefake.Faults{Reorder: true})
	b.fake.Pause()
	b.charges(t, 10)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.fake.Flush(ctx), context.DeadlineExceeded)
	require.Zero(t, b.hook.requestCount())
	require.Equal(t, 30, b.fake.WebhookStats().Pending)

	b.fake.Resume()
	b.flush(t)
	got := b.hook.received()
	require.Len(t, got, 30)
	var ids []string
	for _, ev := range got {
		ids = append(ids, ev.ID)
	}
	all := eventIDs(t, b.fake)
	require.ElementsMatch(t, all, ids)
	require.NotEqual(t, all, ids)
}

func TestEndpointCallsBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A webhook handler that reads the charge through the API and refunds
	// it, while its own delivery is in flight.
	var mu sync.Mutex
	var handlerErrs []error
	b.hook.setAnswer(func(ev stripe.Event) int {
		if ev.Type != "charge.succeeded" {
			return http.StatusOK
		}
		chID, _ := ev.Data.Object["id"].(string)
		_, err := b.sc.Charges.Get(chID, nil)
		if err == nil {
			_, err = b.fake.Refund(chID, 0)
		}
		if err != nil {
			mu.Lock()
			handlerErrs = append(handlerErrs, err)
			mu.Unlock()
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	b.charges(t, 1)
	b.flush(t)
	require.Empty(t, handlerErrs)
	require.Equal(t, []string{"payment_intent.created", "charge.succeeded", "payment_intent.succeeded", "charge.refunded", "refund.created"},
		types(b.hook.received()))
}

func TestSetWebhook(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.charges(t, 1)
	b.flush(t)
	require.Len(t, b.hook.received(), 3)

	other := newReceiver(t)
	b.fake.SetWebhook(secretKey, other.URL, signingSecret)
	b.charges(t, 1)
	b.flush(t)
	require.Len(t, b.hook.received(), 3)
	require.Len(t, other.received(), 3)

	b.fake.SetWebhook(secretKey, "", "")
	b.charges(t, 1)
	b.flush(t)
	require.Len(t, other.received(), 3)
	events := b.listedEvents(t)
	require.Len(t, events, 9)
	require.Zero(t, events[0].PendingWebhooks, "no endpoint, nothing pending")

	require.Panics(t, func() { b.fake.SetWebhook("sk_test_nobody", other.URL, signingSecret) })
}

func TestClose(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.Pause()
	b.charges(t, 2)
	b.fake.Close()
	b.fake.Close() // idempotent

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.NoError(t, b.fake.Flush(ctx), "Close discards what was queued")
	require.Equal(t, 6, b.fake.WebhookStats().GivenUp)
	require.Len(t, b.fake.Events(secretKey), 6, "state stays readable")
	_, err := b.fake.Start()
	require.Error(t, err)
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			pi, err := b.sc.PaymentIntents.New(&stripe.PaymentIntentParams{Amount: stripe.Int64(500), Currency: stripe.String("usd")})
			if err == nil {
				_, err = b.sc.PaymentIntents.Confirm(pi.ID, &stripe.PaymentIntentConfirmParams{PaymentMethod: stripe.String("pm_card_visa")})
			}
			if err == nil {
				_, err = b.sc.Refunds.New(&stripe.RefundParams{PaymentIntent: stripe.String(pi.ID), Amount: stripe.Int64(100)})
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	b.flush(t)
	require.Len(t, b.fake.Events(secretKey), workers*5)
	require.Len(t, b.hook.received(), workers*5)
}
