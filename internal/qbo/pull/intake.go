package pull

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"books/ent"
	"books/ent/qboinboxevent"
	"books/internal/apperr"
	"books/internal/groupcommit"
)

// SignatureHeader is the header Intuit signs a webhook body in (qbo-api.md §12).
const SignatureHeader = "intuit-signature"

// MaxCloudEvents is the most CloudEvents one webhook POST may carry; Intuit sends at most
// 100 per POST.
const MaxCloudEvents = 100

// Limits of the inbox's columns a notification must fit (see ent/schema QBOInboxEvent).
const (
	maxRealm  = 64
	maxField  = 40 // entity, id, operation
	maxCEType = 200
)

// Intake receives QuickBooks' webhook deliveries: it checks the signature, parses the body
// (CloudEvents or the legacy format) and stores each event in the inbox (Puller.Store),
// making no QuickBooks call, so it answers well within the 3 seconds Intuit allows. A
// delivery that fails the signature or the parse stores nothing.
//
// Deliveries that arrive while a store is running wait for it and are then stored together,
// in one transaction (internal/groupcommit): under load a store costs one transaction and one
// inbox job per connection for many deliveries instead of one each, while a lone delivery is
// stored at once. Each delivery is answered only once its store has committed.
type Intake struct {
	Puller *Puller
	Client *ent.Client
	// Verifier is the Intuit app's webhook verifier token, the HMAC key of every delivery.
	// It is a secret: nothing here logs it or puts it in an error. Empty refuses every
	// delivery.
	Verifier string
	// OnStore, when set, is told what each store did (the server counts it). A store may
	// hold several deliveries, so the counts are per store, not per delivery.
	OnStore func(Stored)
	// MaxBatch bounds the notifications stored in one transaction; 0 is 1,000. A delivery
	// is never split.
	MaxBatch int

	once  sync.Once
	batch groupcommit.Batcher[Notification]
}

// storeTimeout bounds one store.
const storeTimeout = 30 * time.Second

// Receive verifies body against signature (the intuit-signature header), parses it and
// stores its notifications, returning how many it held: each is in the inbox once this
// returns nil, stored now or by an earlier delivery. A missing or wrong signature is
// UNAUTHENTICATED; a signed body that is not a webhook body (bad JSON, another shape, more
// than MaxCloudEvents events, an event without realm, entity or id) is VALIDATION; other
// errors are the database's (an outage passes database.IsUnavailable) or ctx's (the store
// goes on; a delivery sent again collapses into what it stored).
func (in *Intake) Receive(ctx context.Context, body []byte, signature string) (int, error) {
	if signature == "" {
		return 0, apperr.New(apperr.Unauthenticated, "the %s header is missing", SignatureHeader)
	}
	if !Verify(in.Verifier, body, signature) {
		return 0, apperr.New(apperr.Unauthenticated, "the %s header does not match the body", SignatureHeader)
	}
	notes, err := Parse(body)
	if err != nil || len(notes) == 0 {
		return 0, err
	}
	if err := in.batcher().Submit(ctx, notes); err != nil {
		return 0, err
	}
	return len(notes), nil
}

func (in *Intake) batcher() *groupcommit.Batcher[Notification] {
	in.once.Do(func() {
		in.batch.MaxBatch = in.MaxBatch
		in.batch.Timeout = storeTimeout
		in.batch.Store = func(ctx context.Context, notes []Notification) error {
			st, err := in.Puller.Store(ctx, in.Client, notes)
			if err == nil && in.OnStore != nil {
				in.OnStore(st)
			}
			return err
		}
		in.batch.OnPanic = func(v any, stack []byte) {
			in.Puller.log().Error("panic storing QuickBooks notifications", "panic", v, "stack", string(stack))
		}
	})
	return &in.batch
}

// Verify reports whether signature is base64(HMAC-SHA256(key = token, message = body)), the
// intuit-signature of body, comparing in constant time. An empty token, an empty signature
// or one that is not base64 never verifies.
func Verify(token string, body []byte, signature string) bool {
	if token == "" || signature == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(token))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// Parse reads a webhook body: a JSON array of up to MaxCloudEvents CloudEvents (realms may
// be mixed), or the legacy {"eventNotifications":[…]}. Each event becomes one Notification
// whose Payload is that event alone, as JSON: the CloudEvent object, or a legacy change as a
// notification of its realm holding that one entity ({"realmId":…,"dataChangeEvent":
// {"entities":[…]}}). An error is coded VALIDATION.
func Parse(body []byte) ([]Notification, error) {
	if !utf8.Valid(body) {
		return nil, invalid("the body is not UTF-8 text")
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, invalid("the body is empty")
	}
	switch trimmed[0] {
	case '[':
		return parseCloudEvents(body)
	case '{':
		return parseLegacy(body)
	}
	return nil, invalid(`the body is neither a JSON array of CloudEvents nor {"eventNotifications":[…]}`)
}

func invalid(format string, args ...any) *apperr.Error {
	return apperr.New(apperr.Validation, format, args...)
}

// cloudEvent holds the fields of a QuickBooks CloudEvent that Books reads.
type cloudEvent struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Time      string `json:"time"`
	EntityID  string `json:"intuitentityid"`
	AccountID string `json:"intuitaccountid"` // the realm
}

func parseCloudEvents(body []byte) ([]Notification, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, invalid("the body is not valid JSON: %v", err)
	}
	if len(raw) > MaxCloudEvents {
		return nil, invalid("the body holds %d events; at most %d are allowed", len(raw), MaxCloudEvents)
	}
	out := make([]Notification, 0, len(raw))
	for i, r := range raw {
		var ev cloudEvent
		if t := bytes.TrimSpace(r); len(t) == 0 || t[0] != '{' {
			return nil, invalid("events[%d] is not a JSON object", i)
		}
		if err := json.Unmarshal(r, &ev); err != nil {
			return nil, invalid("events[%d]: %v", i, err)
		}
		if len(ev.Type) > maxCEType {
			return nil, invalid("events[%d]: type is longer than %d characters", i, maxCEType)
		}
		entity, op, ok := splitEventType(ev.Type)
		if !ok {
			return nil, invalid("events[%d]: type %q is not qbo.<entity>.<verb>.v<n>", i, ev.Type)
		}
		if ev.ID == "" {
			return nil, invalid("events[%d] has no id", i)
		}
		n := Notification{
			Source: qboinboxevent.SourceCloudevents, Key: EventKey(ev.AccountID, ev.ID),
			RealmID: ev.AccountID, Entity: entity, ID: ev.EntityID, Operation: op,
			OccurredAt: parseEventTime(ev.Time), Payload: r,
		}
		if err := checkNotification(n, "events", i); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// legacyBody is the legacy webhook body; eventNotifications is a pointer so that its
// absence (another JSON object) is told from an empty list.
type legacyBody struct {
	EventNotifications *[]struct {
		RealmID         string `json:"realmId"`
		DataChangeEvent struct {
			Entities []json.RawMessage `json:"entities"`
		} `json:"dataChangeEvent"`
	} `json:"eventNotifications"`
}

type legacyEntity struct {
	Name        string `json:"name"`
	ID          string `json:"id"`
	Operation   string `json:"operation"`
	LastUpdated string `json:"lastUpdated"`
}

func parseLegacy(body []byte) ([]Notification, error) {
	var lb legacyBody
	if err := json.Unmarshal(body, &lb); err != nil {
		return nil, invalid("the body is not a legacy webhook body: %v", err)
	}
	if lb.EventNotifications == nil {
		return nil, invalid(`the body is a JSON object without "eventNotifications"`)
	}
	var out []Notification
	k := 0
	for i, en := range *lb.EventNotifications {
		if en.RealmID == "" {
			return nil, invalid("eventNotifications[%d] has no realmId", i)
		}
		realm, _ := json.Marshal(en.RealmID)
		for _, r := range en.DataChangeEvent.Entities {
			var e legacyEntity
			if t := bytes.TrimSpace(r); len(t) == 0 || t[0] != '{' {
				return nil, invalid("eventNotifications[%d]: an entity is not a JSON object", i)
			}
			if err := json.Unmarshal(r, &e); err != nil {
				return nil, invalid("eventNotifications[%d]: %v", i, err)
			}
			// The payload is the one change as a legacy notification of its own.
			payload := make([]byte, 0, len(r)+len(realm)+64)
			payload = append(payload, `{"realmId":`...)
			payload = append(payload, realm...)
			payload = append(payload, `,"dataChangeEvent":{"entities":[`...)
			payload = append(payload, r...)
			payload = append(payload, "]}}"...)
			n := Notification{
				Source: qboinboxevent.SourceLegacy, Key: ChangeKey(en.RealmID, e.Name, e.ID, e.Operation, e.LastUpdated),
				RealmID: en.RealmID, Entity: e.Name, ID: e.ID, Operation: e.Operation,
				OccurredAt: parseEventTime(e.LastUpdated), Payload: payload,
			}
			if err := checkNotification(n, "entities", k); err != nil {
				return nil, err
			}
			out = append(out, n)
			k++
		}
	}
	return out, nil
}

// checkNotification refuses a notification the inbox could not hold, with a message naming
// the event (list[i]) and what is wrong: every field present, within its column, without NUL
// (which PostgreSQL cannot store).
func checkNotification(n Notification, list string, i int) error {
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"realm", n.RealmID, maxRealm}, {"entity", n.Entity, maxField}, {"id", n.ID, maxField},
		{"operation", n.Operation, maxField}, {"key", n.Key, maxKey},
	} {
		switch {
		case f.v == "":
			return invalid("%s[%d] has no %s", list, i, f.name)
		case len(f.v) > f.max:
			return invalid("%s[%d]: the %s is longer than %d bytes", list, i, f.name, f.max)
		case strings.IndexByte(f.v, 0) >= 0:
			return invalid("%s[%d]: the %s holds a NUL character", list, i, f.name)
		}
	}
	return nil
}

// splitEventType reads a CloudEvents type, qbo.<entity>.<verb>.v<n>, into QuickBooks'
// entity name and operation.
func splitEventType(t string) (entity, op string, ok bool) {
	parts := strings.Split(t, ".")
	if len(parts) < 3 || len(parts) > 4 || parts[0] != "qbo" || parts[1] == "" || parts[2] == "" ||
		(len(parts) == 4 && !strings.HasPrefix(parts[3], "v")) {
		return "", "", false
	}
	return EntityName(parts[1]), operationOf(parts[2]), true
}

// entityNames are QuickBooks' entity names by the lowercase form CloudEvents types carry.
var entityNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"Account", "Attachable", "Bill", "BillPayment", "Budget", "Class", "CompanyCurrency", "CompanyInfo",
		"CreditCardPayment", "CreditMemo", "Currency", "Customer", "CustomerType", "Department", "Deposit",
		"Employee", "Estimate", "ExchangeRate", "Invoice", "Item", "JournalCode", "JournalEntry", "Payment",
		"PaymentMethod", "Preferences", "Purchase", "PurchaseOrder", "RecurringTransaction", "RefundReceipt",
		"ReimburseCharge", "SalesReceipt", "TaxAgency", "TaxCode", "TaxPayment", "TaxRate", "Term",
		"TimeActivity", "Transfer", "Vendor", "VendorCredit",
	} {
		m[strings.ToLower(n)] = n
	}
	return m
}()

// EntityName is QuickBooks' name of the entity a CloudEvents type calls lower (payment is
// Payment, creditmemo CreditMemo); one it does not know is capitalised.
func EntityName(lower string) string {
	if n, ok := entityNames[strings.ToLower(lower)]; ok {
		return n
	}
	return capitalise(lower)
}

// operations are the operations of the legacy format by the verb of a CloudEvents type.
var operations = map[string]string{
	"created": "Create", "updated": "Update", "deleted": "Delete", "voided": "Void", "merged": "Merge",
}

func operationOf(verb string) string {
	if op, ok := operations[strings.ToLower(verb)]; ok {
		return op
	}
	return capitalise(verb)
}

func capitalise(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[size:]
}

// parseEventTime reads a CloudEvents time or a legacy lastUpdated (RFC 3339); nil when it
// is absent or not a time.
func parseEventTime(s string) *time.Time {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	t = t.UTC()
	return &t
}
