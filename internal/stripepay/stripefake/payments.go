package stripefake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// testMethod is one of Stripe's test payment methods that confirm accepts.
type testMethod struct {
	typ      string // card or us_bank_account
	brand    string
	last4    string
	declines bool
}

var testMethods = map[string]testMethod{
	"pm_card_visa":           {typ: "card", brand: "visa", last4: "4242"},
	"pm_card_chargeDeclined": {typ: "card", brand: "visa", last4: "0002", declines: true},
	"pm_usBankAccount":       {typ: "us_bank_account", last4: "6789"},
}

// Test cards expire in a fixed year so that snapshots stay comparable.
const testCardExpYear = 2034

// piParams are the fields a PaymentIntent is created with.
type piParams struct {
	amount       int64
	currency     string
	methodTypes  []string
	metadata     map[string]string
	description  string
	customer     string
	receiptEmail string
	invoice      string
}

func checkAmount(amount int64) *Error {
	if amount < 1 {
		return badParam("parameter_invalid_integer", "amount", "This value must be greater than or equal to 1.")
	}
	if amount > 99_999_999 {
		return badParam("amount_too_large", "amount", "Amount must be no more than 99999999 (in the currency's smallest unit).")
	}
	return nil
}

// normCurrency lowercases a currency code as Stripe does and checks that it
// looks like one (three letters).
func normCurrency(cur string) (string, *Error) {
	if cur == "" {
		return "", missingParam("currency")
	}
	lc := strings.ToLower(cur)
	if len(lc) != 3 || strings.Trim(lc, "abcdefghijklmnopqrstuvwxyz") != "" {
		return "", badParam("", "currency", "Invalid currency: %s.", cur)
	}
	return lc, nil
}

func checkMethodTypes(types []string, currency string) *Error {
	for _, t := range types {
		switch t {
		case "card":
		case "us_bank_account":
			if currency != "usd" {
				return badParam("payment_intent_invalid_parameter", "currency",
					"The currency provided (%s) is invalid. Payments with us_bank_account support the following currencies: usd.", currency)
			}
		default:
			return badParam("payment_intent_invalid_parameter", "payment_method_types",
				"The payment method type %q is invalid. This fake knows card and us_bank_account.", t)
		}
	}
	return nil
}

// newPaymentIntent stores a PaymentIntent awaiting a payment method. The
// caller has validated p.
func (s *Server) newPaymentIntent(acct *account, p piParams) *paymentIntent {
	pi := &paymentIntent{
		owned:                owned{acct: acct, seq: s.nextSeq()},
		ID:                   newID("pi_"),
		Object:               "payment_intent",
		Amount:               p.amount,
		AmountDetails:        map[string]any{"tip": map[string]any{}},
		CaptureMethod:        "automatic",
		ConfirmationMethod:   "automatic",
		Created:              s.unixNow(),
		Currency:             p.currency,
		Customer:             optString(p.customer),
		Description:          optString(p.description),
		Invoice:              optString(p.invoice),
		Metadata:             copyMetadata(p.metadata),
		PaymentMethodOptions: methodOptions(p.methodTypes),
		PaymentMethodTypes:   p.methodTypes,
		ReceiptEmail:         optString(p.receiptEmail),
		Status:               "requires_payment_method",
	}
	pi.ClientSecret = pi.ID + "_secret_" + randString(25)
	s.pis[pi.ID] = pi
	return pi
}

func methodOptions(types []string) map[string]any {
	opts := map[string]any{}
	for _, t := range types {
		switch t {
		case "card":
			opts["card"] = map[string]any{"installments": nil, "mandate_options": nil, "network": nil, "request_three_d_secure": "automatic"}
		case "us_bank_account":
			opts["us_bank_account"] = map[string]any{"verification_method": "automatic"}
		}
	}
	return opts
}

// createPaymentIntent serves POST /v1/payment_intents.
func (s *Server) createPaymentIntent(c *call) (json.RawMessage, *Error) {
	f := c.form
	amount, ok, err := formInt(f, "amount")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, missingParam("amount")
	}
	if err := checkAmount(amount); err != nil {
		return nil, err
	}
	currency, err := normCurrency(f.Get("currency"))
	if err != nil {
		return nil, err
	}
	types := formList(f, "payment_method_types")
	auto := f.Get("automatic_payment_methods[enabled]") == "true"
	if auto && len(types) > 0 {
		return nil, badParam("parameters_exclusive", "payment_method_types",
			"You may only specify one of these parameters: automatic_payment_methods, payment_method_types.")
	}
	if len(types) == 0 {
		types = []string{"card"}
	}
	types = slices.Compact(types)
	if err := checkMethodTypes(types, currency); err != nil {
		return nil, err
	}
	md, err := parseMetadata(f)
	if err != nil {
		return nil, err
	}
	method := f.Get("payment_method")
	if _, known := testMethods[method]; method != "" && !known {
		return nil, noSuch(http.StatusBadRequest, "PaymentMethod", method, "payment_method")
	}

	pi := s.newPaymentIntent(c.acct, piParams{
		amount:       amount,
		currency:     currency,
		methodTypes:  types,
		metadata:     md,
		description:  f.Get("description"),
		customer:     f.Get("customer"),
		receiptEmail: f.Get("receipt_email"),
	})
	if auto {
		pi.AutomaticPaymentMethods = map[string]any{"allow_redirects": "always", "enabled": true}
	}
	if method != "" {
		pi.pendingMethod = method
		pi.PaymentMethod = strPtr(newID("pm_"))
		pi.Status = "requires_confirmation"
	}
	c.emit("payment_intent.created", pi, nil)
	if f.Get("confirm") == "true" {
		if err := s.confirm(c.tx, pi, ""); err != nil {
			return nil, err
		}
	}
	return s.render(c.acct, pi, formList(f, "expand"))
}

func (s *Server) pathPaymentIntent(c *call) (*paymentIntent, *Error) {
	if pi, ok := s.lookup(c.acct, c.id).(*paymentIntent); ok {
		return pi, nil
	}
	return nil, noSuch(http.StatusNotFound, "payment_intent", c.id, "intent")
}

// beforeConfirm reports whether the amount and payment method types of a
// PaymentIntent in this status may still change.
func beforeConfirm(status string) bool {
	switch status {
	case "requires_payment_method", "requires_confirmation", "requires_action":
		return true
	}
	return false
}

// updatePaymentIntent serves POST /v1/payment_intents/{id}. As at Stripe,
// metadata, description and receipt_email may change in any status but
// canceled; amount and currency only before the payment is attempted.
func (s *Server) updatePaymentIntent(c *call) (json.RawMessage, *Error) {
	pi, err := s.pathPaymentIntent(c)
	if err != nil {
		return nil, err
	}
	f := c.form
	if pi.Status == "canceled" {
		return nil, unexpectedState("You cannot update this PaymentIntent because it has a status of canceled.")
	}
	amount, setAmount, err := formInt(f, "amount")
	if err != nil {
		return nil, err
	}
	if setAmount {
		if err := checkAmount(amount); err != nil {
			return nil, err
		}
	}
	currency := pi.Currency
	if f.Has("currency") {
		if currency, err = normCurrency(f.Get("currency")); err != nil {
			return nil, err
		}
	}
	if (setAmount || currency != pi.Currency) && !beforeConfirm(pi.Status) {
		return nil, unexpectedState("This PaymentIntent's amount could not be updated because it has a status of %s. "+
			"You may only update the amount of a PaymentIntent with one of the following statuses: requires_payment_method, requires_confirmation, requires_action.", pi.Status)
	}
	if err := checkMethodTypes(pi.PaymentMethodTypes, currency); err != nil {
		return nil, err
	}
	md, err := mergeMetadata(pi.Metadata, f)
	if err != nil {
		return nil, err
	}
	if setAmount {
		pi.Amount = amount
	}
	pi.Currency = currency
	pi.Metadata = md
	if f.Has("description") {
		pi.Description = optString(f.Get("description"))
	}
	if f.Has("receipt_email") {
		pi.ReceiptEmail = optString(f.Get("receipt_email"))
	}
	return s.render(c.acct, pi, formList(f, "expand"))
}

// cancelPaymentIntent serves POST /v1/payment_intents/{id}/cancel.
func (s *Server) cancelPaymentIntent(c *call) (json.RawMessage, *Error) {
	pi, err := s.pathPaymentIntent(c)
	if err != nil {
		return nil, err
	}
	reason := c.form.Get("cancellation_reason")
	switch reason {
	case "", "duplicate", "fraudulent", "requested_by_customer", "abandoned":
	default:
		return nil, badParam("", "cancellation_reason",
			"Invalid cancellation_reason: must be one of duplicate, fraudulent, requested_by_customer or abandoned")
	}
	if !beforeConfirm(pi.Status) {
		return nil, unexpectedState("You cannot cancel this PaymentIntent because it has a status of %s. "+
			"Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action.", pi.Status)
	}
	now := s.unixNow()
	pi.Status = "canceled"
	pi.CanceledAt = &now
	pi.CancellationReason = optString(reason)
	c.emit("payment_intent.canceled", pi, nil)
	return s.render(c.acct, pi, formList(c.form, "expand"))
}

// confirmPaymentIntent serves POST /v1/payment_intents/{id}/confirm, the one
// call a publishable key may make, as Stripe.js does with the client secret.
func (s *Server) confirmPaymentIntent(c *call) (json.RawMessage, *Error) {
	pi, err := s.pathPaymentIntent(c)
	if err != nil {
		return nil, err
	}
	if c.publishable {
		secret := c.form.Get("client_secret")
		if secret == "" {
			return nil, missingParam("client_secret")
		}
		if secret != pi.ClientSecret {
			return nil, badParam("", "client_secret", "The client_secret provided does not match the client_secret associated with the PaymentIntent.")
		}
	}
	if err := s.confirm(c.tx, pi, c.form.Get("payment_method")); err != nil {
		return nil, err
	}
	return s.render(c.acct, pi, formList(c.form, "expand"))
}

// confirm attempts the payment with one of the test payment methods. A
// declined card returns a 402 card error after the state and events of the
// failure are recorded.
func (s *Server) confirm(t *tx, pi *paymentIntent, method string) *Error {
	switch pi.Status {
	case "requires_payment_method", "requires_confirmation":
	case "succeeded":
		return unexpectedState("You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed.")
	default:
		return unexpectedState("You cannot confirm this PaymentIntent because it has a status of %s. "+
			"Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_payment_method.", pi.Status)
	}
	pmID := newID("pm_")
	if method == "" && pi.pendingMethod != "" {
		// The method given at creation already has its id.
		method, pmID = pi.pendingMethod, derefOr(pi.PaymentMethod, pmID)
	}
	if method == "" {
		return unexpectedState("You cannot confirm this PaymentIntent because it's missing a payment method. Pass a payment_method to confirm it.")
	}
	tm, ok := testMethods[method]
	if !ok {
		return noSuch(http.StatusBadRequest, "PaymentMethod", method, "payment_method")
	}
	if !slices.Contains(pi.PaymentMethodTypes, tm.typ) {
		return badParam("payment_intent_incompatible_payment_method", "payment_method",
			"The PaymentMethod provided (%s) is not allowed for this PaymentIntent. Please attach a PaymentMethod of one of the following types: %s.",
			tm.typ, strings.Join(pi.PaymentMethodTypes, ", "))
	}

	pi.pendingMethod = ""
	pi.LastPaymentError = nil
	ch := s.newCharge(pi, pmID, tm)
	pi.LatestCharge = &ch.ID
	switch {
	case tm.declines:
		const msg = "Your card was declined."
		ch.Status = "failed"
		ch.FailureCode = strPtr("card_declined")
		ch.FailureMessage = strPtr(msg)
		ch.Outcome = outcome(false, "generic_decline", "The bank did not return any further details with this decline.")
		pm := paymentMethodJSON(pmID, tm, ch.Created)
		pi.Status = "requires_payment_method"
		pi.PaymentMethod = nil // Stripe detaches a method that failed
		pi.LastPaymentError = &wireError{Charge: ch.ID, Code: "card_declined", DeclineCode: "generic_decline",
			Message: msg, PaymentMethod: pm, Type: typeCard}
		t.emit("charge.failed", ch, nil)
		t.emit("payment_intent.payment_failed", pi, nil)
		return &Error{Status: http.StatusPaymentRequired, Type: typeCard, Code: "card_declined", DeclineCode: "generic_decline",
			Charge: ch.ID, Message: msg, paymentIntent: mustJSON(pi), paymentMethod: pm}
	case tm.typ == "us_bank_account":
		// A bank debit takes days: the charge is pending and the
		// PaymentIntent processing until SettleACH or FailACH.
		ch.Status = "pending"
		ch.Captured = true
		ch.AmountCaptured = ch.Amount
		ch.Outcome = outcome(true, "", "Payment complete.")
		pi.Status = "processing"
		pi.PaymentMethod = &pmID
		t.emit("charge.pending", ch, nil)
		t.emit("payment_intent.processing", pi, nil)
	default:
		s.succeed(t, pi, ch)
	}
	return nil
}

// newCharge stores the charge of a payment attempt, pending until the
// caller settles its outcome. Stripe copies neither the PaymentIntent's
// metadata nor its statement descriptor onto the charge.
func (s *Server) newCharge(pi *paymentIntent, pmID string, tm testMethod) *charge {
	prefix := "ch_"
	if tm.typ == "us_bank_account" {
		prefix = "py_" // Stripe's id prefix for bank debit "payments"
	}
	pi.methodType = tm.typ
	ch := &charge{
		owned:                         owned{acct: pi.acct, seq: s.nextSeq()},
		ID:                            newID(prefix),
		Object:                        "charge",
		Amount:                        pi.Amount,
		BillingDetails:                emptyBillingDetails(),
		CalculatedStatementDescriptor: "STRIPEFAKE",
		Created:                       s.unixNow(),
		Currency:                      pi.Currency,
		Customer:                      pi.Customer,
		Description:                   pi.Description,
		FraudDetails:                  map[string]any{},
		Invoice:                       pi.Invoice,
		Metadata:                      map[string]string{},
		PaymentIntent:                 &pi.ID,
		PaymentMethod:                 &pmID,
		PaymentMethodDetails:          methodDetails(tm, pi.Amount),
		ReceiptEmail:                  pi.ReceiptEmail,
		Status:                        "pending",
	}
	s.charges[ch.ID] = ch
	pi.acct.charges = append(pi.acct.charges, ch)
	return ch
}

// succeed completes a payment: the charge succeeds with its balance
// transaction, then the PaymentIntent, in the order Stripe emits them.
func (s *Server) succeed(t *tx, pi *paymentIntent, ch *charge) {
	ch.Status = "succeeded"
	ch.Paid = true
	ch.Captured = true
	ch.AmountCaptured = ch.Amount
	ch.Outcome = outcome(true, "", "Payment complete.")
	txnType := "charge"
	if pi.methodType == "us_bank_account" {
		txnType = "payment"
	}
	txn := s.newTxn(pi.acct, ch.Amount, processingFee(pi.methodType, ch.Amount), ch.Currency,
		txnType, "charge", ch.ID, derefOr(ch.Description, "Payment"), "Stripe processing fees")
	ch.BalanceTransaction = &txn.ID
	pi.Status = "succeeded"
	pi.AmountReceived = ch.Amount
	pi.PaymentMethod = ch.PaymentMethod
	pi.LastPaymentError = nil
	t.emit("charge.succeeded", ch, nil)
	t.emit("payment_intent.succeeded", pi, nil)
}

func outcome(approved bool, reason, sellerMessage string) map[string]any {
	if approved {
		return map[string]any{"network_status": "approved_by_network", "reason": nil, "risk_level": "normal",
			"risk_score": 20, "seller_message": sellerMessage, "type": "authorized"}
	}
	return map[string]any{"network_status": "declined_by_network", "reason": optString(reason), "risk_level": "normal",
		"risk_score": 20, "seller_message": sellerMessage, "type": "issuer_declined"}
}

func methodDetails(tm testMethod, amount int64) map[string]any {
	if tm.typ == "us_bank_account" {
		return map[string]any{"type": "us_bank_account", "us_bank_account": map[string]any{
			"account_holder_type": "individual", "account_type": "checking", "bank_name": "STRIPE TEST BANK",
			"fingerprint": "FakeBankFngrprnt", "last4": tm.last4, "mandate": nil, "payment_reference": nil,
			"routing_number": "110000000",
		}}
	}
	return map[string]any{"type": "card", "card": map[string]any{
		"amount_authorized": amount, "brand": tm.brand,
		"checks":  map[string]any{"address_line1_check": nil, "address_postal_code_check": nil, "cvc_check": "pass"},
		"country": "US", "exp_month": 12, "exp_year": testCardExpYear,
		"extended_authorization": map[string]any{"status": "disabled"}, "fingerprint": "FakeCardFngrprnt",
		"funding": "credit", "incremental_authorization": map[string]any{"status": "unavailable"},
		"installments": nil, "last4": tm.last4, "mandate": nil,
		"multicapture": map[string]any{"status": "unavailable"}, "network": tm.brand,
		"network_token":  map[string]any{"used": false},
		"overcapture":    map[string]any{"maximum_amount_capturable": amount, "status": "unavailable"},
		"three_d_secure": nil, "wallet": nil,
	}}
}

// paymentMethodJSON is the payment method object that a failed attempt's
// error embeds.
func paymentMethodJSON(id string, tm testMethod, created int64) json.RawMessage {
	pm := map[string]any{
		"id": id, "object": "payment_method", "billing_details": emptyBillingDetails(), "created": created,
		"customer": nil, "livemode": false, "metadata": map[string]string{}, "type": tm.typ,
	}
	if tm.typ == "card" {
		pm["card"] = map[string]any{
			"brand": tm.brand, "checks": map[string]any{"address_line1_check": nil, "address_postal_code_check": nil, "cvc_check": "pass"},
			"country": "US", "exp_month": 12, "exp_year": testCardExpYear, "fingerprint": "FakeCardFngrprnt",
			"funding": "credit", "last4": tm.last4, "networks": map[string]any{"available": []string{tm.brand}, "preferred": nil},
			"three_d_secure_usage": map[string]any{"supported": true}, "wallet": nil,
		}
	} else {
		pm["us_bank_account"] = map[string]any{
			"account_holder_type": "individual", "account_type": "checking", "bank_name": "STRIPE TEST BANK",
			"fingerprint": "FakeBankFngrprnt", "last4": tm.last4, "routing_number": "110000000",
		}
	}
	return mustJSON(pm)
}

// processingFee is Stripe's standard US pricing: cards 2.9% + 30, ACH
// debits 0.8% capped at 500 (minor units, rounded half up).
func processingFee(methodType string, amount int64) int64 {
	if methodType == "us_bank_account" {
		return min((amount*8+500)/1000, 500)
	}
	return (amount*29+500)/1000 + 30
}

// newTxn records a balance transaction; it becomes available two days
// later at midnight UTC, roughly Stripe's standard payout schedule.
func (s *Server) newTxn(acct *account, amount, fee int64, currency, typ, category, source, description, feeDescription string) *balanceTransaction {
	now := s.now()
	y, m, d := now.UTC().Date()
	t := &balanceTransaction{
		owned:             owned{acct: acct, seq: s.nextSeq()},
		now:               s.now,
		ID:                newID("txn_"),
		Object:            "balance_transaction",
		Amount:            amount,
		AvailableOn:       time.Date(y, m, d+2, 0, 0, 0, 0, time.UTC).Unix(),
		Created:           now.Unix(),
		Currency:          currency,
		Description:       description,
		Fee:               fee,
		FeeDetails:        []map[string]any{},
		Net:               amount - fee,
		ReportingCategory: category,
		Source:            source,
		Type:              typ,
	}
	if fee != 0 {
		t.FeeDetails = append(t.FeeDetails, map[string]any{
			"amount": fee, "application": nil, "currency": currency, "description": feeDescription, "type": "stripe_fee",
		})
	}
	s.txns[t.ID] = t
	return t
}

func derefOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

// listCharges serves GET /v1/charges (payment_intent=, customer=).
func (s *Server) listCharges(c *call) (json.RawMessage, *Error) {
	q, err := s.parsePage(c, "charge")
	if err != nil {
		return nil, err
	}
	piID, customer := c.form.Get("payment_intent"), c.form.Get("customer")
	var match []*charge
	for _, ch := range c.acct.charges {
		if piID != "" && derefOr(ch.PaymentIntent, "") != piID {
			continue
		}
		if customer != "" && derefOr(ch.Customer, "") != customer {
			continue
		}
		match = append(match, ch)
	}
	return renderPage(s, c.acct, "/v1/charges", match, q)
}

// Confirm confirms a PaymentIntent as Stripe.js would for the customer, with
// one of the test payment methods (pm_card_visa, pm_card_chargeDeclined,
// pm_usBankAccount). A declined card returns an *Error of type card_error
// after recording the failure and its events.
func (s *Server) Confirm(paymentIntentID, paymentMethod string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, ok := s.pis[paymentIntentID]
	if !ok {
		return notFoundHelper("payment_intent", paymentIntentID)
	}
	t := s.begin(pi.acct)
	err := s.confirm(t, pi, paymentMethod)
	t.commit()
	if err != nil {
		return err
	}
	return nil
}

// processingACH returns the processing bank debit of a PaymentIntent and
// its pending charge.
func (s *Server) processingACH(id string) (*paymentIntent, *charge, *Error) {
	pi, ok := s.pis[id]
	if !ok {
		return nil, nil, notFoundHelper("payment_intent", id)
	}
	if pi.Status != "processing" || pi.methodType != "us_bank_account" || pi.LatestCharge == nil {
		return nil, nil, unexpectedState("PaymentIntent %s has no us_bank_account payment processing (status %s).", id, pi.Status)
	}
	return pi, s.charges[*pi.LatestCharge], nil
}

// SettleACH makes a processing us_bank_account payment succeed, as the bank
// would some days after confirmation: charge.succeeded, then
// payment_intent.succeeded.
func (s *Server) SettleACH(paymentIntentID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, ch, err := s.processingACH(paymentIntentID)
	if err != nil {
		return err
	}
	t := s.begin(pi.acct)
	s.succeed(t, pi, ch)
	t.commit()
	return nil
}

// FailACH makes a processing us_bank_account payment fail (the debit was
// returned): the charge fails with failure_code insufficient_funds and the
// PaymentIntent goes back to requires_payment_method with a
// last_payment_error of code payment_intent_payment_attempt_failed carrying
// message; charge.failed, then payment_intent.payment_failed.
func (s *Server) FailACH(paymentIntentID, message string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, ch, err := s.processingACH(paymentIntentID)
	if err != nil {
		return err
	}
	if message == "" {
		message = "The customer's account has insufficient funds to cover this payment."
	}
	ch.Status = "failed"
	ch.Paid = false
	ch.FailureCode = strPtr("insufficient_funds")
	ch.FailureMessage = strPtr(message)
	ch.Outcome = outcome(false, "", message)
	pi.Status = "requires_payment_method"
	pm := paymentMethodJSON(derefOr(pi.PaymentMethod, ""), testMethods["pm_usBankAccount"], ch.Created)
	pi.PaymentMethod = nil
	pi.LastPaymentError = &wireError{Charge: ch.ID, Code: "payment_intent_payment_attempt_failed",
		Message: message, PaymentMethod: pm, Type: typeInvalidRequest}
	t := s.begin(pi.acct)
	t.emit("charge.failed", ch, nil)
	t.emit("payment_intent.payment_failed", pi, nil)
	t.commit()
	return nil
}

func (s *Server) helperAccount(secretKey string) (*account, *Error) {
	a, ok := s.bySecret[secretKey]
	if !ok {
		return nil, &Error{Status: http.StatusUnauthorized, Type: typeInvalidRequest,
			Message: "Invalid API Key provided: " + maskKey(secretKey)}
	}
	return a, nil
}

// Charge makes a card payment that Books did not ask for, such as a one-off
// charge in the dashboard: a PaymentIntent carrying metadata (not Books'
// own) and no invoice, paid at once. It emits payment_intent.created,
// charge.succeeded and payment_intent.succeeded, and returns the charge id.
func (s *Server) Charge(secretKey string, amount int64, currency string, metadata map[string]string) (chargeID string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	acct, aerr := s.helperAccount(secretKey)
	if aerr != nil {
		return "", aerr
	}
	t := s.begin(acct)
	pi, perr := s.paidByCard(t, amount, currency, metadata, "", "")
	t.commit()
	if perr != nil {
		return "", perr
	}
	return *pi.LatestCharge, nil
}

// paidByCard creates a PaymentIntent and pays it with pm_card_visa.
func (s *Server) paidByCard(t *tx, amount int64, currency string, metadata map[string]string, description, invoiceID string) (*paymentIntent, *Error) {
	acct := t.acct
	if err := checkAmount(amount); err != nil {
		return nil, err
	}
	cur, err := normCurrency(currency)
	if err != nil {
		return nil, err
	}
	p := piParams{amount: amount, currency: cur, methodTypes: []string{"card"}, metadata: metadata, description: description, invoice: invoiceID}
	if invoiceID != "" {
		p.customer = acct.customer
	}
	pi := s.newPaymentIntent(acct, p)
	t.emit("payment_intent.created", pi, nil)
	if err := s.confirm(t, pi, "pm_card_visa"); err != nil {
		panic("stripefake: pm_card_visa failed: " + err.Error()) // the PaymentIntent was just made for it
	}
	return pi, nil
}

// PayStripeInvoice records a Stripe Billing subscription invoice paid by
// card: the invoice (customer, period and one subscription line), then a
// PaymentIntent and charge whose "invoice" names it. It emits
// payment_intent.created, charge.succeeded, payment_intent.succeeded,
// invoice.paid and invoice.payment_succeeded, and returns the invoice id.
func (s *Server) PayStripeInvoice(secretKey string, amount int64, currency string, periodStart, periodEnd time.Time) (invoiceID string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	acct, aerr := s.helperAccount(secretKey)
	if aerr != nil {
		return "", aerr
	}
	if err := checkAmount(amount); err != nil {
		return "", err
	}
	cur, cerr := normCurrency(currency)
	if cerr != nil {
		return "", cerr
	}
	if periodEnd.Before(periodStart) {
		return "", errors.New("stripefake: PayStripeInvoice: period ends before it starts")
	}
	now := s.unixNow()
	acct.invoiceNo++
	in := &invoice{
		owned:            owned{acct: acct, seq: s.nextSeq()},
		ID:               newID("in_"),
		Object:           "invoice",
		AccountCountry:   "US",
		AmountDue:        amount,
		AmountPaid:       amount,
		AttemptCount:     1,
		Attempted:        true,
		BillingReason:    "subscription_cycle",
		CollectionMethod: "charge_automatically",
		Created:          now,
		Currency:         cur,
		Customer:         acct.customer,
		EffectiveAt:      now,
		Metadata:         map[string]string{},
		Number:           fmt.Sprintf("%s-%04d", strings.ToUpper(acct.customer[len(acct.customer)-8:]), acct.invoiceNo),
		Paid:             true,
		PeriodEnd:        periodEnd.Unix(),
		PeriodStart:      periodStart.Unix(),
		Status:           "paid",
		StatusTransitions: map[string]any{
			"finalized_at": now, "marked_uncollectible_at": nil, "paid_at": now, "voided_at": nil,
		},
		Subscription: acct.subscription,
		Subtotal:     amount,
		Total:        amount,
	}
	in.Lines = invoiceLines{Object: "list", URL: "/v1/invoices/" + in.ID + "/lines", Data: []invoiceLineItem{{
		ID: newID("il_"), Object: "line_item", Amount: amount, Currency: cur, Description: "Subscription",
		Discountable: true, Invoice: in.ID, Metadata: map[string]string{},
		Period:   map[string]int64{"start": periodStart.Unix(), "end": periodEnd.Unix()},
		Quantity: 1, Subscription: acct.subscription, Type: "subscription",
	}}}
	s.invoices[in.ID] = in

	// One batch, so that Faults.Reorder may shuffle the invoice's events
	// with its payment's.
	t := s.begin(acct)
	pi, perr := s.paidByCard(t, amount, cur, nil, "Subscription update", in.ID)
	if perr != nil {
		return "", perr
	}
	in.Charge = pi.LatestCharge
	in.PaymentIntent = &pi.ID
	t.emit("invoice.paid", in, nil)
	t.emit("invoice.payment_succeeded", in, nil)
	t.commit()
	return in.ID, nil
}

// PaymentIntent returns the PaymentIntent as the API would now, whatever
// its account.
func (s *Server) PaymentIntent(id string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi, ok := s.pis[id]
	if !ok {
		return nil, false
	}
	return mustJSON(pi), true
}
