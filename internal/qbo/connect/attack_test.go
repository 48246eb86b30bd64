package connect_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Finding 3: the callback trusts the realmId of the browser's query. A user of organization
// A consents for its own company (realm 0) and edits realmId in the callback URL to another
// company's id (realm 1): Books stores a connection for realm 1 holding realm 0's tokens, and
// since a realm is kept by the entity that connected it first, realm 1's real owner
// (organization B) can never connect it (QBO_REALM_IN_USE).
func TestAttackCallbackRealmTampered(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, b *testBundle) {
		q := b.authorize(t, b.begin(t, b.ctx, b.us), b.realm(0))
		q.Set("realmId", b.realm(1))
		got := result(t, b.callback(t, q))
		require.Equal(t, "error", got.Get("qbo"), "a realm the tokens were not granted for is refused: %v", got)
		for _, row := range b.connections(t) {
			require.NotEqual(t, b.realm(1), row.RealmID, "no connection stored for a company never authorized")
		}
		// The company's owner connects it.
		got = b.connect(t, b.ctxB, b.other, b.realm(1))
		require.Equal(t, "connected", got.Get("qbo"), "%v", got)
	})
}
