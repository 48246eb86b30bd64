package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/ent/auditevent"
	"books/internal/dbtest"
)

const verifyLedgerOp = `mutation($e: ID!) { verifyLedger(input: {entityId: $e}) { verification {
	id entityId ok entriesChecked entriesSealed headSeq headHash problem } } }`

type ledgerVerification struct {
	ID             string  `json:"id"`
	EntityID       string  `json:"entityId"`
	OK             bool    `json:"ok"`
	EntriesChecked int     `json:"entriesChecked"`
	EntriesSealed  int     `json:"entriesSealed"`
	HeadSeq        int     `json:"headSeq"`
	HeadHash       string  `json:"headHash"`
	Problem        *string `json:"problem"`
}

func (b *testBundle) verifyLedger(t *testing.T, token, entityID string) ledgerVerification {
	t.Helper()
	var out struct {
		VerifyLedger struct {
			Verification ledgerVerification `json:"verification"`
		} `json:"verifyLedger"`
	}
	b.gqlOK(t, token, verifyLedgerOp, map[string]any{"e": entityID}, &out)
	return out.VerifyLedger.Verification
}

// lastVerifications returns each entity's lastLedgerVerification by entity code, as token
// sees them.
func (b *testBundle) lastVerifications(t *testing.T, token string) map[string]*ledgerVerification {
	t.Helper()
	var out struct {
		LegalEntities struct {
			Edges []struct {
				Node struct {
					Code string              `json:"code"`
					Last *ledgerVerification `json:"lastLedgerVerification"`
				} `json:"node"`
			} `json:"edges"`
		} `json:"legalEntities"`
	}
	b.gqlOK(t, token, `{ legalEntities { edges { node { code lastLedgerVerification { id ok headSeq problem } } } } }`, nil, &out)
	m := map[string]*ledgerVerification{}
	for _, e := range out.LegalEntities.Edges {
		m[e.Node.Code] = e.Node.Last
	}
	return m
}

func TestVerifyLedger(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			us := b.orgA.Entities[0]
			status, body := b.postJE(t, b.orgA.Key, "", jeBody("US", "v-1", "150.00"))
			require.Equal(t, http.StatusCreated, status, body)
			entryID, _ := body["id"].(string)
			require.NotEmpty(t, entryID)

			require.Nil(t, b.lastVerifications(t, b.orgA.Admin)["US"], "no verification yet")

			v := b.verifyLedger(t, b.orgA.FinanceLead, us.ID)
			require.True(t, v.OK, "problem: %v", v.Problem)
			require.Empty(t, deref(v.Problem), "ent keeps an absent problem as an empty string")
			require.Equal(t, us.ID, v.EntityID)
			require.Equal(t, 1, v.EntriesSealed, "the mutation seals what is pending first")
			require.Equal(t, 1, v.EntriesChecked)
			require.Equal(t, 1, v.HeadSeq)
			require.Len(t, v.HeadHash, 64)

			last := b.lastVerifications(t, b.orgA.Viewer)
			require.NotNil(t, last["US"])
			require.Equal(t, v.ID, last["US"].ID)
			require.Nil(t, last["UK"], "each entity has its own")
			for code, lv := range b.lastVerifications(t, b.orgB.Admin) {
				require.Nil(t, lv, "org B's %s sees none of org A's verifications", code)
			}

			n, err := b.client.AuditEvent.Query().Where(auditevent.Action("verifyLedger")).Count(orgCtx(b.orgA))
			require.NoError(t, err)
			require.Equal(t, 1, n, "the mutation is audited")

			// An edit made past the database's guards shows up as a failed verification,
			// recorded and returned, not as an error.
			b.tamperEntry(t, entryID)
			v = b.verifyLedger(t, b.orgA.Admin, us.ID)
			require.False(t, v.OK)
			require.NotNil(t, v.Problem)
			require.Contains(t, *v.Problem, entryID)
			require.Contains(t, *v.Problem, "seq 1")
			last = b.lastVerifications(t, b.orgA.Admin)
			require.Equal(t, v.ID, last["US"].ID)
			require.False(t, last["US"].OK)
		})
	}
}

func TestVerifyLedgerAccess(t *testing.T) {
	t.Parallel()
	b := setup(t, dialect.SQLite)
	tests := []struct {
		name   string
		token  string
		entity string
		code   string // "" when allowed
	}{
		{"admin", b.orgA.Admin, b.orgA.Entities[0].ID, ""},
		{"finance lead", b.orgA.FinanceLead, b.orgA.Entities[1].ID, ""},
		{"accountant", b.orgA.Accountant, b.orgA.Entities[0].ID, "FORBIDDEN"},
		{"viewer", b.orgA.Viewer, b.orgA.Entities[0].ID, "FORBIDDEN"},
		{"anonymous", "", b.orgA.Entities[0].ID, "UNAUTHENTICATED"},
		{"another organization's entity", b.orgB.Admin, b.orgA.Entities[0].ID, "NOT_FOUND"},
		{"unknown entity", b.orgA.Admin, "le_missing", "NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.gql(t, tt.token, verifyLedgerOp, map[string]any{"e": tt.entity})
			if tt.code == "" {
				require.Empty(t, r.Errors)
				var out struct {
					VerifyLedger struct {
						Verification ledgerVerification `json:"verification"`
					} `json:"verifyLedger"`
				}
				require.NoError(t, json.Unmarshal(r.Data, &out))
				require.True(t, out.VerifyLedger.Verification.OK)
				require.Equal(t, tt.entity, out.VerifyLedger.Verification.EntityID)
				return
			}
			require.Equal(t, []string{tt.code}, r.errorCodes())
			biRequireNoData(t, r)
		})
	}
	n, err := b.client.LedgerVerification.Query().Count(orgCtx(b.orgB))
	require.NoError(t, err)
	require.Zero(t, n, "org B's failed attempt on org A's entity recorded nothing")
}

// tamperEntry edits a posted entry's description the way a superuser can, past the guards:
// with triggers off for the session on PostgreSQL, or journal_entries' triggers dropped on
// SQLite.
func (b *testBundle) tamperEntry(t *testing.T, entryID string) {
	t.Helper()
	ctx := context.Background()
	conn, err := b.db.SQL.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	update := `UPDATE journal_entries SET description = 'edited' WHERE id = ?`
	if b.db.Dialect == dialect.Postgres {
		_, err = conn.ExecContext(ctx, `SET session_replication_role = replica`)
		require.NoError(t, err)
		defer conn.ExecContext(ctx, `RESET session_replication_role`) //nolint:errcheck // the connection is closed next
		update = `UPDATE journal_entries SET description = 'edited' WHERE id = $1`
	} else {
		rows, err := conn.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'journal_entries'`)
		require.NoError(t, err)
		var names []string
		for rows.Next() {
			var name string
			require.NoError(t, rows.Scan(&name))
			names = append(names, name)
		}
		require.NoError(t, rows.Close())
		for _, name := range names {
			_, err := conn.ExecContext(ctx, `DROP TRIGGER "`+name+`"`)
			require.NoError(t, err)
		}
	}
	res, err := conn.ExecContext(ctx, update, entryID)
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
