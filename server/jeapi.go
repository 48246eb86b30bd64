package server

import (
	"books/ent/qbolink"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed" // the OpenAPI document
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"books/ent"
	"books/ent/journalentry"
	"books/ent/journalline"
	"books/ent/legalentity"
	"books/ent/predicate"
	"books/internal/apperr"
	"books/internal/audit"
	"books/internal/auth"
	"books/internal/caldate"
	"books/internal/database"
	"books/internal/ids"
	"books/internal/ledger"
	"books/internal/ledger/source"
	"books/internal/money"
	"books/internal/tenant"
)

// jeRequest is the body of POST /api/v1/journal-entries.
type jeRequest struct {
	Entity       string          `json:"entity"`
	Date         string          `json:"date"`
	Description  string          `json:"description"`
	SourceSystem string          `json:"source_system"`
	SourceRef    string          `json:"source_ref"`
	Currency     string          `json:"currency"`
	Lines        []jeLineRequest `json:"lines"`
}

type jeLineRequest struct {
	AccountCode string `json:"account_code,omitempty"`
	AccountID   string `json:"account_id,omitempty"`
	SourceCode  string `json:"source_code,omitempty"`
	// Amounts are decimal strings ("150.00"); parseAmount refuses anything else.
	Debit       json.RawMessage `json:"debit,omitempty"`
	Credit      json.RawMessage `json:"credit,omitempty"`
	Currency    string          `json:"currency,omitempty"`
	Class       string          `json:"class,omitempty"`
	Description string          `json:"description,omitempty"`
	// CustomerID and VendorID optionally name the line's customer or vendor.
	CustomerID string `json:"customer_id,omitempty"`
	VendorID   string `json:"vendor_id,omitempty"`
}

// decodeJERequest reads a request body strictly: unknown fields and trailing data are
// refused. The error is coded MALFORMED_JSON or VALIDATION.
func decodeJERequest(body []byte) (jeRequest, error) {
	var req jeRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return req, apperr.New(apperr.MalformedJSON, "request body is empty")
		case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
			return req, apperr.New(apperr.MalformedJSON, "request body is not valid JSON: %v", err)
		case errors.As(err, &typ) && typ.Field == "":
			return req, apperr.New(apperr.Validation, "request body must be a JSON object, not a JSON %s", typ.Value)
		case errors.As(err, &typ):
			return req, apperr.New(apperr.Validation, "field %s must be %s, not a JSON %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value).WithField(typ.Field)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return req, apperr.New(apperr.Validation, "request has an %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return req, apperr.New(apperr.MalformedJSON, "request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return req, apperr.New(apperr.MalformedJSON, "request body has data after the JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, apperr.New(apperr.MalformedJSON, "request body has data after the JSON object")
	}
	return req, nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct":
		return "an object"
	}
	return goKind
}

// parseAmount reads an optional amount, which must be a JSON string such as "150.00", as
// in GraphQL. A JSON number is refused even when it is exact: most JSON encoders write
// numbers from a float, so a client sending them would round some amount sooner or later.
func parseAmount(raw json.RawMessage, field string) (money.Amount, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return money.Amount{}, nil
	}
	if raw[0] != '"' {
		kind := "a JSON " + jsonValueKind(raw[0])
		return money.Amount{}, apperr.New(apperr.InvalidAmount, "%s must be a decimal string such as \"150.00\", not %s", field, kind).WithField(field)
	}
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		return money.Amount{}, apperr.New(apperr.InvalidAmount, "%s is not a valid string", field).WithField(field)
	}
	a, err := money.Parse(text)
	if err != nil {
		return money.Amount{}, apperr.New(apperr.InvalidAmount, "%s: %v", field, err).WithField(field)
	}
	if a.IsNegative() {
		return money.Amount{}, apperr.New(apperr.InvalidAmount, "%s must not be negative; put the amount on the other side instead", field).WithField(field)
	}
	return a, nil
}

// jsonValueKind names the kind of JSON value that starts with c.
func jsonValueKind(c byte) string {
	switch {
	case c == '-' || c >= '0' && c <= '9':
		return "number"
	case c == 't' || c == 'f':
		return "boolean"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	}
	return "value"
}

// noNUL refuses text with a NUL character, which PostgreSQL cannot store or compare (the
// query fails) while SQLite stores it: without this the same request would be a 500 on one
// database and a 201 on the other.
func noNUL(field, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return apperr.New(apperr.Validation, "%s must not contain a NUL character", field).WithField(field)
	}
	return nil
}

// toEntry validates the request's fields and turns it into a ledger entry for entityID.
func (req jeRequest) toEntry(entityID string) (ledger.Entry, error) {
	e := ledger.Entry{EntityID: entityID, Description: req.Description, SourceRef: req.SourceRef, CreatedVia: string(audit.ViaAPI)}
	if req.Date == "" {
		return e, apperr.New(apperr.Validation, "date is required (YYYY-MM-DD)").WithField("date")
	}
	d, err := caldate.Parse(req.Date)
	if err != nil {
		return e, apperr.New(apperr.Validation, "date %q is not a YYYY-MM-DD date", req.Date).WithField("date")
	}
	e.Date = d
	if e.Source, err = source.Parse(req.SourceSystem); err != nil {
		return e, apperr.New(apperr.Validation, "%v", err).WithField("source_system")
	}
	if err := noNUL("description", req.Description); err != nil {
		return e, err
	}
	if err := noNUL("source_ref", req.SourceRef); err != nil {
		return e, err
	}
	if req.Currency != "" {
		c, err := money.ParseCurrency(req.Currency)
		if err != nil {
			return e, apperr.New(apperr.Validation, "currency %q is not an ISO 4217 code", req.Currency).WithField("currency")
		}
		e.Currency = c
	}
	for i, l := range req.Lines {
		field := fmt.Sprintf("lines[%d]", i)
		for _, f := range [...][2]string{{"account_id", l.AccountID}, {"account_code", l.AccountCode},
			{"source_code", l.SourceCode}, {"class", l.Class}, {"description", l.Description},
			{"customer_id", l.CustomerID}, {"vendor_id", l.VendorID}} {
			if err := noNUL(field+"."+f[0], f[1]); err != nil {
				return e, err
			}
		}
		line := ledger.Line{AccountID: l.AccountID, AccountCode: l.AccountCode, SourceCode: l.SourceCode, Description: l.Description,
			CustomerID: l.CustomerID, VendorID: l.VendorID}
		if line.Debit, err = parseAmount(l.Debit, field+".debit"); err != nil {
			return e, err
		}
		if line.Credit, err = parseAmount(l.Credit, field+".credit"); err != nil {
			return e, err
		}
		if l.Currency != "" {
			c, err := money.ParseCurrency(l.Currency)
			if err != nil {
				return e, apperr.New(apperr.Validation, "currency %q is not an ISO 4217 code", l.Currency).WithField(field + ".currency")
			}
			line.Currency = c
		}
		if strings.HasPrefix(l.Class, "cls_") {
			line.ClassID = l.Class
		} else {
			line.ClassName = l.Class
		}
		e.Lines = append(e.Lines, line)
	}
	return e, nil
}

// routeJEAPI routes the journal-entry API and its OpenAPI description.
func (s *Server) routeJEAPI() {
	s.route("POST /api/v1/journal-entries", "je_api", http.HandlerFunc(s.postJournalEntry))
	s.route("GET /api/v1/journal-entries", "je_api_list", http.HandlerFunc(s.listJournalEntries))
	s.route("GET /api/v1/journal-entries/{id}", "je_api_get", http.HandlerFunc(s.getJournalEntry))
	s.route("GET /api/v1/openapi.json", "openapi", http.HandlerFunc(serveOpenAPI))
}

// authenticateKey authenticates the request's X-Integration-Key. When it fails it has
// answered the request.
func (s *Server) authenticateKey(w http.ResponseWriter, r *http.Request) (context.Context, *auth.Principal, bool) {
	ctx := audit.WithOrigin(r.Context(), audit.ViaAPI, requestID(r.Context()))
	p, err := s.cfg.Auth.AuthenticateKey(ctx, r.Header.Get("X-Integration-Key"))
	if err != nil {
		// Without a valid key the caller is limited by address, so keys cannot be guessed
		// at speed.
		if !s.rateLimited(w, r, nil) {
			s.fail(w, r, err)
		}
		return nil, nil, false
	}
	if s.rateLimited(w, r, p) {
		return nil, nil, false
	}
	return authenticated(ctx, p), p, true
}

// postJournalEntry serves POST /api/v1/journal-entries for external systems.
func (s *Server) postJournalEntry(w http.ResponseWriter, r *http.Request) {
	ctx, p, ok := s.authenticateKey(w, r)
	if !ok {
		return
	}
	if !isJSONRequest(r) {
		s.fail(w, r, apperr.New(apperr.UnsupportedMediaType, "send the entry as Content-Type: application/json"))
		return
	}

	// limitBody has capped the body at MaxBodyBytes.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.fail(w, r, apperr.New(apperr.PayloadTooLarge, "request body is larger than %d bytes", s.cfg.MaxBodyBytes))
			return
		}
		s.fail(w, r, apperr.New(apperr.MalformedJSON, "could not read the request body"))
		return
	}
	req, err := decodeJERequest(body)
	if err != nil {
		s.failStatus(w, r, http.StatusBadRequest, err)
		return
	}
	entity, err := s.resolveEntity(ctx, req.Entity)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !p.Allows(entity.ID, req.SourceSystem) {
		// An unknown source system is reported as invalid input below, but only to a key
		// that may post for the entity at all.
		if source.System(req.SourceSystem).Valid() || !slices.Contains(p.Entities, entity.ID) {
			s.fail(w, r, apperr.New(apperr.Forbidden, "this integration key may not post for entity %s with source system %s", entity.Code, req.SourceSystem))
			return
		}
	}
	entry, err := req.toEntry(entity.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	entry.CreatedBy = p.Subject

	key := r.Header.Get("Idempotency-Key")
	if len(key) > 255 {
		s.fail(w, r, apperr.New(apperr.Validation, "Idempotency-Key is longer than 255 characters"))
		return
	}
	canon, _ := json.Marshal(req)
	sum := sha256.Sum256(canon)
	hash := hex.EncodeToString(sum[:])

	// The first attempt assumes the request is new, as nearly all are, and lets the unique
	// indexes on the source reference and the idempotency key catch a repeat. A repeat (or a
	// concurrent twin that committed first) aborts that attempt; the next one looks both up
	// and replays the earlier answer.
	entry.Entity = entity
	var status int
	var resp []byte
	for attempt := 0; attempt < 3; attempt++ {
		status, resp, err = s.postOnce(ctx, p, entry, key, hash, attempt == 0)
		if apperr.Code(err) != apperr.Conflict {
			break
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusCreated {
		w.Header().Set("Location", "/api/v1/journal-entries/"+entryIDOf(resp))
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp)
}

func (s *Server) postOnce(ctx context.Context, p *auth.Principal, entry ledger.Entry, key, hash string, optimistic bool) (int, []byte, error) {
	var status int
	var resp []byte
	entry.AssumeNew = optimistic
	entry.PlainResult = true // the answer is built from the result's fields
	entry.IdempotencyKey, entry.RequestHash = key, hash
	entry.RequestID = requestID(ctx)
	run := func(c *ent.Client) error {
		if key != "" && !optimistic {
			prev, err := ledger.FindByIdempotencyKey(ctx, c, p.Subject, key)
			switch {
			case err == nil && prev.RequestHash != hash:
				return apperr.New(apperr.IdempotencyConflict, "Idempotency-Key %q was already used with a different request", key)
			case err == nil:
				lines, err := postedLines(ctx, prev)
				if err != nil {
					return err
				}
				status = http.StatusOK
				resp, err = json.Marshal(entryJSONOf(prev, lines))
				return err
			case !ent.IsNotFound(err):
				return err
			}
		}
		// The database writes the posting's audit record (see the ledger guards migration).
		res, err := ledger.Post(ctx, c, entry)
		if err != nil {
			return err
		}
		if res.Created && s.cfg.QuickBooks != nil && s.cfg.QuickBooks.Engine != nil {
			// A connected entity's entry goes to QuickBooks too, asked in this transaction.
			if err := s.cfg.QuickBooks.Engine.Changed(ctx, c, qbolink.RecordTypeJournalEntry, res.Entry.ID); err != nil {
				return err
			}
		}
		lines := res.Lines
		if !res.Created {
			if lines, err = postedLines(ctx, res.Entry); err != nil {
				return err
			}
		}
		status = http.StatusOK
		if res.Created {
			status = http.StatusCreated
		}
		resp, err = json.Marshal(entryJSONOf(res.Entry, lines))
		return err
	}
	// A new request needs no transaction of its own: ledger.Post writes it atomically. Only
	// the retry, which reads the earlier answer, runs in one, and so does every request when
	// QuickBooks is on, so that the entry's push is asked with it.
	var err error
	if optimistic && s.cfg.QuickBooks == nil {
		err = run(s.cfg.Client)
	} else {
		err = ledger.WithTx(ctx, s.cfg.Client, run)
	}
	if err != nil && (ent.IsConstraintError(err) || apperr.Code(err) == apperr.Conflict) {
		return 0, nil, apperr.Wrap(apperr.Conflict, err, "a concurrent request posted the same entry")
	}
	if err == nil && status == http.StatusCreated {
		s.metrics.posted.WithLabelValues("api").Inc()
	}
	return status, resp, err
}

// postedLines reads an existing entry's lines with their account codes and class names.
func postedLines(ctx context.Context, e *ent.JournalEntry) ([]ledger.PostedLine, error) {
	lines, err := e.QueryLines().WithAccount().WithClass().Order(journalline.ByLineNo()).All(ctx)
	if err != nil {
		return nil, err
	}
	return postedLinesOf(lines), nil
}

// postedLinesOf names the accounts and classes of lines loaded with both edges.
func postedLinesOf(lines []*ent.JournalLine) []ledger.PostedLine {
	out := make([]ledger.PostedLine, len(lines))
	for i, l := range lines {
		out[i] = ledger.PostedLine{JournalLine: l}
		if a := l.Edges.Account; a != nil {
			out[i].AccountCode = a.Code
		}
		if cl := l.Edges.Class; cl != nil {
			out[i].ClassName = cl.Name
		}
	}
	return out
}

// keyScope confines a read to what an integration key may see: its organization (the
// tenant scope of ctx), its entities and its source systems, and only entries that were
// posted (a draft is never an answer).
func keyScope(p *auth.Principal) []predicate.JournalEntry {
	systems := make([]source.System, len(p.SourceSystems))
	for i, sys := range p.SourceSystems {
		systems[i] = source.System(sys)
	}
	return []predicate.JournalEntry{
		journalentry.EntityIDIn(p.Entities...),
		journalentry.SourceSystemIn(systems...),
		journalentry.StatusNEQ(journalentry.StatusDraft),
	}
}

// getJournalEntry serves GET /api/v1/journal-entries/{id}: the entry as POST answered it.
// An entry the key may not see is "not found", like one that does not exist, so that a
// key learns nothing about other tenants' ids.
func (s *Server) getJournalEntry(w http.ResponseWriter, r *http.Request) {
	ctx, p, ok := s.authenticateKey(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !plausibleEntryID(id) {
		s.fail(w, r, apperr.New(apperr.NotFound, "journal entry not found"))
		return
	}
	e, err := s.cfg.Client.JournalEntry.Query().
		Where(append(keyScope(p), journalentry.ID(id))...).
		WithLines(withNamedLines).
		Only(ctx)
	if ent.IsNotFound(err) {
		s.fail(w, r, apperr.New(apperr.NotFound, "journal entry not found"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, entryJSONOf(e, postedLinesOf(e.Edges.Lines)))
}

func withNamedLines(q *ent.JournalLineQuery) {
	q.WithAccount().WithClass().Order(journalline.ByLineNo())
}

// plausibleEntryID reports whether id could be a journal entry id. Anything else is not
// sent to the database, where text that is not UTF-8 or holds a NUL is an error on
// PostgreSQL but a plain miss on SQLite.
func plausibleEntryID(id string) bool {
	return strings.HasPrefix(id, ids.JournalEntry+"_") && len(id) <= 64 && utf8.ValidString(id) && strings.IndexByte(id, 0) < 0
}

// Page sizes of the journal-entry list.
const (
	defaultListLimit = 50
	maxListLimit     = 200
)

// listJournalEntries serves GET /api/v1/journal-entries: the entries the key may see, by
// id (which follows creation time), filtered by entity, source system and source
// reference, a page at a time.
func (s *Server) listJournalEntries(w http.ResponseWriter, r *http.Request) {
	ctx, p, ok := s.authenticateKey(w, r)
	if !ok {
		return
	}
	q, err := parseListQuery(r.URL.RawQuery)
	if err != nil {
		s.failStatus(w, r, http.StatusBadRequest, err)
		return
	}
	where := keyScope(p)
	if q.entity != "" {
		le, err := s.resolveEntity(ctx, q.entity)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !slices.Contains(p.Entities, le.ID) {
			s.fail(w, r, apperr.New(apperr.Forbidden, "this integration key may not read entity %s", le.Code).WithField("entity"))
			return
		}
		where = append(where, journalentry.EntityID(le.ID))
	}
	if q.system != "" {
		if !slices.Contains(p.SourceSystems, string(q.system)) {
			s.fail(w, r, apperr.New(apperr.Forbidden, "this integration key may not read source system %s", q.system).WithField("source_system"))
			return
		}
		where = append(where, journalentry.SourceSystemEQ(q.system))
	}
	if q.ref != "" {
		where = append(where, journalentry.SourceRef(q.ref))
	}
	if q.after != "" {
		where = append(where, journalentry.IDGT(q.after))
	}
	entries, err := s.cfg.Client.JournalEntry.Query().
		Where(where...).
		Order(journalentry.ByID()).
		Limit(q.limit + 1).
		WithLines(withNamedLines).
		All(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := entryPage{Entries: make([]entryJSON, 0, min(len(entries), q.limit))}
	if len(entries) > q.limit {
		entries = entries[:q.limit]
		next := encodeCursor(entries[len(entries)-1].ID)
		page.NextCursor = &next
	}
	for _, e := range entries {
		page.Entries = append(page.Entries, entryJSONOf(e, postedLinesOf(e.Edges.Lines)))
	}
	writeJSON(w, http.StatusOK, page)
}

// entryPage is a page of the journal-entry list; NextCursor is null on the last page.
type entryPage struct {
	Entries    []entryJSON `json:"journal_entries"`
	NextCursor *string     `json:"next_cursor"`
}

type listQuery struct {
	entity string
	system source.System
	ref    string
	limit  int
	after  string // the id the page starts after
}

// parseListQuery reads the list's query parameters. Unknown and repeated parameters are
// refused, so that a misspelt filter is an error rather than a list of everything.
func parseListQuery(raw string) (listQuery, error) {
	q := listQuery{limit: defaultListLimit}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return q, apperr.New(apperr.Validation, "the query string is not well formed")
	}
	for name, vs := range values {
		if len(vs) > 1 {
			return q, apperr.New(apperr.Validation, "query parameter %s is given %d times", name, len(vs)).WithField(name)
		}
		v := vs[0]
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
			return q, apperr.New(apperr.Validation, "query parameter %s must be UTF-8 text without NUL characters", name).WithField(name)
		}
		switch name {
		case "entity":
			q.entity = v
		case "source_system":
			if q.system, err = source.Parse(v); err != nil {
				return q, apperr.New(apperr.Validation, "%v", err).WithField(name)
			}
		case "source_ref":
			if len(v) > 200 {
				return q, apperr.New(apperr.Validation, "source_ref is longer than 200 characters").WithField(name)
			}
			q.ref = v
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxListLimit {
				return q, apperr.New(apperr.Validation, "limit must be an integer from 1 to %d", maxListLimit).WithField(name)
			}
			q.limit = n
		case "cursor":
			if q.after = decodeCursor(v); q.after == "" {
				return q, apperr.New(apperr.Validation, "cursor is not a next_cursor this API returned").WithField(name)
			}
		default:
			return q, apperr.New(apperr.Validation, "unknown query parameter %q; the list takes entity, source_system, source_ref, limit and cursor", name).WithField(name)
		}
	}
	return q, nil
}

// A cursor is the id of the last entry of a page, encoded so that clients treat it as
// opaque and the encoding can change.
func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

func decodeCursor(c string) string {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !plausibleEntryID(string(b)) {
		return ""
	}
	return string(b)
}

// resolveEntity finds the entity named by id or code in the caller's organization.
func (s *Server) resolveEntity(ctx context.Context, ref string) (*ent.LegalEntity, error) {
	if ref == "" {
		return nil, apperr.New(apperr.Validation, "entity is required (id or code)").WithField("entity")
	}
	if err := noNUL("entity", ref); err != nil {
		return nil, err
	}
	if e := s.entities.get(orgOf(ctx), ref); e != nil {
		return e, nil
	}
	e, err := s.cfg.Client.LegalEntity.Query().
		Where(legalentity.Or(legalentity.ID(ref), legalentity.Code(ref))).
		First(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.UnknownEntity, "no legal entity with id or code %q", ref).WithField("entity")
	}
	if err != nil {
		return nil, err
	}
	s.entities.put(orgOf(ctx), ref, e)
	return e, nil
}

func orgOf(ctx context.Context) string {
	org, _ := tenant.Org(ctx)
	return org
}

// entityCache remembers how the JE API resolved an entity reference, sparing a query per
// request. An entity's id, organization and currency never change; a renamed code resolves
// to the entity under its old code for at most entityCacheTTL.
type entityCache struct {
	mu sync.Mutex
	m  map[string]cachedEntity
}

type cachedEntity struct {
	e       *ent.LegalEntity
	expires time.Time
}

const entityCacheTTL = 30 * time.Second

func (c *entityCache) get(org, ref string) *ent.LegalEntity {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[org+"\x00"+ref]
	if !ok || time.Now().After(v.expires) {
		return nil
	}
	return v.e
}

func (c *entityCache) put(org, ref string, e *ent.LegalEntity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[string]cachedEntity{}
	}
	c.m[org+"\x00"+ref] = cachedEntity{e: e, expires: time.Now().Add(entityCacheTTL)}
}

type entryLineJSON struct {
	ID          string       `json:"id"`
	LineNo      int          `json:"line_no"`
	AccountID   string       `json:"account_id"`
	AccountCode string       `json:"account_code"`
	Debit       money.Amount `json:"debit"`
	Credit      money.Amount `json:"credit"`
	ClassID     string       `json:"class_id,omitempty"`
	Class       string       `json:"class,omitempty"`
	Description string       `json:"description,omitempty"`
	CustomerID  *string      `json:"customer_id,omitempty"`
	VendorID    *string      `json:"vendor_id,omitempty"`
}

type entryJSON struct {
	ID           string          `json:"id"`
	EntityID     string          `json:"entity_id"`
	Date         caldate.Date    `json:"date"`
	DocumentDate *caldate.Date   `json:"document_date,omitempty"`
	Description  string          `json:"description"`
	Currency     string          `json:"currency"`
	SourceSystem string          `json:"source_system"`
	SourceRef    string          `json:"source_ref"`
	Status       string          `json:"status"`
	Total        money.Amount    `json:"total"`
	PostedAt     *time.Time      `json:"posted_at,omitempty"`
	ReversalOfID *string         `json:"reversal_of_id,omitempty"`
	Lines        []entryLineJSON `json:"lines"`
}

func entryJSONOf(e *ent.JournalEntry, lines []ledger.PostedLine) entryJSON {
	out := entryJSON{
		ID: e.ID, EntityID: e.EntityID, Date: e.Date, DocumentDate: e.DocumentDate,
		Description: e.Description, Currency: e.Currency, SourceSystem: e.SourceSystem.String(),
		SourceRef: e.SourceRef, Status: e.Status.String(), Total: e.Total, PostedAt: e.PostedAt,
		ReversalOfID: e.ReversalOfID, Lines: make([]entryLineJSON, len(lines)),
	}
	for i, l := range lines {
		out.Lines[i] = entryLineJSON{ID: l.ID, LineNo: l.LineNo, AccountID: l.AccountID,
			Debit: l.Debit, Credit: l.Credit, Description: l.Description, CustomerID: l.CustomerID, VendorID: l.VendorID}
		out.Lines[i].AccountCode, out.Lines[i].Class = l.AccountCode, l.ClassName
		if l.ClassID != nil {
			out.Lines[i].ClassID = *l.ClassID
		}
	}
	return out
}

func entryIDOf(resp []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(resp, &v)
	return v.ID
}

// fail writes err as {"error":{…}} with the status its code maps to.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.failStatus(w, r, 0, err)
}

func (s *Server) failStatus(w http.ResponseWriter, r *http.Request, status int, err error) {
	e, ok := apperr.As(err)
	switch {
	case database.IsUnavailable(err):
		// Whatever code a layer gave it, an outage is the caller's cue to retry.
		s.log.Warn("database unavailable", "request_id", requestID(r.Context()), "err", err)
		e, status = apperr.Wrap(apperr.Unavailable, err, unavailableMessage), 0
		w.Header().Set("Retry-After", unavailableRetryAfter)
	case !ok:
		s.log.Error("request failed", "request_id", requestID(r.Context()), "err", err)
		e = apperr.New(apperr.Internal, "internal error; quote request id %s", requestID(r.Context()))
	}
	if status == 0 {
		status = apperr.HTTPStatus(e.Code)
	}
	noteCodes(r.Context(), e.Code)
	body := map[string]string{"code": e.Code, "message": e.Message}
	if e.Field != "" {
		body["field"] = e.Field
	}
	writeJSON(w, status, map[string]any{"error": body})
}

// What an API answers when the database cannot be reached (apperr.Unavailable): a short
// wait, since a restarting or failing-over database is usually back within seconds.
const (
	unavailableMessage    = "the database is unavailable; try again shortly"
	unavailableRetryAfter = "5"
)

// openAPIDocument describes the journal-entry API (OpenAPI 3.1). openapi_test.go checks
// it against the handlers.
//
//go:embed openapi.json
var openAPIDocument []byte

// serveOpenAPI serves the OpenAPI document; it is public, like any API reference.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDocument)
}
