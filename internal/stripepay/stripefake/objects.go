package stripefake

import (
	"encoding/json"
	"time"
)

// The object types below marshal to the JSON of API version 2023-10-16.
// Fields the fake never sets are still present (as null) because Stripe
// always sends them and code reading raw JSON may rely on the key existing.

// owned is embedded in every record: the account it belongs to and its
// creation sequence. Neither is marshaled.
type owned struct {
	acct *account
	seq  int64
}

func (o *owned) owner() *owned { return o }

// record is any stored object.
type record interface{ owner() *owned }

type paymentIntent struct {
	owned
	// pendingMethod is a payment_method given at creation, used by a later
	// confirm that names none.
	pendingMethod string
	// methodType is the type of the payment method of the latest attempt.
	methodType string

	ID                                string            `json:"id"`
	Object                            string            `json:"object"`
	Amount                            int64             `json:"amount"`
	AmountCapturable                  int64             `json:"amount_capturable"`
	AmountDetails                     map[string]any    `json:"amount_details"`
	AmountReceived                    int64             `json:"amount_received"`
	Application                       any               `json:"application"`
	ApplicationFeeAmount              any               `json:"application_fee_amount"`
	AutomaticPaymentMethods           map[string]any    `json:"automatic_payment_methods"`
	CanceledAt                        *int64            `json:"canceled_at"`
	CancellationReason                *string           `json:"cancellation_reason"`
	CaptureMethod                     string            `json:"capture_method"`
	ClientSecret                      string            `json:"client_secret"`
	ConfirmationMethod                string            `json:"confirmation_method"`
	Created                           int64             `json:"created"`
	Currency                          string            `json:"currency"`
	Customer                          *string           `json:"customer"`
	Description                       *string           `json:"description"`
	Invoice                           *string           `json:"invoice"`
	LastPaymentError                  *wireError        `json:"last_payment_error"`
	LatestCharge                      *string           `json:"latest_charge"`
	Livemode                          bool              `json:"livemode"`
	Metadata                          map[string]string `json:"metadata"`
	NextAction                        any               `json:"next_action"`
	OnBehalfOf                        any               `json:"on_behalf_of"`
	PaymentMethod                     *string           `json:"payment_method"`
	PaymentMethodConfigurationDetails any               `json:"payment_method_configuration_details"`
	PaymentMethodOptions              map[string]any    `json:"payment_method_options"`
	PaymentMethodTypes                []string          `json:"payment_method_types"`
	Processing                        any               `json:"processing"`
	ReceiptEmail                      *string           `json:"receipt_email"`
	Review                            any               `json:"review"`
	SetupFutureUsage                  any               `json:"setup_future_usage"`
	Shipping                          any               `json:"shipping"`
	Source                            any               `json:"source"`
	StatementDescriptor               *string           `json:"statement_descriptor"`
	StatementDescriptorSuffix         *string           `json:"statement_descriptor_suffix"`
	Status                            string            `json:"status"`
	TransferData                      any               `json:"transfer_data"`
	TransferGroup                     any               `json:"transfer_group"`
}

type charge struct {
	owned
	refundList []*refund // oldest first

	ID                            string            `json:"id"`
	Object                        string            `json:"object"`
	Amount                        int64             `json:"amount"`
	AmountCaptured                int64             `json:"amount_captured"`
	AmountRefunded                int64             `json:"amount_refunded"`
	Application                   any               `json:"application"`
	ApplicationFee                any               `json:"application_fee"`
	ApplicationFeeAmount          any               `json:"application_fee_amount"`
	BalanceTransaction            *string           `json:"balance_transaction"`
	BillingDetails                map[string]any    `json:"billing_details"`
	CalculatedStatementDescriptor string            `json:"calculated_statement_descriptor"`
	Captured                      bool              `json:"captured"`
	Created                       int64             `json:"created"`
	Currency                      string            `json:"currency"`
	Customer                      *string           `json:"customer"`
	Description                   *string           `json:"description"`
	Disputed                      bool              `json:"disputed"`
	FailureBalanceTransaction     any               `json:"failure_balance_transaction"`
	FailureCode                   *string           `json:"failure_code"`
	FailureMessage                *string           `json:"failure_message"`
	FraudDetails                  map[string]any    `json:"fraud_details"`
	Invoice                       *string           `json:"invoice"`
	Livemode                      bool              `json:"livemode"`
	Metadata                      map[string]string `json:"metadata"`
	OnBehalfOf                    any               `json:"on_behalf_of"`
	Outcome                       map[string]any    `json:"outcome"`
	Paid                          bool              `json:"paid"`
	PaymentIntent                 *string           `json:"payment_intent"`
	PaymentMethod                 *string           `json:"payment_method"`
	PaymentMethodDetails          map[string]any    `json:"payment_method_details"`
	ReceiptEmail                  *string           `json:"receipt_email"`
	ReceiptNumber                 any               `json:"receipt_number"`
	ReceiptURL                    any               `json:"receipt_url"`
	Refunded                      bool              `json:"refunded"`
	Review                        any               `json:"review"`
	Shipping                      any               `json:"shipping"`
	Source                        any               `json:"source"`
	SourceTransfer                any               `json:"source_transfer"`
	StatementDescriptor           any               `json:"statement_descriptor"`
	StatementDescriptorSuffix     any               `json:"statement_descriptor_suffix"`
	Status                        string            `json:"status"`
	TransferData                  any               `json:"transfer_data"`
	TransferGroup                 any               `json:"transfer_group"`
}

type refund struct {
	owned

	ID                     string            `json:"id"`
	Object                 string            `json:"object"`
	Amount                 int64             `json:"amount"`
	BalanceTransaction     *string           `json:"balance_transaction"`
	Charge                 string            `json:"charge"`
	Created                int64             `json:"created"`
	Currency               string            `json:"currency"`
	DestinationDetails     map[string]any    `json:"destination_details"`
	Metadata               map[string]string `json:"metadata"`
	PaymentIntent          *string           `json:"payment_intent"`
	Reason                 *string           `json:"reason"`
	ReceiptNumber          any               `json:"receipt_number"`
	SourceTransferReversal any               `json:"source_transfer_reversal"`
	Status                 string            `json:"status"`
	TransferReversal       any               `json:"transfer_reversal"`
}

type dispute struct {
	owned

	ID                   string                `json:"id"`
	Object               string                `json:"object"`
	Amount               int64                 `json:"amount"`
	BalanceTransactions  []*balanceTransaction `json:"balance_transactions"`
	Charge               string                `json:"charge"`
	Created              int64                 `json:"created"`
	Currency             string                `json:"currency"`
	Evidence             map[string]any        `json:"evidence"`
	EvidenceDetails      map[string]any        `json:"evidence_details"`
	IsChargeRefundable   bool                  `json:"is_charge_refundable"`
	Livemode             bool                  `json:"livemode"`
	Metadata             map[string]string     `json:"metadata"`
	PaymentIntent        *string               `json:"payment_intent"`
	PaymentMethodDetails map[string]any        `json:"payment_method_details"`
	Reason               string                `json:"reason"`
	Status               string                `json:"status"`
}

type invoice struct {
	owned

	ID                  string            `json:"id"`
	Object              string            `json:"object"`
	AccountCountry      string            `json:"account_country"`
	AmountDue           int64             `json:"amount_due"`
	AmountPaid          int64             `json:"amount_paid"`
	AmountRemaining     int64             `json:"amount_remaining"`
	AttemptCount        int64             `json:"attempt_count"`
	Attempted           bool              `json:"attempted"`
	AutoAdvance         bool              `json:"auto_advance"`
	BillingReason       string            `json:"billing_reason"`
	Charge              *string           `json:"charge"`
	CollectionMethod    string            `json:"collection_method"`
	Created             int64             `json:"created"`
	Currency            string            `json:"currency"`
	Customer            string            `json:"customer"`
	Description         any               `json:"description"`
	Discount            any               `json:"discount"`
	DueDate             any               `json:"due_date"`
	EffectiveAt         int64             `json:"effective_at"`
	EndingBalance       int64             `json:"ending_balance"`
	HostedInvoiceURL    any               `json:"hosted_invoice_url"`
	InvoicePDF          any               `json:"invoice_pdf"`
	Lines               invoiceLines      `json:"lines"`
	Livemode            bool              `json:"livemode"`
	Metadata            map[string]string `json:"metadata"`
	Number              string            `json:"number"`
	Paid                bool              `json:"paid"`
	PaidOutOfBand       bool              `json:"paid_out_of_band"`
	PaymentIntent       *string           `json:"payment_intent"`
	PeriodEnd           int64             `json:"period_end"`
	PeriodStart         int64             `json:"period_start"`
	StartingBalance     int64             `json:"starting_balance"`
	Status              string            `json:"status"`
	StatusTransitions   map[string]any    `json:"status_transitions"`
	Subscription        string            `json:"subscription"`
	Subtotal            int64             `json:"subtotal"`
	Tax                 any               `json:"tax"`
	Total               int64             `json:"total"`
	WebhooksDeliveredAt any               `json:"webhooks_delivered_at"`
}

type invoiceLines struct {
	Object  string            `json:"object"`
	Data    []invoiceLineItem `json:"data"`
	HasMore bool              `json:"has_more"`
	URL     string            `json:"url"`
}

type invoiceLineItem struct {
	ID           string            `json:"id"`
	Object       string            `json:"object"`
	Amount       int64             `json:"amount"`
	Currency     string            `json:"currency"`
	Description  string            `json:"description"`
	Discountable bool              `json:"discountable"`
	Invoice      string            `json:"invoice"`
	Livemode     bool              `json:"livemode"`
	Metadata     map[string]string `json:"metadata"`
	Period       map[string]int64  `json:"period"`
	Proration    bool              `json:"proration"`
	Quantity     int64             `json:"quantity"`
	Subscription string            `json:"subscription"`
	Type         string            `json:"type"`
}

type balanceTransaction struct {
	owned
	now func() time.Time // status is derived from it when marshaled

	ID                string           `json:"id"`
	Object            string           `json:"object"`
	Amount            int64            `json:"amount"`
	AvailableOn       int64            `json:"available_on"`
	Created           int64            `json:"created"`
	Currency          string           `json:"currency"`
	Description       string           `json:"description"`
	ExchangeRate      any              `json:"exchange_rate"`
	Fee               int64            `json:"fee"`
	FeeDetails        []map[string]any `json:"fee_details"`
	Net               int64            `json:"net"`
	ReportingCategory string           `json:"reporting_category"`
	Source            string           `json:"source"`
	Status            string           `json:"status"`
	Type              string           `json:"type"`
}

// MarshalJSON derives status from the clock: a balance transaction is
// pending until its available_on, as at Stripe.
func (t *balanceTransaction) MarshalJSON() ([]byte, error) {
	type plain balanceTransaction // drops this method, so no recursion
	p := plain(*t)
	p.Status = "pending"
	if t.now().Unix() >= t.AvailableOn {
		p.Status = "available"
	}
	return json.Marshal(p)
}

// wireError is the JSON of a Stripe error, in an error answer and in a
// PaymentIntent's last_payment_error.
type wireError struct {
	Charge        string          `json:"charge,omitempty"`
	Code          string          `json:"code,omitempty"`
	DeclineCode   string          `json:"decline_code,omitempty"`
	DocURL        string          `json:"doc_url,omitempty"`
	Message       string          `json:"message"`
	Param         string          `json:"param,omitempty"`
	PaymentIntent json.RawMessage `json:"payment_intent,omitempty"`
	PaymentMethod json.RawMessage `json:"payment_method,omitempty"`
	Type          string          `json:"type"`
}

// listObject is a page of a Stripe list.
type listObject struct {
	Object  string            `json:"object"`
	Data    []json.RawMessage `json:"data"`
	HasMore bool              `json:"has_more"`
	URL     string            `json:"url"`
}

// mustJSON marshals v, which is always one of the fake's own types; a
// failure is a bug in the fake.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("stripefake: marshal: " + err.Error())
	}
	return b
}

func strPtr(s string) *string { return &s }

// optString is nil for "", so empty optional fields marshal as null.
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func copyMetadata(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func emptyBillingDetails() map[string]any {
	return map[string]any{
		"address": map[string]any{
			"city": nil, "country": nil, "line1": nil, "line2": nil, "postal_code": nil, "state": nil,
		},
		"email": nil,
		"name":  nil,
		"phone": nil,
	}
}

func emptyEvidence() map[string]any {
	keys := []string{
		"access_activity_log", "billing_address", "cancellation_policy", "cancellation_policy_disclosure",
		"cancellation_rebuttal", "customer_communication", "customer_email_address", "customer_name",
		"customer_purchase_ip", "customer_signature", "duplicate_charge_documentation",
		"duplicate_charge_explanation", "duplicate_charge_id", "product_description", "receipt",
		"refund_policy", "refund_policy_disclosure", "refund_refusal_explanation", "service_date",
		"service_documentation", "shipping_address", "shipping_carrier", "shipping_date",
		"shipping_documentation", "shipping_tracking_number", "uncategorized_file", "uncategorized_text",
	}
	m := make(map[string]any, len(keys))
	for _, k := range keys {
		m[k] = nil
	}
	return m
}
