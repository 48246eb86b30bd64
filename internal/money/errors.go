package money

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them, so callers can
// branch with errors.Is while the message still says which input was wrong.
var (
	// ErrInvalid reports input that is not a well-formed value, such as "1e3", "" or a
	// JSON number where a decimal string is required.
	ErrInvalid = errors.New("invalid money value")
	// ErrTooPrecise reports a value with more fractional digits than its type keeps.
	// Such input is rejected rather than rounded, because silent rounding of an input
	// hides mistakes that a ledger must surface.
	ErrTooPrecise = errors.New("too many fractional digits")
	// ErrOutOfRange reports a value whose magnitude exceeds MaxAbs (or int64 units).
	ErrOutOfRange = errors.New("money value out of range")
	// ErrCurrencyMismatch reports arithmetic between Money values of different currencies.
	ErrCurrencyMismatch = errors.New("currency mismatch")
	// ErrUnknownCurrency reports a code that is not in the ISO 4217 table, including
	// codes that are not upper case.
	ErrUnknownCurrency = errors.New("unknown currency")
)
