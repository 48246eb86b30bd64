// Package integritytest checks a test organization's ledgers at the end of a test: every
// posted entry sealed, the hash chains intact and the ledger's invariants held.
package integritytest

import (
	"context"
	"testing"

	"books/ent"
	"books/ent/legalentity"
	"books/internal/integrity"
	"books/internal/ledger"
	"books/internal/tenant"
)

// Check seals the pending entries of every legal entity of organization orgID, verifies
// each entity and fails t (without stopping it) with every problem found. It suits
// t.Cleanup: it needs only the client, which must still be open.
func Check(t testing.TB, client *ent.Client, orgID string) {
	t.Helper()
	ctx := tenant.WithOrg(context.Background(), orgID)
	entities, err := client.LegalEntity.Query().Order(legalentity.ByID()).IDs(ctx)
	if err != nil {
		t.Errorf("integrity: list legal entities of %s: %v", orgID, err)
		return
	}
	for _, id := range entities {
		if _, err := ledger.SealPending(ctx, client, id); err != nil {
			t.Errorf("integrity: seal entries of %s: %v", id, err)
			continue
		}
		r, err := integrity.Verify(ctx, client, id)
		if err != nil {
			t.Errorf("integrity: %v", err)
			continue
		}
		if !r.OK {
			for _, p := range r.Problems {
				t.Errorf("integrity: entity %s: %s", id, p)
			}
		}
	}
}
