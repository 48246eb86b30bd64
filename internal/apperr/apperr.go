// Package apperr gives domain errors a stable code. The GraphQL error presenter puts the
// code in extensions.code and the REST APIs return {"error":{"code","message"}}, so callers
// branch on codes, never on message text.
package apperr

import (
	"errors"
	"fmt"
	"net/http"
)

// Codes shared across the product. Each names a condition a caller can act on.
const (
	Validation          = "VALIDATION"
	NotFound            = "NOT_FOUND"
	Forbidden           = "FORBIDDEN"
	Unauthenticated     = "UNAUTHENTICATED"
	Conflict            = "CONFLICT"
	IdempotencyConflict = "IDEMPOTENCY_CONFLICT"
	UnbalancedEntry     = "UNBALANCED_ENTRY"
	PeriodClosed        = "PERIOD_CLOSED"
	UnknownSourceCode   = "UNKNOWN_SOURCE_CODE"
	UnknownAccount      = "UNKNOWN_ACCOUNT"
	InactiveAccount     = "INACTIVE_ACCOUNT"
	UnknownClass        = "UNKNOWN_CLASS"
	UnknownEntity       = "UNKNOWN_ENTITY"
	CurrencyMismatch    = "CURRENCY_MISMATCH"
	InvalidAmount       = "INVALID_AMOUNT"
	AlreadyReversed     = "ALREADY_REVERSED"
	LedgerImmutable     = "LEDGER_IMMUTABLE"
	PayloadTooLarge     = "PAYLOAD_TOO_LARGE"
	InvalidTransition   = "INVALID_TRANSITION"
	NotEditable         = "NOT_EDITABLE"
	SelfApproval        = "SELF_APPROVAL"
	OverApplication     = "OVER_APPLICATION"
	OverRefund          = "OVER_REFUND"
	UnknownItem         = "UNKNOWN_ITEM"
	UnknownCustomer     = "UNKNOWN_CUSTOMER"
	InvalidQuantity     = "INVALID_QUANTITY"
	DuplicateName       = "DUPLICATE_NAME"
	MalformedJSON       = "MALFORMED_JSON"
	// DocumentOwned: the entry (or source reference) belongs to a Books document; only the
	// document's own operations (void, unapply, refund) may undo it.
	DocumentOwned = "DOCUMENT_OWNED"
	// ControlAccount: Accounts Receivable, Customer Credits and Accounts Payable are posted
	// only by documents, so each always equals its subledger.
	ControlAccount = "CONTROL_ACCOUNT"
	// AccountInUse: an account with postings keeps its type and subtype.
	AccountInUse = "ACCOUNT_IN_USE"
	// QBONotConnected: the legal entity's QuickBooks connection cannot be used: it was
	// disconnected, or QuickBooks refused its refresh token and someone must connect again.
	QBONotConnected = "QBO_NOT_CONNECTED"
	// QBORealmInUse: the QuickBooks company is already connected to another legal entity
	// (each company belongs to one entity, even after it disconnects).
	QBORealmInUse = "QBO_REALM_IN_USE"
	// QBOStateInvalid: the OAuth callback's state is unknown, forged, expired or used.
	QBOStateInvalid = "QBO_STATE_INVALID"
	// QBOFault: QuickBooks refused a write; the message carries its fault code and text.
	QBOFault = "QBO_FAULT"
	// QBOAmbiguousMatch: more than one QuickBooks record matches a Books record that is not
	// linked yet; a person links the right one instead of Books guessing.
	QBOAmbiguousMatch = "QBO_AMBIGUOUS_MATCH"
	// QBOCustomerEmailRequired: an invoice's customer has no email, which the push requires.
	QBOCustomerEmailRequired = "QBO_CUSTOMER_EMAIL_REQUIRED"
	// QBOAmountMismatch: QuickBooks' total or balance differs from Books' after a push.
	QBOAmountMismatch = "QBO_AMOUNT_MISMATCH"
	// QBOUnmapped: a Books account, payment method or setting the push needs has no
	// QuickBooks counterpart yet (map it, or run "Update lists").
	QBOUnmapped = "QBO_UNMAPPED"
	// QBONotPushable: the record cannot be pushed in its state (a draft invoice, a link to
	// another connection).
	QBONotPushable = "QBO_NOT_PUSHABLE"
	// StripeNotConfigured: no Stripe account takes payments for the entity (no billing
	// profile and no default account), or the account cannot be used.
	StripeNotConfigured = "STRIPE_NOT_CONFIGURED"
	// PaymentInProgress: a payment of the invoice is already on its way (a bank debit
	// processing); it is not asked for again until that succeeds or fails.
	PaymentInProgress = "PAYMENT_IN_PROGRESS"
	// StripeError: Stripe refused the request; the message carries Stripe's code and text.
	StripeError = "STRIPE_ERROR"
	// Unavailable: the database cannot be reached right now; try again later (REST answers
	// 503 with Retry-After). A write cut off at its commit may still have been applied, so
	// only an idempotent request (the JE API's) is safe to send again unchanged.
	Unavailable = "UNAVAILABLE"
	Internal    = "INTERNAL"
)

// Codes of the HTTP edge: the request never reached a domain package.
const (
	// BadRequest: the request is not a well-formed GraphQL request (body not a JSON
	// object, query not a string, …).
	BadRequest = "BAD_REQUEST"
	// BatchNotSupported: a JSON array of GraphQL operations; send one per request.
	BatchNotSupported = "BATCH_NOT_SUPPORTED"
	// UnsupportedMediaType: a request body that is not application/json.
	UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	// MethodNotAllowed: for instance a mutation sent with GET.
	MethodNotAllowed = "METHOD_NOT_ALLOWED"
	// RateLimited: the caller sent more requests than its rate allows; Retry-After says
	// when to try again.
	RateLimited = "RATE_LIMITED"
)

// Error is an error with a stable code and a message safe to show a caller.
type Error struct {
	Code    string
	Message string
	// Field optionally names the input field at fault, e.g. "lines[1].debit".
	Field string
	err   error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.err }

// New returns an Error with code and a formatted message.
func New(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error with code whose message is msg and whose cause is err.
func Wrap(code string, err error, msg string) *Error {
	return &Error{Code: code, Message: msg, err: err}
}

// WithField returns a copy of e naming the input field at fault.
func (e *Error) WithField(field string) *Error {
	c := *e
	c.Field = field
	return &c
}

// As returns the coded error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Code returns err's code, Internal when it has none, or "" for nil.
func Code(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := As(err); ok {
		return e.Code
	}
	return Internal
}

// HTTPStatus maps a code to the status a REST API answers with.
func HTTPStatus(code string) int {
	switch code {
	case NotFound:
		return http.StatusNotFound
	case Forbidden:
		return http.StatusForbidden
	case Unauthenticated:
		return http.StatusUnauthorized
	case Conflict, IdempotencyConflict:
		return http.StatusConflict
	case MalformedJSON, BadRequest, BatchNotSupported:
		return http.StatusBadRequest
	case UnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case RateLimited:
		return http.StatusTooManyRequests
	case PayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case Unavailable:
		return http.StatusServiceUnavailable
	case Internal:
		return http.StatusInternalServerError
	}
	return http.StatusUnprocessableEntity
}
