package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"books/ent/refund"
	"books/ent/stripeevent"
	"books/internal/dbtest"
	"books/server"
)

// TestStripeAccounts: only an admin adds, changes and routes Stripe accounts; what the API
// answers about an account is its hint, its count of signing secrets and its webhook path,
// never a key or a secret, whether the call succeeds or is refused.
func TestStripeAccounts(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			s := stSetup(t, d)
			a, f := s.orgA, s.f
			var sent []string // every key and signing secret sent
			keep := func(in map[string]any) map[string]any {
				if k, ok := in["secretKey"].(string); ok {
					sent = append(sent, k)
				}
				if ws, ok := in["webhookSecrets"].([]string); ok {
					sent = append(sent, ws...)
				}
				return in
			}
			// requireClean: raw carries none of the secrets sent so far.
			requireClean := func(t *testing.T, raw []byte) {
				t.Helper()
				for _, sec := range sent {
					require.NotContains(t, string(raw), sec)
				}
			}
			accounts := func(t *testing.T, token string) []stAccount {
				t.Helper()
				var out struct{ StripeAccounts gqConn[stAccount] }
				requireClean(t, s.stOK(t, token, stAccountsQuery, nil, &out))
				require.Len(t, out.StripeAccounts.Edges, out.StripeAccounts.TotalCount)
				return out.StripeAccounts.nodes()
			}

			t.Run("only an admin manages accounts and profiles", func(t *testing.T) {
				portal := s.stPortal(t, a, f.acme)
				ops := []struct {
					name, query string
					vars        map[string]any
				}{
					{"createStripeAccount", stCreateAccount, map[string]any{"in": keep(stAccountInput("Nope"))}},
					{"updateStripeAccount", stUpdateAccount, map[string]any{"in": map[string]any{"stripeAccountId": "sa_nope",
						"patch": keep(map[string]any{"secretKey": stSecret("sk_test_")})}}},
					{"setBillingProfile", stSetProfile, map[string]any{"in": map[string]any{"entityId": f.us, "stripeAccountId": "sa_nope"}}},
					{"removeBillingProfile", stRemoveProfile, map[string]any{"in": map[string]any{"entityId": f.us}}},
				}
				for _, op := range ops {
					for _, who := range []struct{ name, token string }{
						{"accountant", a.Accountant}, {"finance lead", a.FinanceLead}, {"viewer", a.Viewer}, {"portal", portal},
					} {
						t.Run(op.name+" as "+who.name, func(t *testing.T) {
							r, raw := s.stDo(t, who.token, op.query, op.vars)
							stRequireRefused(t, r, "FORBIDDEN", "")
							requireClean(t, raw)
						})
					}
				}
				require.Empty(t, accounts(t, a.Admin), "nothing was created")
			})

			t.Run("validation errors name the field and echo no key", func(t *testing.T) {
				tests := []struct {
					name  string
					edit  func(in map[string]any)
					field string
				}{
					{"no name", func(in map[string]any) { in["name"] = "   " }, "name"},
					{"a name too long", func(in map[string]any) { in["name"] = strings.Repeat("n", 201) }, "name"},
					{"not a Stripe key", func(in map[string]any) { in["secretKey"] = stSecret("xk_test_") }, "secretKey"},
					{"a publishable key as the secret key", func(in map[string]any) { in["secretKey"] = stSecret("pk_test_") }, "secretKey"},
					{"a secret key too short", func(in map[string]any) { in["secretKey"] = "sk_test_" + stSecret("")[:5] }, "secretKey"},
					{"a secret key with a space", func(in map[string]any) { in["secretKey"] = stSecret("sk_test_") + " " + stSecret("") }, "secretKey"},
					{"a live secret key with a test publishable key", func(in map[string]any) { in["secretKey"] = stSecret("sk_live_") }, "publishableKey"},
					{"a publishable key that is not one", func(in map[string]any) { in["publishableKey"] = "pub_" + stSecret("") }, "publishableKey"},
					{"a signing secret that is not one", func(in map[string]any) {
						in["webhookSecrets"] = []string{stSecret("whsec_"), stSecret("wh_")}
					}, "webhookSecrets[1]"},
					{"six signing secrets", func(in map[string]any) {
						in["webhookSecrets"] = []string{stSecret("whsec_"), stSecret("whsec_"), stSecret("whsec_"),
							stSecret("whsec_"), stSecret("whsec_"), stSecret("whsec_")}
					}, "webhookSecrets"},
				}
				for _, tt := range tests {
					t.Run(tt.name, func(t *testing.T) {
						in := stAccountInput("Stripe US")
						tt.edit(in)
						keep(in)
						r, raw := s.stDo(t, a.Admin, stCreateAccount, map[string]any{"in": in})
						stRequireRefused(t, r, "VALIDATION", tt.field)
						requireClean(t, raw)
					})
				}
				require.Empty(t, accounts(t, a.Admin), "nothing was created")
			})

			var us, uk stAccount
			t.Run("create", func(t *testing.T) {
				us = s.stAddAccount(t, a, "Stripe US", false)
				require.True(t, us.IsDefault, "the first account is the default")
				uk = s.stAddAccount(t, a, "Stripe UK", false)
				require.False(t, uk.IsDefault)
				sent = append(sent, us.secretKey, uk.secretKey)
				sent = append(sent, us.webhookSecrets...)
				sent = append(sent, uk.webhookSecrets...)

				// Without signing secrets: webhooks to it are refused until one is set.
				in := keep(stAccountInput("Stripe Spare"))
				delete(in, "webhookSecrets")
				var out struct {
					R struct{ StripeAccount stAccount }
				}
				requireClean(t, s.stOK(t, a.Admin, stCreateAccount, map[string]any{"in": in}, &out))
				require.Zero(t, out.R.StripeAccount.WebhookSecretCount)

				for _, name := range []string{"Stripe US", "  Stripe US  "} {
					r, raw := s.stDo(t, a.Admin, stCreateAccount, map[string]any{"in": keep(stAccountInput(name))})
					stRequireRefused(t, r, "DUPLICATE_NAME", "name")
					requireClean(t, raw)
				}
			})

			t.Run("update", func(t *testing.T) {
				update := func(t *testing.T, id string, patch map[string]any) (gqlResponse, []byte) {
					t.Helper()
					keep(patch)
					return s.stDo(t, a.Admin, stUpdateAccount, map[string]any{"in": map[string]any{"stripeAccountId": id, "patch": patch}})
				}
				updated := func(t *testing.T, id string, patch map[string]any) stAccount {
					t.Helper()
					r, raw := update(t, id, patch)
					require.Empty(t, r.Errors, "%s", raw)
					requireClean(t, raw)
					var out struct {
						R struct{ StripeAccount stAccount }
					}
					require.NoError(t, json.Unmarshal(r.Data, &out))
					require.Equal(t, id, out.R.StripeAccount.ID)
					return out.R.StripeAccount
				}
				// A rotation: the old secret and the new together.
				next := stSecret("whsec_")
				got := updated(t, us.ID, map[string]any{"webhookSecrets": []string{us.webhookSecrets[0], next}})
				require.Equal(t, 2, got.WebhookSecretCount)
				got = updated(t, us.ID, map[string]any{"webhookSecrets": []string{next}})
				require.Equal(t, 1, got.WebhookSecretCount)
				// A new secret key: the hint follows it.
				key := stSecret("sk_test_")
				got = updated(t, uk.ID, map[string]any{"secretKey": key})
				require.Equal(t, "sk_test_…"+key[len(key)-4:], got.SecretKeyHint)
				require.Equal(t, "Stripe UK", got.Name, "what the patch leaves out stays")
				got = updated(t, uk.ID, map[string]any{"name": "Stripe Europe", "isDefault": true})
				require.Equal(t, "Stripe Europe", got.Name)
				require.True(t, got.IsDefault)

				for _, tt := range []struct {
					name, id    string
					patch       map[string]any
					code, field string
				}{
					{"unknown account", "sa_nope", map[string]any{"name": "x"}, "NOT_FOUND", ""},
					{"another account's name", uk.ID, map[string]any{"name": "Stripe US"}, "DUPLICATE_NAME", "name"},
					{"the default stops being it", uk.ID, map[string]any{"isDefault": false}, "VALIDATION", "isDefault"},
					{"a bad secret key", us.ID, map[string]any{"secretKey": stSecret("sk_nope_")}, "VALIDATION", "secretKey"},
					{"a live key to a test account", us.ID, map[string]any{"secretKey": stSecret("sk_live_")}, "VALIDATION", "publishableKey"},
					{"a bad signing secret", us.ID, map[string]any{"webhookSecrets": []string{stSecret("sk_test_")}}, "VALIDATION", "webhookSecrets[0]"},
				} {
					t.Run(tt.name, func(t *testing.T) {
						r, raw := update(t, tt.id, tt.patch)
						stRequireRefused(t, r, tt.code, tt.field)
						requireClean(t, raw)
					})
				}

				// Staff of every role read the accounts: names, hints, counts and paths.
				for _, token := range []string{a.Admin, a.Viewer} {
					got := accounts(t, token)
					require.Equal(t, []string{"Stripe Europe", "Stripe Spare", "Stripe US"}, idsOf(got, func(x stAccount) string { return x.Name }))
					require.Equal(t, []bool{true, false, false}, []bool{got[0].IsDefault, got[1].IsDefault, got[2].IsDefault})
					for _, x := range got {
						require.Equal(t, "/webhooks/stripe/"+x.ID, x.WebhookPath)
						require.Regexp(t, `^sk_test_…[A-Z2-7]{4}$`, x.SecretKeyHint)
					}
					require.Equal(t, []int{1, 0, 1}, []int{got[0].WebhookSecretCount, got[1].WebhookSecretCount, got[2].WebhookSecretCount})
				}
				// The schema has no field that could carry a key.
				for _, field := range []string{"secretKey", "secretKeySealed", "webhookSecrets", "webhookSecretsSealed"} {
					r, raw := s.stDo(t, a.Admin, `{ stripeAccounts { edges { node { id `+field+` } } } }`, nil)
					require.NotEmpty(t, r.Errors, field)
					requireClean(t, raw)
				}
				// Another organization sees none of them.
				require.Empty(t, accounts(t, s.orgB.Admin))
			})

			t.Run("billing profiles", func(t *testing.T) {
				type profile struct {
					ID, EntityID, StripeAccountID string
					IsDefault                     bool
					StripeAccount                 struct{ ID, Name string }
					Entity                        struct{ Code string }
				}
				set := func(t *testing.T, token string, in map[string]any) (gqlResponse, profile) {
					t.Helper()
					r, raw := s.stDo(t, token, stSetProfile, map[string]any{"in": in})
					requireClean(t, raw)
					var out struct {
						R struct{ BillingProfile profile }
					}
					if len(r.Errors) == 0 {
						require.NoError(t, json.Unmarshal(r.Data, &out))
					}
					return r, out.R.BillingProfile
				}
				list := func(t *testing.T) []profile {
					t.Helper()
					var out struct{ BillingProfiles gqConn[profile] }
					requireClean(t, s.stOK(t, a.Viewer, `{ billingProfiles { totalCount edges { node {
						id entityId stripeAccountId isDefault stripeAccount { id name } entity { code } } } } }`, nil, &out))
					return out.BillingProfiles.nodes()
				}
				r, ukProfile := set(t, a.Admin, map[string]any{"entityId": f.uk, "stripeAccountId": uk.ID})
				require.Empty(t, r.Errors)
				require.Equal(t, profile{ID: ukProfile.ID, EntityID: f.uk, StripeAccountID: uk.ID,
					StripeAccount: struct{ ID, Name string }{uk.ID, "Stripe Europe"}, Entity: struct{ Code string }{"UK"}}, ukProfile)
				r, usProfile := set(t, a.Admin, map[string]any{"entityId": f.us, "stripeAccountId": us.ID, "isDefault": true})
				require.Empty(t, r.Errors)
				require.True(t, usProfile.IsDefault)
				// Changing the entity's account changes its one profile.
				r, again := set(t, a.Admin, map[string]any{"entityId": f.uk, "stripeAccountId": us.ID})
				require.Empty(t, r.Errors)
				require.Equal(t, ukProfile.ID, again.ID)
				require.Equal(t, us.ID, again.StripeAccountID)
				require.Len(t, list(t), 2)

				for _, tt := range []struct {
					name        string
					in          map[string]any
					code, field string
				}{
					{"unknown entity", map[string]any{"entityId": "le_nope", "stripeAccountId": us.ID}, "UNKNOWN_ENTITY", "entityId"},
					{"another organization's entity", map[string]any{"entityId": s.orgB.Entities[0].ID, "stripeAccountId": us.ID}, "UNKNOWN_ENTITY", "entityId"},
					{"unknown account", map[string]any{"entityId": f.us, "stripeAccountId": "sa_nope"}, "NOT_FOUND", "stripeAccountId"},
				} {
					t.Run(tt.name, func(t *testing.T) {
						r, _ := set(t, a.Admin, tt.in)
						stRequireRefused(t, r, tt.code, tt.field)
					})
				}

				remove := func(t *testing.T, entityID string) *string {
					t.Helper()
					var out struct {
						R struct{ DeletedBillingProfileID *string }
					}
					s.stOK(t, a.Admin, stRemoveProfile, map[string]any{"in": map[string]any{"entityId": entityID}}, &out)
					return out.R.DeletedBillingProfileID
				}
				got := remove(t, f.uk)
				require.NotNil(t, got)
				require.Equal(t, ukProfile.ID, *got)
				require.Nil(t, remove(t, f.uk), "nothing left to remove")
				left := list(t)
				require.Len(t, left, 1)
				require.Equal(t, usProfile.ID, left[0].ID)
			})
		})
	}
}

const stSetProfile = `mutation($in: SetBillingProfileInput!) { r: setBillingProfile(input: $in) {
	billingProfile { id entityId stripeAccountId isDefault stripeAccount { id name } entity { code } } } }`

const stRemoveProfile = `mutation($in: RemoveBillingProfileInput!) { r: removeBillingProfile(input: $in) { deletedBillingProfileId } }`

// stAttempt is a PaymentAttempt as a portal client reads it.
type stAttempt struct {
	ID, InvoiceID, Status, Amount, Currency, Method string
	PaymentIntentID, PaymentID                      *string
}

const stAttemptsQuery = `{ paymentAttempts { totalCount edges { node { id invoiceId status amount currency method
	paymentIntentId paymentId } } } }`

// stPortalPayment is a Payment as a portal client reads it.
type stPortalPayment struct {
	ID, Amount, Currency, Applied, Refunded, CustomerID string
	Applications                                        []struct{ InvoiceID, Amount string }
}

const stPaymentsQuery = `{ payments { totalCount edges { node { id amount currency applied refunded customerId
	applications { invoiceId amount } } } } }`

// TestStripePortalPayment: a portal client pays its own approved invoice through Stripe:
// createInvoicePayment gives Stripe.js what it needs, again the same PaymentIntent, and
// refuses what cannot be paid; the client sees its own attempts and payments and nothing of
// the Stripe set-up; once Stripe says the money moved (the fake's webhook, the job), the
// invoice is paid.
func TestStripePortalPayment(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			s := stSetup(t, d)
			a, f := s.orgA, s.f
			acct := s.stAddAccount(t, a, "Stripe US", true)

			approved := s.biApproved(t, f, f.biInput(f.acme, "2026-11-01", "2026-12-01", biLine(f.consult, "3", "")))
			paid := s.biApproved(t, f, f.biInput(f.acme, "2026-11-02", "2026-12-02", biLine(f.consult, "1", "")))
			s.biPay(t, a.Accountant, f.biPaymentInput(f.acme, "150.00", biApp(paid.ID, "150.00")))
			void := s.biApproved(t, f, f.biInput(f.acme, "2026-11-03", "2026-12-03", biLine(f.consult, "1", "")))
			s.biDo(t, a.FinanceLead, "voidInvoice", void.ID)
			draft := s.biCreate(t, a.Accountant, f.biInput(f.acme, "2026-11-04", "2026-12-04", biLine(f.consult, "1", "")))
			theirs := s.biApproved(t, f, f.biInput(f.globex, "2026-11-05", "2026-12-05", biLine(f.consult, "2", "")))
			gbp := s.biApproved(t, f, map[string]any{"entityId": f.uk, "customerId": f.brit, "issueDate": "2026-11-06",
				"dueDate": "2026-12-06", "lines": []map[string]any{biLine(f.ukItem, "1", "")}})
			fb := s.biFixture(t, s.orgB)
			s.stAddAccount(t, s.orgB, "Stripe B", true)
			otherOrg := s.biApproved(t, fb, fb.biInput(fb.acme, "2026-11-01", "2026-12-01", biLine(fb.consult, "1", "")))

			acme, globex, brit := s.stPortal(t, a, f.acme), s.stPortal(t, a, f.globex), s.stPortal(t, a, f.brit)

			t.Run("refused", func(t *testing.T) {
				for _, tt := range []struct {
					name, token, invoice, method string
					code, field                  string
				}{
					{"its paid invoice", acme, paid.ID, "CARD", "INVALID_TRANSITION", "invoiceId"},
					{"its void invoice", acme, void.ID, "CARD", "INVALID_TRANSITION", "invoiceId"},
					{"its draft, which it cannot see", acme, draft.ID, "CARD", "NOT_FOUND", "invoiceId"},
					{"another customer's invoice", acme, theirs.ID, "CARD", "NOT_FOUND", "invoiceId"},
					{"another organization's invoice", acme, otherOrg.ID, "CARD", "NOT_FOUND", "invoiceId"},
					{"no such invoice", acme, "inv_nope", "CARD", "NOT_FOUND", "invoiceId"},
					{"a bank debit of a GBP invoice", brit, gbp.ID, "ACH", "VALIDATION", "method"},
					{"staff: a draft", a.Accountant, draft.ID, "CARD", "INVALID_TRANSITION", "invoiceId"},
					{"staff: a viewer", a.Viewer, approved.ID, "CARD", "FORBIDDEN", ""},
				} {
					t.Run(tt.name, func(t *testing.T) {
						before := s.stAttemptCount(t, a)
						r, _ := s.stDo(t, tt.token, stPay, stPayVars(tt.invoice, tt.method))
						stRequireRefused(t, r, tt.code, tt.field)
						require.Equal(t, before, s.stAttemptCount(t, a), "no attempt was made")
					})
				}
			})

			t.Run("the only field of its operation", func(t *testing.T) {
				before := s.stAttemptCount(t, a)
				for _, q := range []string{
					`mutation($in: CreateInvoicePaymentInput!, $id: ID!) { p: createInvoicePayment(input: $in) { clientSecret }
						v: markInvoiceViewed(input: {invoiceId: $id}) { invoice { id } } }`,
					`mutation($in: CreateInvoicePaymentInput!, $id: ID!) { p: createInvoicePayment(input: $in) { clientSecret }
						q: createInvoicePayment(input: {invoiceId: $id, method: ACH}) { clientSecret } }`,
				} {
					vars := stPayVars(approved.ID, "CARD")
					vars["id"] = approved.ID
					r, raw := s.stDo(t, acme, q, vars)
					stRequireRefused(t, r, "VALIDATION", "")
					require.Contains(t, string(raw), "only field of its operation")
					require.NotContains(t, string(raw), "_secret_")
				}
				require.Equal(t, before, s.stAttemptCount(t, a), "no attempt was made")
			})

			var first stPayment
			var pi string
			t.Run("pays its approved invoice", func(t *testing.T) {
				first = s.stCreatePayment(t, acme, approved.ID, "CARD")
				require.Equal(t, "REQUIRES_PAYMENT", first.PaymentAttempt.Status)
				require.Equal(t, "450.00", first.PaymentAttempt.Amount)
				require.Equal(t, acct.PublishableKey, first.PublishableKey)
				pi = s.stPaymentIntent(t, a, first.PaymentAttempt.ID)
				require.True(t, strings.HasPrefix(first.ClientSecret, pi+"_secret_"), "the PaymentIntent's client secret")

				again := s.stCreatePayment(t, acme, approved.ID, "CARD")
				require.Equal(t, first, again, "the same attempt and PaymentIntent")
				require.Equal(t, pi, s.stPaymentIntent(t, a, first.PaymentAttempt.ID))
				require.Equal(t, 1, s.stAttemptCount(t, a))

				// Globex pays its own too, which Acme never sees.
				s.stCreatePayment(t, globex, theirs.ID, "ACH")
			})

			t.Run("sees its own attempts and nothing of the set-up", func(t *testing.T) {
				var out struct{ PaymentAttempts gqConn[stAttempt] }
				s.stOK(t, acme, stAttemptsQuery, nil, &out)
				require.Equal(t, []stAttempt{{ID: first.PaymentAttempt.ID, InvoiceID: approved.ID, Status: "REQUIRES_PAYMENT",
					Amount: "450.00", Currency: "USD", Method: "CARD", PaymentIntentID: &pi}}, out.PaymentAttempts.nodes(),
					"its own attempt, with its PaymentIntent")
				s.stOK(t, globex, stAttemptsQuery, nil, &out)
				require.Len(t, out.PaymentAttempts.nodes(), 1)
				require.Equal(t, theirs.ID, out.PaymentAttempts.nodes()[0].InvoiceID)

				for _, q := range []string{
					`{ stripeAccounts { totalCount } }`,
					`{ billingProfiles { totalCount } }`,
					`{ paymentAttempts { edges { node { stripeAccountId } } } }`,
					`query($id: ID!) { paymentAttempts(where: {stripeAccountId: $id}) { totalCount } }`,
				} {
					r, raw := s.stDo(t, acme, q, map[string]any{"id": acct.ID})
					gqRequireCode(t, r, "FORBIDDEN")
					require.NotContains(t, string(raw), acct.ID)
					require.NotContains(t, string(raw), pi)
				}
			})

			t.Run("Stripe takes the money", func(t *testing.T) {
				s.stConfirm(t, pi, "pm_card_visa")
				var inv stPortalInvoice
				stEventually(t, "the invoice is paid", func() bool {
					inv = s.stPortalInvoice(t, acme, approved.ID)
					return inv.Status == "PAID"
				})
				require.Equal(t, stPortalInvoice{ID: approved.ID, Status: "PAID", Total: "450.00", AmountPaid: "450.00", Balance: "0.00"}, inv)

				var out struct{ PaymentAttempts gqConn[stAttempt] }
				s.stOK(t, acme, stAttemptsQuery, nil, &out)
				att := out.PaymentAttempts.nodes()[0]
				require.Equal(t, "SUCCEEDED", att.Status)
				require.NotNil(t, att.PaymentID)

				var pays struct{ Payments gqConn[stPortalPayment] }
				s.stOK(t, acme, stPaymentsQuery, nil, &pays)
				var stripePay *stPortalPayment
				for _, p := range pays.Payments.nodes() {
					require.Equal(t, f.acme, p.CustomerID, "only its own payments")
					if p.ID == *att.PaymentID {
						stripePay = &p
					}
				}
				require.NotNil(t, stripePay, "the Stripe payment is in its payment history")
				require.Equal(t, "450.00", stripePay.Amount)
				require.Equal(t, "450.00", stripePay.Applied)
				require.Equal(t, []struct{ InvoiceID, Amount string }{{approved.ID, "450.00"}}, stripePay.Applications)

				s.stOK(t, globex, stPaymentsQuery, nil, &pays)
				for _, p := range pays.Payments.nodes() {
					require.NotEqual(t, *att.PaymentID, p.ID, "another customer's payment")
				}

				// Paid now: nothing left to pay.
				r, _ := s.stDo(t, acme, stPay, stPayVars(approved.ID, "CARD"))
				stRequireRefused(t, r, "INVALID_TRANSITION", "invoiceId")
			})
		})
	}
}

const stRefundQ = `mutation($in: CashReturnInput!) { r: refundPayment(input: $in) {
	refund { id status amount externalRef } payment { id refunded } invoices { id status balance } } }`

// stRefund is a Refund as staff read it.
type stRefund struct {
	ID, Status, Amount string
	ExternalRef        *string
	JournalEntryID     *string
}

// TestStripeRefund: refunding a Stripe payment asks Stripe and answers PENDING, posting
// nothing; once Stripe's charge.refunded arrives (the fake's webhook, the job), the refund
// is SUCCEEDED and posted, and the invoice is open again for what went back.
func TestStripeRefund(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			s := stSetup(t, d)
			a, f := s.orgA, s.f
			s.stAddAccount(t, a, "Stripe US", true)
			inv := s.biApproved(t, f, f.biInput(f.acme, "2026-11-01", "2026-12-01", biLine(f.consult, "3", "")))
			acme := s.stPortal(t, a, f.acme)
			_, paymentID := s.stPortalPay(t, a, acme, inv.ID)
			vars := func(amount string, extra map[string]any) map[string]any {
				in := map[string]any{"paymentId": paymentID, "amount": amount, "reason": "the customer asked"}
				for k, v := range extra {
					in[k] = v
				}
				return map[string]any{"in": in}
			}

			for _, tt := range []struct {
				name, token string
				vars        map[string]any
				code, field string
			}{
				{"an accountant", a.Accountant, vars("100.00", nil), "FORBIDDEN", ""},
				{"a portal client", acme, vars("100.00", nil), "FORBIDDEN", ""},
				{"a reference of our own", a.FinanceLead, vars("100.00", map[string]any{"externalRef": "re_mine"}), "VALIDATION", "externalRef"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					r, _ := s.stDo(t, tt.token, stRefundQ, tt.vars)
					stRequireRefused(t, r, tt.code, tt.field)
				})
			}
			n, err := s.client.Refund.Query().Count(orgCtx(a))
			require.NoError(t, err)
			require.Zero(t, n, "nothing was refunded")

			var out struct {
				R struct {
					Refund   stRefund
					Payment  struct{ ID, Refunded string }
					Invoices []struct{ ID, Status, Balance string }
				}
			}
			s.stOK(t, a.FinanceLead, stRefundQ, vars("100.00", nil), &out)
			require.Equal(t, "PENDING", out.R.Refund.Status, "pending until Stripe confirms it")
			require.Equal(t, "100.00", out.R.Refund.Amount)
			require.Equal(t, paymentID, out.R.Payment.ID)
			require.Equal(t, []struct{ ID, Status, Balance string }{{inv.ID, "PAID", "0.00"}}, out.R.Invoices,
				"nothing posts before Stripe confirms")

			refundOf := func(t *testing.T) stRefund {
				t.Helper()
				var got struct{ Node *stRefund }
				s.stOK(t, a.FinanceLead, `query($id: ID!) { node(id: $id) { ... on Refund { id status amount externalRef journalEntryId } } }`,
					map[string]any{"id": out.R.Refund.ID}, &got)
				require.NotNil(t, got.Node)
				return *got.Node
			}
			s.stFlush(t)
			var rf stRefund
			stEventually(t, "the refund is confirmed", func() bool {
				rf = refundOf(t)
				return rf.Status == "SUCCEEDED"
			})
			require.NotNil(t, rf.ExternalRef)
			require.True(t, strings.HasPrefix(*rf.ExternalRef, "re_"), "Stripe's refund id: %s", *rf.ExternalRef)
			require.NotNil(t, rf.JournalEntryID, "posted once confirmed")
			row, err := s.client.Refund.Get(orgCtx(a), rf.ID)
			require.NoError(t, err)
			require.Equal(t, refund.StatusSucceeded, row.Status)

			got := s.biInvoice(t, a.Viewer, inv.ID)
			require.Equal(t, "PARTIALLY_PAID", got.Status, "open again for what went back")
			require.Equal(t, "100.00", got.Balance)
			require.Equal(t, "100.00", s.biPayment(t, a.Viewer, paymentID).Refunded)

			// The portal client sees the refund on its payment.
			var pays struct{ Payments gqConn[stPortalPayment] }
			s.stOK(t, acme, stPaymentsQuery, nil, &pays)
			var refunded []string
			for _, p := range pays.Payments.nodes() {
				if p.ID == paymentID {
					refunded = append(refunded, p.Refunded)
				}
			}
			require.Equal(t, []string{"100.00"}, refunded)
		})
	}
}

// TestStripeWebhook delivers good, repeated and bad bodies to POST
// /webhooks/stripe/{accountId} in turn: a refused delivery stores nothing, an accepted one
// stores the event once and its job applies it, and books_stripe_events_total counts each.
func TestStripeWebhook(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			s := stSetup(t, d)
			acct := s.stAddAccount(t, s.orgA, "Stripe US", true)
			secret := acct.webhookSecrets[0]
			var spare struct {
				R struct{ StripeAccount stAccount }
			}
			in := stAccountInput("Stripe Spare")
			delete(in, "webhookSecrets")
			s.stOK(t, s.orgA.Admin, stCreateAccount, map[string]any{"in": in}, &spare)

			customer := map[string]any{"id": "cus_" + stSecret(""), "object": "customer"}
			valid := stEvent(t, "customer.created", customer, nil)
			var validID string
			{
				var ev struct{ ID string }
				require.NoError(t, json.Unmarshal(valid, &ev))
				validID = ev.ID
			}
			another := stEvent(t, "customer.created", customer, nil)
			oldVersion := stEvent(t, "customer.created", customer, func(ev map[string]any) { ev["api_version"] = "2020-08-27" })
			live := stEvent(t, "customer.created", customer, func(ev map[string]any) { ev["livemode"] = true })
			notEvent, notJSON := []byte(`{"hello":"world"}`), []byte(`not json`)
			sign := func(body []byte) string { return stSign(body, secret, time.Time{}) }
			validSig := sign(valid)

			type want struct {
				status    int
				code      string // error code; "" for a 200
				duplicate bool
				stored    int // events new in the inbox
				new, dups int // what the intake counted
			}
			refused := func(status int, code string) want { return want{status: status, code: code} }
			tests := []struct {
				name    string
				account string
				body    []byte
				sig     string
				want    want
			}{
				{"unknown account", "sa_nope", valid, validSig, refused(404, "NOT_FOUND")},
				{"missing signature", acct.ID, valid, "", refused(401, "UNAUTHENTICATED")},
				{"malformed signature", acct.ID, valid, "garbage", refused(401, "UNAUTHENTICATED")},
				{"signed with another secret", acct.ID, valid, stSign(valid, stSecret("whsec_"), time.Time{}), refused(401, "UNAUTHENTICATED")},
				{"signature of another body", acct.ID, valid, sign(another), refused(401, "UNAUTHENTICATED")},
				{"expired timestamp", acct.ID, valid, stSign(valid, secret, time.Now().Add(-10*time.Minute)), refused(401, "UNAUTHENTICATED")},
				{"an account without signing secrets", spare.R.StripeAccount.ID, valid, validSig, refused(401, "UNAUTHENTICATED")},
				{"signed, not an event", acct.ID, notEvent, sign(notEvent), refused(400, "VALIDATION")},
				{"signed, not JSON", acct.ID, notJSON, sign(notJSON), refused(400, "VALIDATION")},
				{"another API version", acct.ID, oldVersion, sign(oldVersion), refused(400, "VALIDATION")},
				{"a live event to a test account", acct.ID, live, sign(live), refused(400, "VALIDATION")},
				{"valid", acct.ID, valid, validSig, want{status: 200, stored: 1, new: 1}},
				{"the same delivery again", acct.ID, valid, validSig, want{status: 200, duplicate: true, dups: 1}},
				{"the same event signed afresh", acct.ID, valid, stSign(valid, secret, time.Now().Add(-time.Minute)),
					want{status: 200, duplicate: true, dups: 1}},
				{"another event", acct.ID, another, sign(another), want{status: 200, stored: 1, new: 1}},
			}
			stored, unauthorized := 0, 0
			// In order: each case builds on what the ones before stored.
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before := s.stEventMetrics(t)
					status, body := s.stDeliver(t, tt.account, tt.body, tt.sig)
					require.Equal(t, tt.want.status, status, "answer %v", body)
					rejected := 0
					if tt.want.code != "" {
						require.Equal(t, tt.want.code, errCode(body), "answer %v", body)
						rejected = 1
					} else {
						require.Equal(t, map[string]any{"received": true, "duplicate": tt.want.duplicate}, body)
					}
					if status == http.StatusUnauthorized {
						unauthorized++
					}
					require.Equal(t, map[string]float64{"new": float64(tt.want.new), "duplicate": float64(tt.want.dups),
						"rejected": float64(rejected)}, metricDiff(s.stEventMetrics(t), before), "books_stripe_events_total by outcome")
					stored += tt.want.stored
					require.Equal(t, stored, s.stInboxCount(t), "the inbox holds each event accepted, once")
				})
			}

			// The job applied what was stored: Books does not act on customer.created.
			stEventually(t, "the inbox is applied", func() bool {
				row := s.stInboxRow(t, validID)
				return row != nil && row.Status != stripeevent.StatusPending
			})
			row := s.stInboxRow(t, validID)
			require.Equal(t, stripeevent.StatusIgnored, row.Status)
			require.Equal(t, acct.ID, row.StripeAccountID)
			require.Equal(t, stripeevent.ReceivedViaWebhook, row.ReceivedVia)
			require.Equal(t, string(valid), row.Payload, "the exact body is kept")

			metrics := s.stGet(t, "/metrics")
			require.Contains(t, metrics, fmt.Sprintf(`books_http_requests_total{code="401",route="stripe_webhook"} %d`+"\n", unauthorized))
			require.Contains(t, s.logs.String(), `"path":"/webhooks/stripe/`+acct.ID+`"`, "each delivery has its log line")
			s.stRequireNoSecrets(t, secret)
		})
	}
}

// TestStripeNotConfigured: a server without Stripe has no webhook endpoint, and its Stripe
// fields say so.
func TestStripeNotConfigured(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			b := setupWith(t, d, func(cfg *server.Config) { cfg.Stripe = nil })
			req, err := http.NewRequest(http.MethodPost, b.server.URL+"/webhooks/stripe/sa_x", strings.NewReader(`{}`))
			require.NoError(t, err)
			req.Header.Set("Stripe-Signature", "t=1,v1=00")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			var out map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
			resp.Body.Close()
			require.Equal(t, http.StatusNotFound, resp.StatusCode)
			require.Equal(t, "NOT_FOUND", errCode(out))

			r := b.gql(t, b.orgA.Admin, stCreateAccount, map[string]any{"in": stAccountInput("Stripe US")})
			stRequireRefused(t, r, "STRIPE_NOT_CONFIGURED", "")
		})
	}
}

// TestStripeSecretsNeverLeak runs everything that handles an account's keys and signing
// secrets (adding and changing accounts, refused inputs, a portal payment, a refund,
// webhooks good and bad, the audit trail and every read) and requires none of them in any
// response body or log line.
func TestStripeSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			s := stSetup(t, d)
			a, f := s.orgA, s.f
			var sent []string

			us := s.stAddAccount(t, a, "Stripe US", true)
			uk := s.stAddAccount(t, a, "Stripe UK", false)
			sent = append(sent, us.secretKey, uk.secretKey)
			sent = append(sent, us.webhookSecrets...)
			sent = append(sent, uk.webhookSecrets...)
			// Refused: a duplicate name, a bad key, a bad secret.
			for _, edit := range []func(map[string]any){
				func(in map[string]any) { in["name"] = "Stripe US" },
				func(in map[string]any) { in["secretKey"] = stSecret("sk_nope_") },
				func(in map[string]any) { in["webhookSecrets"] = []string{stSecret("whsec_"), stSecret("nope_")} },
			} {
				in := stAccountInput("Stripe Spare")
				edit(in)
				sent = append(sent, in["secretKey"].(string))
				sent = append(sent, in["webhookSecrets"].([]string)...)
				r, _ := s.stDo(t, a.Admin, stCreateAccount, map[string]any{"in": in})
				require.NotEmpty(t, r.Errors)
			}
			// Changed: UK's secret key, US's signing secrets rotated (the old kept beside the new).
			key, next := stSecret("sk_test_"), stSecret("whsec_")
			sent = append(sent, key, next)
			for _, in := range []map[string]any{
				{"stripeAccountId": uk.ID, "patch": map[string]any{"secretKey": key}},
				{"stripeAccountId": us.ID, "patch": map[string]any{"webhookSecrets": []string{us.webhookSecrets[0], next}}},
				{"stripeAccountId": us.ID, "patch": map[string]any{"secretKey": stSecret("rk_nope_")}},
			} {
				s.stDo(t, a.Admin, stUpdateAccount, map[string]any{"in": in})
			}
			s.stOK(t, a.Admin, stSetProfile, map[string]any{"in": map[string]any{"entityId": f.us, "stripeAccountId": us.ID}}, nil)

			// A portal payment, and a refund of part of it.
			inv := s.biApproved(t, f, f.biInput(f.acme, "2026-11-01", "2026-12-01", biLine(f.consult, "2", "")))
			acme := s.stPortal(t, a, f.acme)
			_, paymentID := s.stPortalPay(t, a, acme, inv.ID)
			var rf struct{ R struct{ Refund stRefund } }
			s.stOK(t, a.FinanceLead, stRefundQ, map[string]any{"in": map[string]any{"paymentId": paymentID, "amount": "50.00"}}, &rf)
			s.stFlush(t)
			stEventually(t, "the refund is confirmed", func() bool {
				row, err := s.client.Refund.Get(orgCtx(a), rf.R.Refund.ID)
				require.NoError(t, err)
				return row.Status == refund.StatusSucceeded
			})

			// Webhooks: signed with the new secret, the old, none, a wrong one; and a replay.
			body := stEvent(t, "customer.created", map[string]any{"id": "cus_x", "object": "customer"}, nil)
			for _, sig := range []string{stSign(body, next, time.Time{}), stSign(body, us.webhookSecrets[0], time.Time{}), "",
				stSign(body, stSecret("whsec_"), time.Time{}), stSign(body, next, time.Now().Add(-time.Hour))} {
				s.stDeliver(t, us.ID, body, sig)
			}
			s.stDeliver(t, uk.ID, body, stSign(body, next, time.Time{})) // UK's secret is not US's

			// Every read of what was done.
			for _, q := range []string{
				stAccountsQuery,
				`{ billingProfiles { edges { node { id entityId stripeAccount { ` + stAccountFields + ` } } } } }`,
				`{ paymentAttempts { edges { node { id paymentIntentId stripeAccountId status } } } }`,
				`{ refunds { edges { node { id status externalRef } } } }`,
				`{ auditEvents(first: 500) { totalCount edges { node { action subjectId detail } } } }`,
				`{ adminIssues { edges { node { id errorMessage } } } }`,
			} {
				s.stOK(t, a.Admin, q, nil, nil)
			}
			// The audit trail, which every staff role reads, records that keys were given, and
			// what else the change was, not the keys.
			var audit struct {
				AuditEvents gqConn[struct{ SubjectID, Detail string }]
			}
			s.stOK(t, a.Viewer, `{ auditEvents(where: {action: "createStripeAccount"}) { totalCount edges { node { subjectId detail } } } }`,
				nil, &audit)
			require.Equal(t, 2, audit.AuditEvents.TotalCount, "the two accounts created")
			for _, ev := range audit.AuditEvents.nodes() {
				require.Contains(t, []string{us.ID, uk.ID}, ev.SubjectID)
				require.Contains(t, ev.Detail, `"secretKey":"[redacted]"`)
				require.Contains(t, ev.Detail, `"webhookSecrets":["[redacted]"]`)
				require.Contains(t, ev.Detail, `"name":"Stripe U`)
			}
			s.stOK(t, a.Viewer, `{ auditEvents(where: {action: "updateStripeAccount"}) { totalCount edges { node { subjectId detail } } } }`,
				nil, &audit)
			require.Equal(t, 2, audit.AuditEvents.TotalCount, "the two changes made (the third was refused)")
			details := idsOf(audit.AuditEvents.nodes(), func(e struct{ SubjectID, Detail string }) string { return e.Detail })
			require.Contains(t, strings.Join(details, "\n"), `"webhookSecrets":["[redacted]","[redacted]"]`, "a rotation shows two secrets")

			s.stRequireNoSecrets(t, sent...)
			// The hints are there instead, so the check above read the right bodies.
			require.Contains(t, s.bodies.String(), "sk_test_…"+key[len(key)-4:])
			require.Contains(t, s.bodies.String(), `"received":true`)
			require.Contains(t, s.bodies.String(), `"clientSecret"`)
		})
	}
}
