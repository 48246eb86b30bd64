// Package money holds exact decimal amounts, quantities and ISO 4217 currencies for the
// ledger.
//
// Binary floating point cannot represent most decimal fractions, so a float64 anywhere in
// a posting path eventually makes a ledger fail to balance by a cent. Every value here is a
// scaled int64 instead: an Amount counts 1/10,000 of a currency unit and a Quantity counts
// millionths. Amounts keep four fractional digits, two more than most currencies need, so
// unit prices and tax rates can be carried precisely until a document total is rounded to
// the currency's minor unit with Money.RoundToMinor.
//
// Values cross process boundaries only as decimal strings (JSON, GraphQL, text) or as
// integer units (SQL BIGINT columns), never as floating point numbers.
//
// Limits: values entering the package from outside (Parse, JSON, GraphQL, Mul,
// FromDecimal) are bounded by MaxAbs. Arithmetic between Amounts is exact over the whole
// int64 range, which leaves room to total thousands of maximal amounts, and it panics
// rather than silently wrapping around if that room is ever exhausted.
package money
