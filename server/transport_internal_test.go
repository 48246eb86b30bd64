package server

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"books/internal/auth"
)

func TestRateLimiterForgetsIdleCallers(t *testing.T) {
	t.Parallel()
	l := newRateLimiter(10, 5) // refills in 0.5 s; idle buckets go after 1 s
	now := time.Unix(1_700_000_000, 0)
	for i := range 1000 {
		ok, _ := l.allow(fmt.Sprintf("ip:10.0.%d.%d", i/256, i%256), now)
		require.True(t, ok)
	}
	require.Equal(t, 1000, l.size())

	// A sweep runs at most every 30 s; then only the callers seen lately remain.
	later := now.Add(31 * time.Second)
	ok, _ := l.allow("ip:192.0.2.1", later)
	require.True(t, ok)
	require.Equal(t, 1, l.size())
}

func TestRateLimiterBudget(t *testing.T) {
	t.Parallel()
	l := newRateLimiter(1, 2)
	now := time.Unix(1_700_000_000, 0)
	for range 2 {
		ok, _ := l.allow("a", now)
		require.True(t, ok)
	}
	ok, wait := l.allow("a", now)
	require.False(t, ok)
	require.InDelta(t, time.Second.Seconds(), wait.Seconds(), 0.01)
	ok, _ = l.allow("b", now)
	require.True(t, ok, "each key has its own bucket")
	ok, _ = l.allow("a", now.Add(time.Second))
	require.True(t, ok, "a token came back after a second")

	require.Nil(t, newRateLimiter(0, 10), "zero is no limit")
	ok, _ = (*rateLimiter)(nil).allow("a", now)
	require.True(t, ok)
}

func TestOperationLabelCardinality(t *testing.T) {
	t.Parallel()
	m := newMetrics(prometheus.NewRegistry())
	seen := map[string]bool{}
	// Names not admitted (a portal client's, a failed document's) never enter the set.
	for i := range 2 * maxOperationNames {
		require.Equal(t, "other", m.operationLabel(fmt.Sprintf("Junk%d", i), false))
	}
	for i := range 2 * maxOperationNames {
		seen[m.operationLabel(fmt.Sprintf("Op%d", i), true)] = true
	}
	require.Len(t, seen, maxOperationNames+1, "the first names and other")
	require.True(t, seen["other"])
	require.Equal(t, "Op1", m.operationLabel("Op1", false), "an admitted name stays, for everyone")
	require.Equal(t, "anonymous", m.operationLabel("", false))
	for _, bad := range []string{"1abc", "a-b", "ünïcode", string(make([]byte, 65))} {
		require.Equal(t, "other", m.operationLabel(bad, true), bad)
	}
}

// An operation on a socket whose token has expired is refused, even before the socket's
// expiry timer closes it: the gate reads the principal's expiry on every operation.
func TestOperationGateRefusesExpiredPrincipal(t *testing.T) {
	t.Parallel()
	s := &Server{log: slog.New(slog.NewJSONHandler(io.Discard, nil)), limiter: newRateLimiter(0, 0)}
	g := operationGate{s}
	op := &ast.OperationDefinition{Operation: ast.Mutation}
	for _, tc := range []struct {
		name    string
		expires time.Time
		code    string
	}{
		{"expired", time.Now().Add(-time.Second), "UNAUTHENTICATED"},
		{"expires now", time.Now(), "UNAUTHENTICATED"},
		{"valid", time.Now().Add(time.Hour), ""},
		{"no expiry (integration key)", time.Time{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &auth.Principal{Kind: auth.KindUser, Subject: "u", Org: "org_1", Roles: []auth.Role{auth.RoleAdmin}, ExpiresAt: tc.expires}
			ctx := context.WithValue(auth.WithPrincipal(context.Background(), p), wsConnKey{}, &wsConn{})
			err := g.MutateOperationContext(ctx, &graphql.OperationContext{Operation: op})
			if tc.code == "" {
				require.Nil(t, err)
				return
			}
			require.NotNil(t, err)
			require.Equal(t, tc.code, err.Extensions["code"])
		})
	}
}

// gqlgen answers a body it cannot decode through the response interceptors with no
// operation context at all; the mutation transaction used to panic reading it.
func TestMutationTxWithoutOperation(t *testing.T) {
	t.Parallel()
	tx := mutationTx{opener: entgql.TxOpenerFunc(func(ctx context.Context) (context.Context, driver.Tx, error) {
		t.Fatal("no transaction for a response without an operation")
		return nil, nil, nil
	})}
	want := &graphql.Response{Errors: gqlerror.List{{Message: "bad body"}}}
	next := func(context.Context) *graphql.Response { return want }
	require.NotPanics(t, func() {
		require.Same(t, want, tx.InterceptResponse(context.Background(), next))
		ctx := graphql.WithOperationContext(context.Background(), &graphql.OperationContext{})
		require.Same(t, want, tx.InterceptResponse(ctx, next))
	})
}
