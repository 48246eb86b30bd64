package stripefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// disputeFee is what Stripe withdraws for handling a dispute (US pricing).
const disputeFee = 1500

// createRefund serves POST /v1/refunds.
func (s *Server) createRefund(c *call) (json.RawMessage, *Error) {
	f := c.form
	chID, piID := f.Get("charge"), f.Get("payment_intent")
	if chID == "" && piID == "" {
		return nil, badParam("parameter_missing", "charge",
			"One of the following params should be provided for this request: charge or payment_intent.")
	}
	var ch *charge
	if piID != "" {
		pi, ok := s.lookup(c.acct, piID).(*paymentIntent)
		if !ok {
			return nil, noSuch(http.StatusBadRequest, "payment_intent", piID, "payment_intent")
		}
		if pi.LatestCharge == nil || s.charges[*pi.LatestCharge].Status != "succeeded" {
			return nil, invalid("charge_not_refundable", "payment_intent",
				"This PaymentIntent (%s) does not have a successful charge to refund.", piID)
		}
		ch = s.charges[*pi.LatestCharge]
	}
	if chID != "" {
		byID, ok := s.lookup(c.acct, chID).(*charge)
		if !ok {
			return nil, noSuch(http.StatusBadRequest, "charge", chID, "charge")
		}
		if ch != nil && ch != byID {
			return nil, badParam("", "charge", "The charge %s does not belong to the PaymentIntent %s.", chID, piID)
		}
		ch = byID
	}
	amount, given, err := formInt(f, "amount")
	if err != nil {
		return nil, err
	}
	if given && amount < 1 {
		return nil, badParam("parameter_invalid_integer", "amount", "This value must be greater than or equal to 1.")
	}
	reason := f.Get("reason")
	switch reason {
	case "", "duplicate", "fraudulent", "requested_by_customer":
	default:
		return nil, badParam("", "reason", "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer")
	}
	md, err := parseMetadata(f)
	if err != nil {
		return nil, err
	}
	re, err := s.refund(c.tx, ch, amount, reason, md)
	if err != nil {
		return nil, err
	}
	return s.render(c.acct, re, formList(f, "expand"))
}

// refund refunds amount (0: what is left) of a charge. Card and bank refunds
// succeed at once in test mode.
func (s *Server) refund(t *tx, ch *charge, amount int64, reason string, metadata map[string]string) (*refund, *Error) {
	if ch.Status != "succeeded" {
		return nil, invalid("charge_not_refundable", "charge", "Charge %s has not succeeded, so it cannot be refunded.", ch.ID)
	}
	if ch.Disputed {
		return nil, invalid("charge_disputed", "charge", "Charge %s has been charged back; cannot issue a refund.", ch.ID)
	}
	left := ch.Amount - ch.AmountRefunded
	if left == 0 {
		return nil, invalid("charge_already_refunded", "charge", "Charge %s has already been refunded.", ch.ID)
	}
	if amount == 0 {
		amount = left
	}
	if amount > left {
		return nil, invalid("amount_too_large", "amount", "Refund amount (%s) is greater than unrefunded amount on charge (%s)",
			formatMoney(amount, ch.Currency), formatMoney(left, ch.Currency))
	}

	re := &refund{
		owned:         owned{acct: t.acct, seq: s.nextSeq()},
		ID:            newID("re_"),
		Object:        "refund",
		Amount:        amount,
		Charge:        ch.ID,
		Created:       s.unixNow(),
		Currency:      ch.Currency,
		Metadata:      copyMetadata(metadata),
		PaymentIntent: ch.PaymentIntent,
		Reason:        optString(reason),
		Status:        "succeeded",
	}
	if ch.PaymentMethodDetails["type"] == "us_bank_account" {
		re.DestinationDetails = map[string]any{"type": "us_bank_transfer",
			"us_bank_transfer": map[string]any{"reference": nil, "reference_status": "pending"}}
	} else {
		re.DestinationDetails = map[string]any{"type": "card",
			"card": map[string]any{"reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund"}}
	}
	txn := s.newTxn(t.acct, -amount, 0, ch.Currency, "refund", "refund", re.ID, "REFUND FOR CHARGE ("+derefOr(ch.Description, "Payment")+")", "")
	re.BalanceTransaction = &txn.ID
	s.refunds[re.ID] = re
	t.acct.refunds = append(t.acct.refunds, re)
	ch.refundList = append(ch.refundList, re)

	previous := map[string]any{"amount_refunded": ch.AmountRefunded}
	ch.AmountRefunded += amount
	if ch.AmountRefunded == ch.Amount {
		ch.Refunded = true
		previous["refunded"] = false
	}
	t.emit("charge.refunded", ch, previous)
	t.emit("refund.created", re, nil)
	return re, nil
}

// formatMoney writes minor units as Stripe's messages do: $12.34, or the
// code for other currencies.
func formatMoney(amount int64, currency string) string {
	v := fmt.Sprintf("%d.%02d", amount/100, amount%100)
	if currency == "usd" {
		return "$" + v
	}
	return v + " " + strings.ToUpper(currency)
}

// chargeRefunds is the refunds list an expanded charge carries: the newest
// ten.
func (s *Server) chargeRefunds(ch *charge) json.RawMessage {
	b, err := renderPage(s, ch.acct, "/v1/charges/"+ch.ID+"/refunds", ch.refundList, pageQuery{limit: 10})
	if err != nil {
		panic("stripefake: render refunds: " + err.Error())
	}
	return b
}

// listRefunds serves GET /v1/refunds (charge=, payment_intent=).
func (s *Server) listRefunds(c *call) (json.RawMessage, *Error) {
	q, err := s.parsePage(c, "refund")
	if err != nil {
		return nil, err
	}
	chID, piID := c.form.Get("charge"), c.form.Get("payment_intent")
	if chID != "" {
		if _, ok := s.lookup(c.acct, chID).(*charge); !ok {
			return nil, noSuch(http.StatusBadRequest, "charge", chID, "charge")
		}
	}
	if piID != "" {
		if _, ok := s.lookup(c.acct, piID).(*paymentIntent); !ok {
			return nil, noSuch(http.StatusBadRequest, "payment_intent", piID, "payment_intent")
		}
	}
	var match []*refund
	for _, re := range c.acct.refunds {
		if chID != "" && re.Charge != chID {
			continue
		}
		if piID != "" && derefOr(re.PaymentIntent, "") != piID {
			continue
		}
		match = append(match, re)
	}
	return renderPage(s, c.acct, "/v1/refunds", match, q)
}

// Refund refunds a charge as a person in the dashboard would: no reason,
// no metadata. amount 0 refunds what is left. It emits charge.refunded and
// refund.created, and returns the refund id.
func (s *Server) Refund(chargeID string, amount int64) (refundID string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.charges[chargeID]
	if !ok {
		return "", notFoundHelper("charge", chargeID)
	}
	if amount < 0 {
		return "", badParam("parameter_invalid_integer", "amount", "This value must be greater than or equal to 1.")
	}
	t := s.begin(ch.acct)
	re, rerr := s.refund(t, ch, amount, "", nil)
	t.commit()
	if rerr != nil {
		return "", rerr
	}
	return re.ID, nil
}

// Dispute opens a dispute (reason fraudulent, status needs_response) for
// the whole amount of a succeeded charge, as a cardholder's bank would.
// Stripe withdraws the amount and its fee at once, so it emits
// charge.dispute.created and charge.dispute.funds_withdrawn; the charge
// becomes disputed. It returns the dispute id.
func (s *Server) Dispute(chargeID string) (disputeID string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.charges[chargeID]
	if !ok {
		return "", notFoundHelper("charge", chargeID)
	}
	if ch.Status != "succeeded" {
		return "", invalid("", "charge", "Charge %s has not succeeded, so it cannot be disputed.", ch.ID)
	}
	if ch.Disputed {
		return "", invalid("charge_disputed", "charge", "Charge %s is already disputed.", ch.ID)
	}
	now := s.now()
	y, m, d := now.UTC().Date()
	dp := &dispute{
		owned:    owned{acct: ch.acct, seq: s.nextSeq()},
		ID:       newID("dp_"),
		Object:   "dispute",
		Amount:   ch.Amount,
		Charge:   ch.ID,
		Created:  now.Unix(),
		Currency: ch.Currency,
		Evidence: emptyEvidence(),
		EvidenceDetails: map[string]any{
			// Evidence is due by the end of the day a week away.
			"due_by":           time.Date(y, m, d+8, 0, 0, 0, 0, time.UTC).Unix() - 1,
			"has_evidence":     false,
			"past_due":         false,
			"submission_count": 0,
		},
		Metadata:      map[string]string{},
		PaymentIntent: ch.PaymentIntent,
		Reason:        "fraudulent",
		Status:        "needs_response",
	}
	if ch.PaymentMethodDetails["type"] == "card" {
		dp.PaymentMethodDetails = map[string]any{"type": "card", "card": map[string]any{"brand": "visa", "network_reason_code": "10.4"}}
	}
	txn := s.newTxn(ch.acct, -ch.Amount, disputeFee, ch.Currency, "adjustment", "dispute", dp.ID,
		"Chargeback withdrawal for "+ch.ID, "Dispute fee")
	dp.BalanceTransactions = []*balanceTransaction{txn}
	s.disputes[dp.ID] = dp
	ch.Disputed = true

	t := s.begin(ch.acct)
	t.emit("charge.dispute.created", dp, nil)
	t.emit("charge.dispute.funds_withdrawn", dp, nil)
	t.commit()
	return dp.ID, nil
}

// CloseDispute settles an open dispute: won (the amount is reinstated,
// not the fee) or lost. It emits charge.dispute.closed and, when won,
// charge.dispute.funds_reinstated.
func (s *Server) CloseDispute(disputeID string, won bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dp, ok := s.disputes[disputeID]
	if !ok {
		return notFoundHelper("dispute", disputeID)
	}
	if dp.Status == "won" || dp.Status == "lost" {
		return invalid("", "dispute", "Dispute %s is already closed (%s).", dp.ID, dp.Status)
	}
	t := s.begin(dp.acct)
	if !won {
		dp.Status = "lost"
		t.emit("charge.dispute.closed", dp, nil)
		t.commit()
		return nil
	}
	txn := s.newTxn(dp.acct, dp.Amount, 0, dp.Currency, "adjustment", "dispute_reversal", dp.ID,
		"Chargeback reversal for "+dp.Charge, "")
	dp.BalanceTransactions = append(dp.BalanceTransactions, txn)
	dp.Status = "won"
	t.emit("charge.dispute.closed", dp, nil)
	t.emit("charge.dispute.funds_reinstated", dp, nil)
	t.commit()
	return nil
}
