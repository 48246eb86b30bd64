// Package ids makes the public identifiers of every record: a short type prefix and a
// time-ordered ULID, e.g. "je_01jd8x…". The same id is used in the database, GraphQL, REST
// payloads and logs, and its prefix tells Relay's node resolver which table to read.
package ids

import (
	"crypto/rand"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// Prefixes of the record types. Changing one is a migration of every stored id.
const (
	Organization   = "org"
	LegalEntity    = "le"
	Account        = "acct"
	Class          = "cls"
	COAMapping     = "map"
	Period         = "per"
	JournalEntry   = "je"
	JournalLine    = "jl"
	IntegrationKey = "ik"
	Idempotency    = "idem"
	AuditEvent     = "aud"

	Customer           = "cus"
	Vendor             = "ven"
	Item               = "item"
	Invoice            = "inv"
	InvoiceLine        = "invl"
	InvoiceEvent       = "ievt"
	InvoiceSequence    = "iseq"
	Payment            = "pay"
	PaymentApplication = "papp"
	CreditMemo         = "cm"
	CreditApplication  = "capp"
	Refund             = "rfd"
	ChargeReversal     = "chr"
	WriteOff           = "wo"

	AdminIssue = "iss"

	QBOConnection = "qbc"
	QBOLink       = "qbl"
	QBOListEntry  = "qble"
	QBOAuthState  = "qbst"
	QBOInboxEvent = "qbin"

	ReconciliationItem = "rec"

	StripeAccount  = "sa"
	BillingProfile = "bp"
	PaymentAttempt = "patt"
	StripeEvent    = "sevt"

	LedgerSeal         = "seal"
	LedgerVerification = "lver"
)

var (
	mu      sync.Mutex
	entropy = ulid.Monotonic(rand.Reader, 0)
)

// New returns a fresh id with the given prefix.
func New(prefix string) string {
	mu.Lock()
	id := ulid.MustNew(ulid.Timestamp(time.Now()), entropy)
	mu.Unlock()
	return prefix + "_" + strings.ToLower(id.String())
}

// Prefix returns the type prefix of id, or "" when id has none.
func Prefix(id string) string {
	p, _, ok := strings.Cut(id, "_")
	if !ok {
		return ""
	}
	return p
}
