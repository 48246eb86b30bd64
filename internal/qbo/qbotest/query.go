package qbotest

import (
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Query language (qbo-api.md §6):
//
//	SELECT * | SELECT count(*) FROM <Entity>
//	  [WHERE <field> <op> <value> [AND …]]
//	  [ORDERBY <field> [ASC|DESC] [, …]]
//	  [STARTPOSITION n] [MAXRESULTS m]
//
// op is =, <, >, <=, >=, IN (v, …) or LIKE '…%…'. Keywords and entity
// names are case-insensitive (the live service answers `from customer`
// although §6 says names are case-sensitive); fields must be properties of
// the entity (queryableFields), or the query is refused with 4001.

const (
	defaultMaxResults = 100
	maxMaxResults     = 1000
)

// parseError is QBO's 4000 QueryParserError.
func parseError(detail string) *fault {
	return &fault{Message: "Error parsing query", Detail: "QueryParserError: " + detail, Code: "4000", Element: ""}
}

// invalidQuery is QBO's 4001 QueryValidationError.
func invalidQuery(detail string) *fault {
	return &fault{Message: "Invalid query", Detail: "QueryValidationError: " + detail, Code: "4001", Element: ""}
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tPunct // * ( ) ,
	tOp    // = < > <= >= !=
)

type token struct {
	kind tokKind
	text string // identifier/number/punct/op text; unescaped string contents
	col  int    // 1-based
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "<EOF>"
	case tString:
		return "'" + t.text + "'"
	}
	return t.text
}

func lex(q string) ([]token, *fault) {
	var toks []token
	rs := []rune(q)
	for i := 0; i < len(rs); {
		c := rs[i]
		col := i + 1
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '\'':
			var b strings.Builder
			i++
			closed := false
			for i < len(rs) {
				if rs[i] == '\\' && i+1 < len(rs) {
					b.WriteRune(rs[i+1])
					i += 2
					continue
				}
				if rs[i] == '\'' {
					closed = true
					i++
					break
				}
				b.WriteRune(rs[i])
				i++
			}
			if !closed {
				return nil, parseError("Lexical error at line 1, column " + itoa(len(rs)+1) + ".  Encountered: <EOF> after : \"'" + b.String() + "\"")
			}
			toks = append(toks, token{tString, b.String(), col})
		case c == '*' || c == '(' || c == ')' || c == ',':
			toks = append(toks, token{tPunct, string(c), col})
			i++
		case c == '=' || c == '<' || c == '>' || c == '!':
			op := string(c)
			if i+1 < len(rs) && (rs[i+1] == '=' || (c == '<' && rs[i+1] == '>')) {
				op += string(rs[i+1])
			}
			if op == "!" {
				return nil, parseError("Lexical error at line 1, column " + itoa(col) + ".  Encountered: \"!\"")
			}
			toks = append(toks, token{tOp, op, col})
			i += len([]rune(op))
		case c == '-' || c == '.' || unicode.IsDigit(c):
			j := i + 1
			for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == '.') {
				j++
			}
			toks = append(toks, token{tNumber, string(rs[i:j]), col})
			i = j
		case unicode.IsLetter(c) || c == '_':
			j := i + 1
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_' || rs[j] == '.') {
				j++
			}
			toks = append(toks, token{tIdent, string(rs[i:j]), col})
			i = j
		default:
			return nil, parseError("Invalid content. Lexical error at line 1, column " + itoa(col) + ".  Encountered: \"" + string(c) + "\"")
		}
	}
	return append(toks, token{kind: tEOF, col: len(rs) + 1}), nil
}

// literal is a value in a condition.
type literal struct {
	kind tokKind // tString, tNumber, or tIdent for true/false
	text string
}

type cond struct {
	field string
	op    string // = < > <= >= != IN LIKE
	vals  []literal
	// plain holds, for an IN whose values are all plain text (no number, date or boolean),
	// the values lowercased: such values compare case-insensitively as text, so a look-up of
	// thirty names is one map access per row instead of thirty comparisons.
	plain map[string]bool
}

type orderKey struct {
	field string
	desc  bool
}

type query struct {
	count    bool
	fields   []string // a projection's select list (not emulated: proj is set)
	proj     *fault   // the 4000 a valid projection is answered with
	entity   string
	where    []cond
	order    []orderKey
	start    int
	max      int
	startSet bool
	maxSet   bool
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

func (p *parser) unexpected(t token, expecting ...string) *fault {
	d := "Encountered \" " + t.String() + " \" at line 1, column " + itoa(t.col) + "."
	if len(expecting) > 0 {
		d += "\nWas expecting one of:\n    " + strings.Join(expecting, " ...\n    ") + " ..."
	}
	return parseError(d)
}

func (p *parser) isKeyword(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) keyword(kw string) *fault {
	if !p.isKeyword(kw) {
		return p.unexpected(p.peek(), `"`+strings.ToLower(kw)+`"`)
	}
	p.next()
	return nil
}

func (p *parser) punct(s string) *fault {
	if t := p.peek(); t.kind != tPunct || t.text != s {
		return p.unexpected(t, `"`+s+`"`)
	}
	p.next()
	return nil
}

func (p *parser) field() (string, *fault) {
	t := p.peek()
	if t.kind != tIdent || isReserved(t.text) {
		return "", p.unexpected(t, "<IDENTIFIER>")
	}
	p.next()
	return t.text, nil
}

func isReserved(s string) bool {
	switch strings.ToLower(s) {
	case "select", "from", "where", "and", "or", "orderby", "startposition", "maxresults", "in", "like", "asc", "desc":
		return true
	}
	return false
}

func (p *parser) value() (literal, *fault) {
	t := p.peek()
	switch {
	case t.kind == tString:
	case t.kind == tNumber:
		if _, ok := new(big.Rat).SetString(t.text); !ok {
			return literal{}, p.unexpected(t, "<STRING>", "<NUMBER>")
		}
	case t.kind == tIdent && (strings.EqualFold(t.text, "true") || strings.EqualFold(t.text, "false")):
		t.text = strings.ToLower(t.text)
	default:
		return literal{}, p.unexpected(t, "<STRING>", "<NUMBER>", "<BOOLEAN>")
	}
	p.next()
	return literal{kind: t.kind, text: t.text}, nil
}

func (p *parser) integer(kw string) (int, *fault) {
	t := p.peek()
	n, err := strconv.Atoi(t.text)
	if t.kind != tNumber || err != nil {
		return 0, p.unexpected(t, "<INTEGER>")
	}
	if n < 0 {
		return 0, invalidQuery(kw + " must not be negative")
	}
	p.next()
	return n, nil
}

func parseQuery(src string) (*query, *fault) {
	if strings.TrimSpace(src) == "" {
		return nil, parseError("The query provided was empty")
	}
	toks, f := lex(src)
	if f != nil {
		return nil, f
	}
	p := &parser{toks: toks}
	q := &query{start: 1, max: defaultMaxResults}
	if f := p.keyword("select"); f != nil {
		return nil, f
	}
	switch t := p.peek(); {
	case t.kind == tPunct && t.text == "*":
		p.next()
	case t.kind == tIdent && strings.EqualFold(t.text, "count"):
		p.next()
		for _, s := range []string{"(", "*", ")"} {
			if f := p.punct(s); f != nil {
				return nil, f
			}
		}
		q.count = true
	default:
		// Projections (SELECT Id, DisplayName …) are valid QBO but not
		// emulated: the list is parsed so unknown fields get QBO's 4001, and
		// a valid one is then refused with this 4000.
		q.proj = p.unexpected(t, `"*"`, `"count"`)
		for {
			f, fault := p.field()
			if fault != nil {
				return nil, q.proj
			}
			q.fields = append(q.fields, f)
			if t := p.peek(); t.kind != tPunct || t.text != "," {
				break
			}
			p.next()
		}
	}
	if f := p.keyword("from"); f != nil {
		return nil, f
	}
	t := p.peek()
	if t.kind != tIdent || isReserved(t.text) {
		return nil, p.unexpected(t, "<IDENTIFIER>")
	}
	p.next()
	q.entity = t.text

	if p.isKeyword("where") {
		p.next()
		for {
			c, f := p.condition()
			if f != nil {
				return nil, f
			}
			q.where = append(q.where, c)
			if !p.isKeyword("and") {
				break
			}
			p.next()
		}
	}
	if p.isKeyword("orderby") {
		p.next()
		for {
			f, fault := p.field()
			if fault != nil {
				return nil, fault
			}
			k := orderKey{field: f}
			if p.isKeyword("desc") {
				k.desc = true
				p.next()
			} else if p.isKeyword("asc") {
				p.next()
			}
			q.order = append(q.order, k)
			if t := p.peek(); t.kind != tPunct || t.text != "," {
				break
			}
			p.next()
		}
	}
	for {
		switch {
		case p.isKeyword("startposition") && !q.startSet:
			p.next()
			n, f := p.integer("STARTPOSITION")
			if f != nil {
				return nil, f
			}
			q.start, q.startSet = max(n, 1), true
			continue
		case p.isKeyword("maxresults") && !q.maxSet:
			p.next()
			n, f := p.integer("MAXRESULTS")
			if f != nil {
				return nil, f
			}
			if n > maxMaxResults {
				return nil, invalidQuery("MAXRESULTS " + itoa(n) + " exceeds the maximum of " + itoa(maxMaxResults))
			}
			q.max, q.maxSet = n, true
			continue
		}
		break
	}
	if t := p.peek(); t.kind != tEOF {
		exp := []string{"<EOF>"}
		if len(q.order) == 0 {
			exp = append(exp, "<AND>", `"orderby"`)
		}
		return nil, p.unexpected(t, append(exp, `"startposition"`, `"maxresults"`)...)
	}
	return q, nil
}

func (p *parser) condition() (cond, *fault) {
	f, fault := p.field()
	if fault != nil {
		return cond{}, fault
	}
	c := cond{field: f}
	t := p.peek()
	switch {
	case t.kind == tOp:
		p.next()
		c.op = t.text
		if c.op == "<>" {
			c.op = "!="
		}
		v, fault := p.value()
		if fault != nil {
			return cond{}, fault
		}
		c.vals = []literal{v}
	case t.kind == tIdent && strings.EqualFold(t.text, "in"):
		p.next()
		c.op = "IN"
		if fault := p.punct("("); fault != nil {
			return cond{}, fault
		}
		for {
			v, fault := p.value()
			if fault != nil {
				return cond{}, fault
			}
			c.vals = append(c.vals, v)
			if t := p.peek(); t.kind == tPunct && t.text == "," {
				p.next()
				continue
			}
			break
		}
		if fault := p.punct(")"); fault != nil {
			return cond{}, fault
		}
		c.plain = plainSet(c.vals)
	case t.kind == tIdent && strings.EqualFold(t.text, "like"):
		p.next()
		c.op = "LIKE"
		v := p.peek()
		if v.kind != tString {
			return cond{}, p.unexpected(v, "<STRING>")
		}
		p.next()
		c.vals = []literal{{kind: tString, text: v.text}}
	default:
		return cond{}, p.unexpected(t, `"="`, `"<"`, `">"`, `"<="`, `">="`, `"in"`, `"like"`)
	}
	return c, nil
}

// fieldValue walks a dotted path; a ref ({"value","name"}) yields its value.
func fieldValue(o obj, path string) (any, bool) {
	var cur any = o
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(obj)
		if !ok {
			return nil, false
		}
		v, ok := m[part]
		if !ok {
			// Field names are matched case-insensitively as a convenience.
			for k, x := range m {
				if strings.EqualFold(k, part) {
					v, ok = x, true
					break
				}
			}
			if !ok {
				return nil, false
			}
		}
		cur = v
	}
	if m, ok := cur.(obj); ok {
		v, has := m["value"]
		if !has {
			// An email aggregate compares by its address (WHERE PrimaryEmailAddr =
			// 'a@b.example'); any other aggregate is not comparable.
			if v, has = m["Address"]; !has {
				return nil, false
			}
		}
		cur = v
	}
	if cur == nil {
		return nil, false
	}
	return cur, true
}

func parseTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func isInteger(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// compareValues orders two field values (or a field value and a literal
// already converted to a field-like value): numbers numerically, digit-string
// Ids numerically, RFC 3339 times as instants, other strings
// case-insensitively. ok is false when the two cannot be compared.
func compareValues(a, b any) (int, bool) {
	switch x := a.(type) {
	case bool:
		y, ok := b.(bool)
		if !ok {
			return 0, false
		}
		switch {
		case x == y:
			return 0, true
		case !x:
			return -1, true
		}
		return 1, true
	case json.Number:
		return compareNumber(string(x), b)
	case string:
		switch y := b.(type) {
		case json.Number:
			if c, ok := compareNumber(string(y), x); ok {
				return -c, true
			}
			return 0, false
		case string:
			if isInteger(x) && isInteger(y) {
				return compareNumber(x, y)
			}
			if looksLikeDate(x) && looksLikeDate(y) {
				if tx, ok := parseTime(x); ok {
					if ty, ok := parseTime(y); ok {
						return tx.Compare(ty), true
					}
				}
			}
			return strings.Compare(strings.ToLower(x), strings.ToLower(y)), true
		}
	}
	return 0, false
}

// plainSet returns the lowercased values when every one is plain text, else nil.
func plainSet(vals []literal) map[string]bool {
	set := make(map[string]bool, len(vals))
	for _, l := range vals {
		if l.kind != tString || !isPlain(l.text) {
			return nil
		}
		set[strings.ToLower(l.text)] = true
	}
	return set
}

// isPlain says that s compares with other text as text: it is neither an integer nor a date.
func isPlain(s string) bool { return !isInteger(s) && !looksLikeDate(s) }

// looksLikeDate is a cheap test before parseTime, which a look-up of thirty names over a
// large realm would otherwise call for every pair: a date or time starts YYYY-MM-DD.
func looksLikeDate(s string) bool {
	return len(s) >= 10 && s[4] == '-' && s[7] == '-' && isDigits(s[:4]) && isDigits(s[5:7]) && isDigits(s[8:10])
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func compareNumber(x string, b any) (int, bool) {
	rx, ok := new(big.Rat).SetString(x)
	if !ok {
		return 0, false
	}
	var ys string
	switch y := b.(type) {
	case json.Number:
		ys = string(y)
	case string:
		ys = y
	default:
		return 0, false
	}
	ry, ok := new(big.Rat).SetString(ys)
	if !ok {
		return 0, false
	}
	return rx.Cmp(ry), true
}

func (l literal) value() any {
	switch l.kind {
	case tNumber:
		return json.Number(l.text)
	case tIdent:
		return l.text == "true"
	}
	return l.text
}

// like matches s against a pattern where % is any run of characters
// (case-insensitive).
func like(s, pattern string) bool {
	s, pattern = strings.ToLower(s), strings.ToLower(pattern)
	parts := strings.Split(pattern, "%")
	if len(parts) == 1 {
		return s == pattern
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}

func (c cond) match(o obj) bool {
	v, ok := fieldValue(o, c.field)
	if !ok {
		return false
	}
	switch c.op {
	case "IN":
		if sv, ok := v.(string); ok && c.plain != nil && isPlain(sv) {
			return c.plain[strings.ToLower(sv)]
		}
		for _, l := range c.vals {
			if r, ok := compareValues(v, l.value()); ok && r == 0 {
				return true
			}
		}
		return false
	case "LIKE":
		s, ok := v.(string)
		return ok && like(s, c.vals[0].text)
	}
	r, ok := compareValues(v, c.vals[0].value())
	if !ok {
		return false
	}
	switch c.op {
	case "=":
		return r == 0
	case "!=":
		return r != 0
	case "<":
		return r < 0
	case ">":
		return r > 0
	case "<=":
		return r <= 0
	case ">=":
		return r >= 0
	}
	return false
}

// queryKind resolves the FROM entity, ignoring case (the response uses
// the canonical name).
func queryKind(name string) (*kind, *fault) {
	k := kindByName(name)
	if k == nil {
		return nil, invalidQuery("Invalid entity name: " + name)
	}
	return k, nil
}

// execQuery runs a parsed query over rows (rendered objects of the entity,
// most recently written first) and returns the QueryResponse object.
// withTotal says whether a page carries totalCount (a plain query does, a
// batch item does not).
func execQuery(q *query, k *kind, rows []obj, withTotal bool) obj {
	matched := rows[:0:0]
	for _, o := range rows {
		if q.matches(o) {
			matched = append(matched, o)
		}
	}
	if q.count {
		return obj{"totalCount": len(matched)}
	}
	// Without ORDERBY, rows stay most recently updated first, as QuickBooks
	// answers; a client paging that way over a changing list can skip or
	// repeat rows, so it must use ORDERBY or CDC.
	if len(q.order) > 0 {
		sort.SliceStable(matched, func(i, j int) bool {
			for _, key := range q.order {
				a, aok := fieldValue(matched[i], key.field)
				b, bok := fieldValue(matched[j], key.field)
				var r int
				switch {
				case !aok && !bok:
					r = 0
				case !aok:
					r = -1 // missing values first in ascending order
				case !bok:
					r = 1
				default:
					r, _ = compareValues(a, b)
				}
				if key.desc {
					r = -r
				}
				if r != 0 {
					return r < 0
				}
			}
			return false
		})
	}
	from := q.start - 1
	if from >= len(matched) || q.max == 0 {
		return obj{}
	}
	page := matched[from:min(from+q.max, len(matched))]
	list := make([]any, len(page))
	for i, o := range page {
		list[i] = o
	}
	qr := obj{k.name: list, "startPosition": q.start, "maxResults": len(page)}
	if withTotal {
		qr["totalCount"] = len(page)
	}
	return qr
}

// matches says whether o passes the query's WHERE, and the rule that a query returns only
// active list objects unless it filters on Active (§5).
func (q *query) matches(o obj) bool {
	filterActive := true
	for _, c := range q.where {
		if strings.EqualFold(c.field, "Active") {
			filterActive = false
		}
	}
	if a, ok := o["Active"].(bool); ok && !a && filterActive {
		return false
	}
	for _, c := range q.where {
		if !c.match(o) {
			return false
		}
	}
	return true
}

// runQuery parses and executes src; list returns the entity's rendered objects the query
// may match, most recently written first (Realm.queryRows, or queryRowsLocked when the realm
// is already locked). withTotal as for execQuery.
func runQuery(src string, list func(k *kind, q *query) []obj, withTotal bool) (obj, *fault) {
	q, f := parseQuery(src)
	if f != nil {
		return nil, f
	}
	k, f := queryKind(q.entity)
	if f != nil {
		return nil, f
	}
	if f := checkFields(k, q); f != nil {
		return nil, f
	}
	if q.proj != nil {
		return nil, q.proj
	}
	return execQuery(q, k, list(k, q), withTotal), nil
}

// handleQuery serves GET /query?query=… and POST /query (application/text).
func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request, realm *Realm) {
	var src string
	switch r.Method {
	case http.MethodGet:
		src = r.URL.Query().Get("query")
	case http.MethodPost:
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			src = r.FormValue("query")
			break
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			s.writeResponse(w, s.faultBody(http.StatusBadRequest, badProperty(err.Error())))
			return
		}
		src = string(b)
	default:
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, unsupportedOp(r.Method+" "+r.URL.Path)))
		return
	}
	qr, f := runQuery(src, realm.queryRows, true)
	if f != nil {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, f))
		return
	}
	s.writeResponse(w, s.jsonBody(obj{"QueryResponse": qr, "time": s.envelopeTime()}))
}

// jsonBody is a 200 response with v marshalled.
func (s *Server) jsonBody(v any) response {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return response{status: http.StatusOK, body: b}
}

// queryableFields are the top-level properties a query may name, per
// entity: the properties of the QBO v3 entity reference (whether or not the
// emulator models them) plus every property the emulator renders. A query
// naming anything else is refused with 4001, as QBO does; the emulator does
// not reproduce QBO's finer rule that some properties (e.g. Line) exist but
// cannot be filtered on.
var queryableFields = func() map[string][]string {
	common := []string{"Id", "SyncToken", "MetaData"}
	person := []string{"DisplayName", "Title", "GivenName", "MiddleName", "FamilyName", "Suffix",
		"CompanyName", "PrintOnCheckName", "Active", "PrimaryPhone", "AlternatePhone", "Mobile", "Fax",
		"PrimaryEmailAddr", "WebAddr", "BillAddr", "OtherAddr", "Balance", "CurrencyRef", "Notes",
		"GSTIN", "GSTRegistrationType", "BusinessNumber", "Source", "V4IDPseudonym", "FullyQualifiedName"}
	txn := []string{"DocNumber", "TxnDate", "PrivateNote", "Line", "LinkedTxn", "TxnTaxDetail",
		"CurrencyRef", "ExchangeRate", "TotalAmt", "HomeTotalAmt", "DepartmentRef", "ClassRef",
		"TransactionLocationType", "TxnSource", "GlobalTaxCalculation", "ProjectRef",
		"TaxExemptionRef", "RecurDataRef", "CustomField"}
	sales := []string{"CustomerRef", "CustomerMemo", "BillAddr", "ShipAddr", "ShipFromAddr",
		"BillEmail", "BillEmailCc", "BillEmailBcc", "Balance", "HomeBalance", "PrintStatus",
		"EmailStatus", "ApplyTaxAfterDiscount", "SalesTermRef", "PaymentMethodRef",
		"DepositToAccountRef", "ShipMethodRef", "ShipDate", "TrackingNum", "FreeFormAddress"}
	m := map[string][]string{
		"Account": {"Name", "SubAccount", "ParentRef", "Description", "FullyQualifiedName", "Active",
			"Classification", "AccountType", "AccountSubType", "AcctNum", "CurrentBalance",
			"CurrentBalanceWithSubAccounts", "CurrencyRef", "TaxCodeRef", "OpeningBalance",
			"OpeningBalanceDate"},
		"PaymentMethod": {"Name", "Active", "Type"},
		"Item": {"Name", "Sku", "Description", "Active", "SubItem", "ParentRef", "Level",
			"FullyQualifiedName", "Taxable", "SalesTaxIncluded", "UnitPrice", "Type",
			"IncomeAccountRef", "PurchaseDesc", "PurchaseTaxIncluded", "PurchaseCost",
			"ExpenseAccountRef", "AssetAccountRef", "TrackQtyOnHand", "QtyOnHand", "InvStartDate",
			"ReorderPoint", "SalesTaxCodeRef", "PurchaseTaxCodeRef", "ClassRef", "PrefVendorRef",
			"AbatementRate", "ReverseChargeRate", "ServiceType", "ItemCategoryType",
			"TaxClassificationRef", "Source"},
		"Class": {"Name", "SubClass", "ParentRef", "FullyQualifiedName", "Active"},
		"Customer": append(slices.Clone(person), "ShipAddr", "Job", "ParentRef", "Level",
			"BillWithParent", "Taxable", "BalanceWithJobs", "OpenBalanceDate",
			"PreferredDeliveryMethod", "ResaleNum", "SalesTermRef", "PaymentMethodRef",
			"DefaultTaxCodeRef", "CustomerTypeRef", "TaxExemptionReasonId", "PrimaryTaxIdentifier",
			"SecondaryTaxIdentifier", "ARAccountRef", "IsProject", "ClientEntityId"),
		"Vendor": append(slices.Clone(person), "OtherContactInfo", "TaxIdentifier", "AcctNum", "Vendor1099",
			"TermRef", "APAccountRef", "CostRate", "BillRate", "T4AEligible", "T5018Eligible",
			"HasTPAR", "TaxReportingBasis", "VendorPaymentBankDetail"),
		"Invoice": append(slices.Concat(txn, sales), "DueDate", "AllowIPNPayment",
			"AllowOnlinePayment", "AllowOnlineCreditCardPayment", "AllowOnlineACHPayment",
			"DeliveryInfo", "Deposit", "InvoiceLink"),
		"Payment": append(slices.Clone(txn), "CustomerRef", "UnappliedAmt", "ProcessPayment",
			"PaymentMethodRef", "PaymentRefNum", "DepositToAccountRef", "ARAccountRef",
			"CreditCardPayment"),
		"JournalEntry": append(slices.Clone(txn), "Adjustment", "TaxRateRef", "JournalCodeRef"),
		"CreditMemo":   append(slices.Concat(txn, sales), "RemainingCredit", "InvoiceRef"),
		"RefundReceipt": append(slices.Concat(txn, sales), "PaymentRefNum", "PaymentType",
			"CheckPayment", "CreditCardPayment"),
	}
	for name, fields := range m {
		m[name] = append(slices.Clone(common), fields...)
	}
	return m
}()

// metaDataFields are the MetaData properties a query may name.
var metaDataFields = []string{"CreateTime", "LastUpdatedTime"}

// checkFields refuses a query that names a property the entity lacks (in
// the select list, WHERE or ORDERBY) with 4001, instead of matching
// nothing. Names compare case-insensitively, as fieldValue matches them.
func checkFields(k *kind, q *query) *fault {
	paths := slices.Clone(q.fields)
	for _, c := range q.where {
		paths = append(paths, c.field)
	}
	for _, o := range q.order {
		paths = append(paths, o.field)
	}
	for _, p := range paths {
		top, sub, nested := strings.Cut(p, ".")
		ok := containsFold(queryableFields[k.name], top)
		if ok && nested && strings.EqualFold(top, "MetaData") {
			ok = containsFold(metaDataFields, sub)
		}
		if !ok {
			// Wording quoted from real responses in public client code.
			return invalidQuery("Property " + p + " not found for Entity " + k.name)
		}
	}
	return nil
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}
