package server_test

// Independent attack review, API side: every guarantee of the ledger-integrity issue tried
// through GraphQL and the JE API. Every case must be refused with its code and change nothing.

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"books/ent"
	"books/ent/account"
	"books/ent/journalentry"
	"books/internal/apperr"
	"books/internal/dbtest"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
)

func mustAmount(s string) money.Amount { return money.MustParse(s) }

func TestAttackReviewAPI(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setup(t, d)
			org, us, uk := b.orgA, b.orgA.Entities[0], b.orgA.Entities[1]
			ctx := orgCtx(org)
			acct := func(le *ent.LegalEntity, code string) string {
				return b.client.Account.Query().Where(account.EntityID(le.ID), account.Code(code)).OnlyIDX(ctx)
			}
			cus, err := b.client.Customer.Create().SetName("Acme Corp").SetDisplayName("Acme").SetCurrency("USD").Save(ctx)
			require.NoError(t, err)
			cusB, err := b.client.Customer.Create().SetName("Mallory Corp").SetDisplayName("Mallory").SetCurrency("USD").Save(orgCtx(b.orgB))
			require.NoError(t, err)
			// A document's entry (its invoice exists, as the database requires), a manual entry, an
			// entry of UK and one of organization B.
			ten := mustAmount("10.00")
			inv, err := b.client.Invoice.Create().SetEntityID(us.ID).SetCustomerID(cus.ID).SetStatus("approved").
				SetIssueDate(mustDate("2026-11-10")).SetDueDate(mustDate("2026-12-10")).SetCurrency("USD").
				SetSubtotal(ten).SetTotal(ten).SetAmountPaid(money.Amount{}).SetWrittenOff(money.Amount{}).SetBalance(ten).Save(ctx)
			require.NoError(t, err)
			doc, err := ledger.Post(ctx, b.client, ledger.Entry{EntityID: us.ID, Date: mustDate("2026-11-10"), Source: source.Books,
				SourceRef: "invoice:" + inv.ID, Document: &ledger.Document{Type: "invoice", ID: inv.ID},
				Lines: []ledger.Line{{AccountCode: "1200", Debit: mustAmount("10.00"), CustomerID: cus.ID}, {AccountCode: "4000", Credit: mustAmount("10.00")}}})
			require.NoError(t, err)
			manual, err := ledger.Post(ctx, b.client, ledger.Entry{EntityID: us.ID, Date: mustDate("2026-11-10"), Source: source.PSA, SourceRef: "m1",
				Lines: []ledger.Line{{AccountCode: "1000", Debit: mustAmount("10.00")}, {AccountCode: "4000", Credit: mustAmount("10.00")}}})
			require.NoError(t, err)
			ukEntry, err := ledger.Post(ctx, b.client, ledger.Entry{EntityID: uk.ID, Date: mustDate("2026-11-10"), Source: source.PSA, SourceRef: "u1",
				Lines: []ledger.Line{{AccountCode: "1000", Debit: mustAmount("10.00")}, {AccountCode: "4000", Credit: mustAmount("10.00")}}})
			require.NoError(t, err)
			bEntry, err := ledger.Post(orgCtx(b.orgB), b.client, ledger.Entry{EntityID: b.orgB.Entities[0].ID, Date: mustDate("2026-11-10"),
				Source: source.PSA, SourceRef: "b1",
				Lines: []ledger.Line{{AccountCode: "1000", Debit: mustAmount("10.00")}, {AccountCode: "4000", Credit: mustAmount("10.00")}}})
			require.NoError(t, err)
			before := b.entryCount(t, org)

			post := `mutation($in: PostJournalEntryInput!) { postJournalEntry(input: $in) { entry { id } } }`
			line := func(code, debit, credit string, extra map[string]any) map[string]any {
				l := map[string]any{"accountCode": code}
				if debit != "" {
					l["debit"] = debit
				}
				if credit != "" {
					l["credit"] = credit
				}
				for k, v := range extra {
					l[k] = v
				}
				return l
			}
			entry := func(edit func(in map[string]any)) map[string]any {
				in := map[string]any{"entityId": us.ID, "date": "2026-11-12", "lines": []map[string]any{
					line("1000", "5.00", "", nil), line("4000", "", "5.00", nil)}}
				if edit != nil {
					edit(in)
				}
				return map[string]any{"in": in}
			}
			gqlCases := []struct {
				name, query string
				vars        map[string]any
				code        string
			}{
				{"document reference in books", post, entry(func(in map[string]any) { in["sourceRef"] = "invoice:inv_doc2" }), apperr.DocumentOwned},
				{"reversal reference in psa", post, entry(func(in map[string]any) {
					in["sourceSystem"] = "PSA"
					in["sourceRef"] = "reversal:" + manual.Entry.ID
				}), apperr.DocumentOwned},
				{"AR with its customer", post, entry(func(in map[string]any) {
					in["lines"] = []map[string]any{line("1200", "5.00", "", map[string]any{"customerId": cus.ID}), line("4000", "", "5.00", nil)}
				}), apperr.ControlAccount},
				{"Accounts Payable", post, entry(func(in map[string]any) {
					in["lines"] = []map[string]any{line("1000", "5.00", "", nil), line("2000", "", "5.00", nil)}
				}), apperr.ControlAccount},
				{"half a cent", post, entry(func(in map[string]any) {
					in["lines"] = []map[string]any{line("1000", "5.005", "", nil), line("4000", "", "5.005", nil)}
				}), apperr.InvalidAmount},
				{"EUR on USD", post, entry(func(in map[string]any) { in["currency"] = "EUR" }), apperr.CurrencyMismatch},
				{"ZZZZ", post, entry(func(in map[string]any) { in["currency"] = "ZZZZ" }), apperr.Validation},
				{"1899", post, entry(func(in map[string]any) { in["date"] = "1899-12-31" }), apperr.Validation},
				{"2200", post, entry(func(in map[string]any) { in["date"] = "2200-01-01" }), apperr.Validation},
				{"UK account on US", post, entry(func(in map[string]any) {
					in["lines"] = []map[string]any{{"accountId": acct(uk, "1000"), "debit": "5.00"}, line("4000", "", "5.00", nil)}
				}), apperr.UnknownAccount},
				{"customer of organization B", post, entry(func(in map[string]any) {
					in["lines"] = []map[string]any{line("1000", "5.00", "", map[string]any{"customerId": cusB.ID}), line("4000", "", "5.00", nil)}
				}), apperr.UnknownCustomer},
				{"reverse a document's entry", `mutation($id: ID!) { reverseJournalEntry(input: {journalEntryId: $id}) { reversal { id } } }`,
					map[string]any{"id": doc.Entry.ID}, apperr.DocumentOwned},
				{"reverse organization B's entry", `mutation($id: ID!) { reverseJournalEntry(input: {journalEntryId: $id}) { reversal { id } } }`,
					map[string]any{"id": bEntry.Entry.ID}, apperr.NotFound},
				{"reverse before the original", `mutation($id: ID!) { reverseJournalEntry(input: {journalEntryId: $id, date: "2026-11-09"}) { reversal { id } } }`,
					map[string]any{"id": manual.Entry.ID}, apperr.Validation},
				{"reclassify an account in use", `mutation($id: ID!) { updateAccount(input: {accountId: $id, patch: {type: LIABILITY, subtype: CUSTOMER_CREDIT}}) { account { id } } }`,
					map[string]any{"id": acct(us, "1000")}, apperr.AccountInUse},
				{"map to organization B's account", `mutation($e: ID!, $a: ID!) { createCOAMapping(input: {entityId: $e, sourceSystem: PSA, sourceCode: "x", accountId: $a}) { coaMapping { id } } }`,
					map[string]any{"e": us.ID, "a": b.client.Account.Query().Where(account.EntityID(b.orgB.Entities[0].ID), account.Code("1000")).OnlyIDX(orgCtx(b.orgB))}, apperr.NotFound},
			}
			for _, c := range gqlCases {
				t.Run("graphql "+c.name, func(t *testing.T) {
					r := b.gql(t, org.Accountant, c.query, c.vars)
					if c.name == "reclassify an account in use" || c.name == "map to organization B's account" {
						r = b.gql(t, org.Admin, c.query, c.vars)
					}
					require.NotEmpty(t, r.Errors, "accepted: %s", r.Data)
					require.Contains(t, r.errorCodes(), c.code, "%+v", r.Errors)
				})
			}

			// updateLegalEntity must not move entries or accounts: its patch has no edge fields
			// (the generated add/remove/clear lists are kept out of it), so such a patch is not
			// valid GraphQL at all.
			for _, in := range []map[string]any{
				{"addJournalEntryIds": []string{ukEntry.Entry.ID}},
				{"addAccountIds": []string{acct(uk, "1000")}},
				{"removeJournalEntryIds": []string{manual.Entry.ID}},
				{"clearJournalEntries": true},
				{"addPeriodIds": []string{}},
			} {
				t.Run(fmt.Sprintf("graphql updateLegalEntity %v", in), func(t *testing.T) {
					r := b.gql(t, org.Admin, `mutation($id: ID!, $in: LegalEntityPatch!) { updateLegalEntity(input: {legalEntityId: $id, patch: $in}) { legalEntity { id } } }`,
						map[string]any{"id": us.ID, "in": in})
					require.Equal(t, []string{"GRAPHQL_VALIDATION_FAILED"}, r.errorCodes(), "%+v", r.Errors)
					got := b.client.JournalEntry.GetX(ctx, ukEntry.Entry.ID)
					require.Equal(t, uk.ID, got.EntityID)
					got = b.client.JournalEntry.GetX(ctx, manual.Entry.ID)
					require.Equal(t, us.ID, got.EntityID)
					a := b.client.Account.GetX(ctx, acct(uk, "1000"))
					require.Equal(t, uk.ID, a.EntityID)
				})
			}

			jeCases := []struct {
				name string
				edit func(body map[string]any)
				code string
			}{
				{"document reference in books", func(body map[string]any) { body["source_system"] = "books"; body["source_ref"] = "invoice:inv_doc" }, apperr.DocumentOwned},
				{"reversal reference", func(body map[string]any) { body["source_ref"] = "reversal:" + manual.Entry.ID }, apperr.DocumentOwned},
				{"AR", func(body map[string]any) {
					body["lines"] = []map[string]any{{"account_code": "1200", "debit": "1.00", "customer_id": cus.ID}, {"account_code": "4000", "credit": "1.00"}}
				}, apperr.ControlAccount},
				{"AR through a source code", func(body map[string]any) {
					body["lines"] = []map[string]any{{"source_code": "ar", "debit": "1.00"}, {"account_code": "4000", "credit": "1.00"}}
				}, apperr.ControlAccount},
				{"Customer Credits through a source code", func(body map[string]any) {
					body["lines"] = []map[string]any{{"account_code": "1000", "debit": "1.00"}, {"source_code": "customer_credit", "credit": "1.00"}}
				}, apperr.ControlAccount},
				{"a hundredth of a cent", func(body map[string]any) {
					body["lines"] = []map[string]any{{"account_code": "1000", "debit": "1.0001"}, {"account_code": "4000", "credit": "1.0001"}}
				}, apperr.InvalidAmount},
				{"EUR", func(body map[string]any) { body["currency"] = "EUR" }, apperr.CurrencyMismatch},
				{"customer of organization B", func(body map[string]any) {
					body["lines"] = []map[string]any{{"account_code": "1000", "debit": "1.00", "customer_id": cusB.ID}, {"account_code": "4000", "credit": "1.00"}}
				}, apperr.UnknownCustomer},
				{"entity of organization B", func(body map[string]any) { body["entity"] = b.orgB.Entities[0].ID }, apperr.UnknownEntity},
			}
			for i, c := range jeCases {
				t.Run("je api "+c.name, func(t *testing.T) {
					body := jeBody("US", fmt.Sprintf("atk-%d", i), "1.00")
					c.edit(body)
					status, resp := b.postJE(t, org.Key, "", body)
					require.GreaterOrEqual(t, status, 400, "accepted: %v", resp)
					require.Equal(t, c.code, errCode(resp), "%v", resp)
				})
			}
			require.Equal(t, before, b.entryCount(t, org), "a refused request wrote an entry")
			got := b.client.JournalEntry.GetX(ctx, doc.Entry.ID)
			require.Equal(t, journalentry.StatusPosted, got.Status)
			b.requireLedgerBalanced(t, org)
		})
	}
}
