// Package stripefake is an in-memory, offline fake of the parts of the Stripe
// API (version 2023-10-16) and of Stripe's webhook deliveries that Books uses.
// Tests and the offline demo point stripe-go at it instead of Stripe:
//
//	fake := stripefake.New(stripefake.Options{})
//	url, _ := fake.Start()
//	defer fake.Close()
//	sk := "sk_test_books"
//	fake.AddAccount(sk, "pk_test_books")
//	fake.SetWebhook(sk, webhookURL, "whsec_test")
//	sc := client.New(sk, &stripe.Backends{API: stripe.GetBackendWithConfig(
//		stripe.APIBackend, &stripe.BackendConfig{URL: stripe.String(url)})})
//
// Everything it answers or sends decodes into stripe-go v76 structs, and its
// webhooks pass webhook.ConstructEvent. State lives as long as the Server.
//
// # Emulated
//
// REST (form-encoded requests, JSON answers, Stripe's error bodies):
//   - POST /v1/payment_intents, GET|POST /v1/payment_intents/{id},
//     POST /v1/payment_intents/{id}/cancel, POST /v1/payment_intents/{id}/confirm
//     (the only call a publishable key may make; it must carry the client_secret).
//   - GET /v1/charges (payment_intent=, customer=), GET /v1/charges/{id}.
//   - POST /v1/refunds, GET /v1/refunds (charge=, payment_intent=), GET /v1/refunds/{id}.
//   - GET /v1/disputes/{id}, GET /v1/invoices/{id}, GET /v1/balance_transactions/{id}.
//   - GET /v1/events (created, created[gt|gte|lt|lte], type with "*" wildcards,
//     types[]), GET /v1/events/{id}.
//   - Lists page newest first with limit (1..100), starting_after and
//     ending_before; objects made in the same second keep their creation order,
//     so paging never skips or repeats one.
//   - expand[]: payment_intent latest_charge, invoice; charge refunds,
//     balance_transaction, payment_intent, invoice; refund charge,
//     payment_intent, balance_transaction; dispute charge, payment_intent;
//     invoice charge, payment_intent; "data.<field>" on lists; nested paths.
//   - Idempotency-Key on POSTs, per account, kept for the life of the Server:
//     a replay answers the stored status and body (Idempotent-Replayed: true);
//     other parameters under the same key give an idempotency_error. As at
//     Stripe, answers to requests that failed parameter validation are not kept.
//
// Test payment methods for confirm: pm_card_visa (succeeds), pm_card_chargeDeclined
// (declined: a failed charge, 402 card_error), pm_usBankAccount (processing until
// SettleACH or FailACH; charges of bank debits have "py_" ids, as at Stripe).
//
// Money movement creates balance transactions with Stripe's standard US
// pricing, so fees can be followed: cards 2.9% + 30, ACH debits 0.8% capped at
// 500, refunds no fee, disputes a 1500 fee (withdrawn with the disputed amount;
// a won dispute reinstates the amount, not the fee). They become available two
// days after creation (UTC midnight).
//
// Events (objects are JSON snapshots taken when the event is emitted):
//   - payment_intent.created, .processing, .succeeded, .payment_failed, .canceled;
//   - charge.pending, .succeeded, .failed, .refunded (previous_attributes holds
//     amount_refunded and, when it flips, refunded), refund.created;
//   - charge.dispute.created, .funds_withdrawn, .closed, .funds_reinstated;
//   - invoice.paid, invoice.payment_succeeded.
//
// Events caused by an API request carry its request id and idempotency key in
// "request", as Stripe's do; events caused by the Go helpers (a person in the
// dashboard, the bank) carry nulls.
//
// # Webhooks
//
// Each account has at most one endpoint. Every event is queued for it and sent
// by a background goroutine per account, one POST at a time, in emission order
// unless Faults.Reorder is set or a retry is waiting. A non-2xx answer or a
// transport error is retried up to 5 attempts in all, 50 ms doubling to 1 s
// apart, then given up (the event stays listable). Signatures use the wall
// clock, not Options.Now, because webhook.ConstructEvent checks the timestamp
// against time.Now; each attempt is signed afresh.
//
// # Not emulated
//
// Customers, payment methods and mandates as API objects, manual capture,
// 3-D Secure and next_action, Checkout, Connect, search, the restricted
// PaymentIntent view that publishable keys get, minimum charge amounts,
// unknown-parameter errors (unknown parameters are ignored), rate limits,
// Stripe-Account, and event retention limits.
package stripefake
