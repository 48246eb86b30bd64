package stripefake

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Stripe error types.
const (
	typeInvalidRequest = "invalid_request_error"
	typeCard           = "card_error"
	typeIdempotency    = "idempotency_error"
)

// Error is a Stripe API error. The API answers it as
// {"error":{...}} with status Status; the Go helpers return it.
type Error struct {
	Status  int    // HTTP status: 400, 401, 402 or 404
	Type    string // invalid_request_error, card_error or idempotency_error
	Code    string // e.g. card_declined, resource_missing; may be empty
	Param   string // the parameter at fault, if any
	Message string

	// Card errors also name the charge and decline code, and embed the
	// PaymentIntent and payment method, as Stripe's 402 answers do.
	DeclineCode   string
	Charge        string
	paymentIntent json.RawMessage
	paymentMethod json.RawMessage

	// validation marks a request refused before the endpoint began its
	// work. Stripe does not keep such answers under the idempotency key, so
	// a corrected retry with the same key goes through.
	validation bool
}

func (e *Error) Error() string {
	code := e.Code
	if code == "" {
		code = e.Type
	}
	return fmt.Sprintf("stripefake: %s (%s)", e.Message, code)
}

func (e *Error) wire() wireError {
	return wireError{
		Charge:        e.Charge,
		Code:          e.Code,
		DeclineCode:   e.DeclineCode,
		Message:       e.Message,
		Param:         e.Param,
		PaymentIntent: e.paymentIntent,
		PaymentMethod: e.paymentMethod,
		Type:          e.Type,
	}
}

// invalid is a 400 the endpoint decides on the state of things (an amount
// too large, a PaymentIntent in the wrong status).
func invalid(code, param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// badParam is a 400 for a malformed request.
func badParam(code, param, format string, args ...any) *Error {
	e := invalid(code, param, format, args...)
	e.validation = true
	return e
}

func missingParam(param string) *Error {
	return badParam("parameter_missing", param, "Missing required param: %s.", param)
}

// noSuch is the error for an unknown id: 404 for an id in the path, 400 for
// one in a parameter.
func noSuch(status int, kind, id, param string) *Error {
	return &Error{Status: status, Type: typeInvalidRequest, Code: "resource_missing", Param: param,
		Message: fmt.Sprintf("No such %s: '%s'", kind, id), validation: true}
}

func unexpectedState(format string, args ...any) *Error {
	return invalid("payment_intent_unexpected_state", "", format, args...)
}

// notFoundHelper is the error of a Go helper given an unknown id.
func notFoundHelper(kind, id string) *Error {
	return noSuch(http.StatusNotFound, kind, id, "")
}
