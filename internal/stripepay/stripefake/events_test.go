package stripefake_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"

	"books/internal/stripepay/stripefake"
)

// eventIDs returns the ids of the account's events, oldest first.
func eventIDs(t *testing.T, f *stripefake.Server) []string {
	t.Helper()
	var ids []string
	for _, raw := range f.Events(secretKey) {
		ids = append(ids, decode[stripe.Event](t, raw).ID)
	}
	return ids
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func TestEventPaging(t *testing.T) {
	t.Parallel()
	// Every event in the same second: order must come from creation
	// order, not from the timestamp.
	at := time.Date(2024, 6, 20, 12, 0, 0, 0, time.UTC)
	b := setupWith(t, stripefake.Options{Now: func() time.Time { return at }})
	for range 40 {
		_, err := b.fake.Charge(secretKey, 1_000, "usd", nil)
		require.NoError(t, err)
	}
	all := eventIDs(t, b.fake)
	require.Len(t, all, 120)
	newestFirst := reversed(all)

	t.Run("Iterator", func(t *testing.T) {
		t.Parallel()
		for _, limit := range []int64{1, 7, 10, 100} {
			params := &stripe.EventListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: at.Unix()}}
			params.Limit = stripe.Int64(limit)
			var got []string
			it := b.sc.Events.List(params)
			for it.Next() {
				require.Equal(t, at.Unix(), it.Event().Created)
				got = append(got, it.Event().ID)
			}
			require.NoError(t, it.Err())
			require.Equal(t, newestFirst, got, "limit %d", limit)
		}
	})
	t.Run("Pages", func(t *testing.T) {
		t.Parallel()
		status, page1 := b.raw(t, http.MethodGet, "/v1/events?limit=100", secretKey, nil)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "list", page1["object"])
		require.Equal(t, "/v1/events", page1["url"])
		require.Equal(t, true, page1["has_more"])
		data := page1["data"].([]any)
		require.Len(t, data, 100)
		last := data[99].(map[string]any)["id"].(string)
		_, page2 := b.raw(t, http.MethodGet, "/v1/events?limit=100&starting_after="+last, secretKey, nil)
		require.Equal(t, false, page2["has_more"])
		require.Len(t, page2["data"], 20)

		// Backwards from the oldest event: the newer neighbours first.
		_, back := b.raw(t, http.MethodGet, "/v1/events?limit=5&ending_before="+all[0], secretKey, nil)
		var ids []string
		for _, d := range back["data"].([]any) {
			ids = append(ids, d.(map[string]any)["id"].(string))
		}
		require.Equal(t, reversed(all[1:6]), ids)
		require.Equal(t, true, back["has_more"])
	})
	t.Run("CreatedRange", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			query   string
			wantAll bool // all 120 events, else none
		}{
			{"created[gte]=" + itoa(at.Unix()), true},
			{"created[gt]=" + itoa(at.Unix()), false},
			{"created[lte]=" + itoa(at.Unix()), true},
			{"created[lt]=" + itoa(at.Unix()), false},
			{"created=" + itoa(at.Unix()), true},
			{"created[gt]=" + itoa(at.Unix()-1) + "&created[lt]=" + itoa(at.Unix()+1), true},
		} {
			_, body := b.raw(t, http.MethodGet, "/v1/events?limit=100&"+tt.query, secretKey, nil)
			if tt.wantAll {
				require.Len(t, body["data"], 100, tt.query)
				require.Equal(t, true, body["has_more"], tt.query)
			} else {
				require.Empty(t, body["data"], tt.query)
				require.Equal(t, false, body["has_more"], tt.query)
			}
		}
	})
	t.Run("Types", func(t *testing.T) {
		t.Parallel()
		count := func(params *stripe.EventListParams) int {
			n := 0
			it := b.sc.Events.List(params)
			for it.Next() {
				n++
			}
			require.NoError(t, it.Err())
			return n
		}
		require.Equal(t, 40, count(&stripe.EventListParams{Type: stripe.String("charge.succeeded")}))
		require.Equal(t, 80, count(&stripe.EventListParams{Type: stripe.String("payment_intent.*")}))
		require.Equal(t, 80, count(&stripe.EventListParams{Types: stripe.StringSlice([]string{"charge.succeeded", "payment_intent.created"})}))
		require.Zero(t, count(&stripe.EventListParams{Type: stripe.String("refund.created")}))
	})
	t.Run("BadParams", func(t *testing.T) {
		t.Parallel()
		for _, q := range []string{"limit=0", "limit=101", "limit=x", "starting_after=evt_missing", "type=a&types[0]=b", "created[gte]=soon"} {
			status, body := b.raw(t, http.MethodGet, "/v1/events?"+q, secretKey, nil)
			require.Equal(t, http.StatusBadRequest, status, q)
			require.Equal(t, "invalid_request_error", body["error"].(map[string]any)["type"], q)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestEventRetrieveAndRequest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	params := &stripe.PaymentIntentParams{Amount: stripe.Int64(300), Currency: stripe.String("usd")}
	params.SetIdempotencyKey("create-300")
	pi, err := b.sc.PaymentIntents.New(params)
	require.NoError(t, err)
	b.flush(t)

	ids := eventIDs(t, b.fake)
	require.Len(t, ids, 1)
	ev, err := b.sc.Events.Get(ids[0], nil)
	require.NoError(t, err)
	require.Equal(t, stripe.EventType("payment_intent.created"), ev.Type)
	require.Equal(t, stripe.APIVersion, ev.APIVersion)
	require.Zero(t, ev.PendingWebhooks, "delivered")
	require.Equal(t, pi.ID, ev.Data.Object["id"])
	// As at Stripe, an event caused by an API request names it.
	require.True(t, strings.HasPrefix(ev.Request.ID, "req_"))
	require.Equal(t, pi.LastResponse.RequestID, ev.Request.ID)
	require.Equal(t, "create-300", ev.Request.IdempotencyKey)

	_, err = b.sc.Events.Get("evt_missing", nil)
	stripeErr(t, err, http.StatusNotFound, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeResourceMissing)
	// An id of another kind is no event.
	_, err = b.sc.Events.Get(pi.ID, nil)
	stripeErr(t, err, http.StatusNotFound, stripe.ErrorTypeInvalidRequest, stripe.ErrorCodeResourceMissing)

	require.Nil(t, b.fake.Events("sk_test_nobody"))
	_, body := b.raw(t, http.MethodGet, "/v1/events/"+url.PathEscape(ids[0])+"?expand[0]=data.object", secretKey, nil)
	require.Contains(t, body, "error", "events expand nothing")
}
