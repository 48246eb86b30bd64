package qbotest

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

const maxBody = 10 << 20

// handleAPI serves /v3/company/{realm}/{entity}[/{id}].
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	realmID := r.PathValue("realm")
	if !s.authenticate(w, r, realmID) {
		return
	}
	realm := s.realms[realmID]
	if r.PathValue("id") == "" {
		switch r.PathValue("entity") {
		case "query":
			if s.handleCompanyInfoQuery(w, r, realm) {
				return
			}
			s.handleQuery(w, r, realm)
			return
		case "cdc":
			s.handleCDC(w, r, realm)
			return
		case "batch":
			s.handleBatch(w, r, realm)
			return
		case "preferences":
			s.handlePreferences(w, r, realm)
			return
		}
	}
	if r.PathValue("entity") == "companyinfo" {
		s.handleCompanyInfo(w, r, realm)
		return
	}
	k := kindByName(r.PathValue("entity"))
	if k == nil || k.path != r.PathValue("entity") {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, unsupportedOp(r.Method+" "+r.PathValue("entity"))))
		return
	}
	id := r.PathValue("id")
	q := r.URL.Query()

	switch {
	case r.Method == http.MethodGet && id != "":
		realm.mu.Lock()
		o, ok := realm.objs[k.name][id]
		var res response
		if ok {
			res = s.entityBody(k, realm.render(k, o))
		} else {
			res = s.faultBody(http.StatusBadRequest, notFound(k, id))
		}
		realm.mu.Unlock()
		s.writeResponse(w, res)
		return
	case r.Method == http.MethodPost && id == "":
	default:
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, unsupportedOp(r.Method+" "+r.URL.Path)))
		return
	}

	reqID := q.Get("requestid")
	if len(reqID) > 50 {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, &fault{Message: "String length is either shorter or longer than supported by specification",
			Detail: "requestid must be at most 50 characters", Code: "2050", Element: "requestid"}))
		return
	}
	if !jsonContent(r) {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, cannotConsume()))
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, badProperty(err.Error())))
		return
	}

	op := q.Get("operation")
	include := options(q["include"]...)
	sig := requestSig(r.Method, k.path, op, include)
	realm.mu.Lock()
	defer realm.mu.Unlock()
	if s.replayed(w, realm, reqID, sig) {
		return
	}
	var res response
	if op == "void" && k.name != "Invoice" {
		// Only Invoice is voided with operation=void; payments use
		// operation=update&include=void (qbo-api.md §5).
		res = s.faultBody(http.StatusBadRequest, unsupportedOp("void on "+k.name+" (use operation=update&include=void)"))
	} else {
		res = s.write(realm, k, op, raw, reqOpts{
			allowDuplicateDocNum: include["allowduplicatedocnum"],
			// Payments are voided with operation=update&include=void (qbo-api.md §5).
			void: include["void"],
		})
	}
	if reqID != "" {
		realm.idem[reqID] = replay{status: res.status, body: res.body, sig: sig}
	}
	s.writeResponse(w, res)
}

// options parses the comma-separated option lists of the include query
// parameter (and of a batch item's optionsData) into lower-case names, so
// include=void,allowduplicatedocnum sets both. Unknown names are kept and
// ignored by callers: QuickBooks documents no fault for them.
func options(lists ...string) map[string]bool {
	out := map[string]bool{}
	for _, l := range lists {
		for _, o := range strings.Split(l, ",") {
			if o = strings.ToLower(strings.TrimSpace(o)); o != "" {
				out[o] = true
			}
		}
	}
	return out
}

// requestSig identifies what a requestid was first used for: method,
// entity path, operation and include options. A replay needs the same one.
func requestSig(method, path, op string, include map[string]bool) string {
	opts := make([]string, 0, len(include))
	for o := range include {
		opts = append(opts, o)
	}
	slices.Sort(opts)
	return method + " " + path + "?operation=" + op + "&include=" + strings.Join(opts, ",")
}

// replayed answers a request whose requestid the realm has seen: the
// stored answer when it was first used for the same kind of request, else
// fault 600 Duplicate Request ID. requestids are unique per company
// (qbo-api.md §9), so a reuse for another request is the client's bug and
// must not be answered with, say, a Customer for an Invoice create. It
// reports whether it wrote an answer. Caller holds realm.mu.
func (s *Server) replayed(w http.ResponseWriter, realm *Realm, reqID, sig string) bool {
	if reqID == "" {
		return false
	}
	rep, ok := realm.idem[reqID]
	if !ok {
		return false
	}
	if rep.sig != sig {
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, &fault{Message: "Duplicate Request ID",
			Detail: "Duplicate Request ID : requestid " + reqID + " was already used for another request", Code: "600", Element: "requestid"}))
		return true
	}
	w.Header().Set("X-Qbotest-Replayed", "true")
	s.writeResponse(w, response{status: rep.status, body: rep.body})
	return true
}

// jsonContent reports whether a write's body is declared as JSON.
// QuickBooks picks the body parser by Content-Type and answers fault 500
// "Operation Cannot consume content type is not supported." otherwise
// (gomodule/oauth1#25, pbrink231/quickbooks-node-promise#24); the emulator
// reads JSON bodies only.
func jsonContent(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func cannotConsume() *fault { return unsupportedOp("Cannot consume content type") }

// write runs a create/update/delete/void. Caller holds realm.mu.
func (s *Server) write(realm *Realm, k *kind, op string, raw []byte, opts reqOpts) response {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body obj
	if err := dec.Decode(&body); err != nil || body == nil {
		msg := "request body must be a JSON object"
		if err != nil {
			msg = err.Error()
		}
		return s.faultBody(http.StatusBadRequest, badProperty(msg))
	}
	out, f := s.apply(realm, k, op, body, opts)
	if f != nil {
		return s.faultBody(http.StatusBadRequest, f)
	}
	return s.entityBody(k, out)
}

// apply runs one create/update/delete/void on a decoded body; single
// requests and batch items share it. Caller holds realm.mu.
func (s *Server) apply(realm *Realm, k *kind, op string, body obj, opts reqOpts) (obj, *fault) {
	_, hasID := body["Id"]
	switch op {
	case "", "create", "update":
		if opts.void && k.name == "Payment" && (op == "update" || hasID) {
			return realm.void(k, body)
		}
		if op == "update" || (op == "" && hasID) {
			return realm.update(k, body, opts)
		}
		return realm.create(k, body, opts)
	case "delete":
		if !k.txn {
			return nil, unsupportedOp("delete on " + k.name + " (set Active to false instead)")
		}
		return realm.remove(k, body)
	case "void":
		if k.name != "Invoice" && k.name != "Payment" {
			return nil, unsupportedOp("void on " + k.name)
		}
		return realm.void(k, body)
	default:
		return nil, unsupportedOp(op)
	}
}

type response struct {
	status int
	body   []byte
}

func (s *Server) entityBody(k *kind, o obj) response {
	b, err := json.Marshal(map[string]any{k.name: o, "time": s.envelopeTime()})
	if err != nil {
		panic(err)
	}
	return response{status: http.StatusOK, body: b}
}

func (s *Server) faultBody(status int, f *fault) response {
	b, err := json.Marshal(map[string]any{
		"Fault": map[string]any{"Error": []*fault{f}, "type": "ValidationFault"},
		"time":  s.envelopeTime(),
	})
	if err != nil {
		panic(err)
	}
	return response{status: status, body: b}
}

func (s *Server) writeResponse(w http.ResponseWriter, res response) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("intuit_tid", randToken("", 8))
	w.WriteHeader(res.status)
	_, _ = w.Write(res.body)
}

// handleUnsupported answers API paths the emulator has no route for
// (invoice/{id}/pdf, invoice/{id}/send, reports/…/…) with the Unsupported
// Operation fault, after the same authentication as any API call, so a
// client never sees a plain-text 404 where QuickBooks sends a fault.
func (s *Server) handleUnsupported(w http.ResponseWriter, r *http.Request) {
	if realmID, _, ok := apiPath(r.URL.Path); ok && !s.authenticate(w, r, realmID) {
		return
	}
	s.writeResponse(w, s.faultBody(http.StatusBadRequest, unsupportedOp(r.Method+" "+r.URL.Path)))
}

// companyInfo is the realm's CompanyInfo, in the shape of the recorded
// reads (ruckus/quickbooks-ruby fetch_company_info_by_id.xml) plus
// FiscalYearStartMonth, which client libraries' models carry. The object's
// Id is "1"; it is read at companyinfo/{realmId}. Nothing here changes
// after the realm is made, so realm.mu is not needed.
func (s *Server) companyInfo(realm *Realm) obj {
	n := 1
	for i, id := range s.realmIDs {
		if id == realm.id {
			n = i + 1
		}
	}
	name := "Sandbox Company_US_" + itoa(n)
	created := s.metaTime(realm.createdAt)
	addr := func() obj {
		return obj{"Id": "1", "Line1": "123 Sierra Way", "City": "San Pablo", "CountrySubDivisionCode": "CA",
			"PostalCode": "87999", "Country": "US"}
	}
	return obj{
		"CompanyName": name, "LegalName": name,
		"CompanyAddr": addr(), "CustomerCommunicationAddr": addr(), "LegalAddr": addr(),
		"CustomerCommunicationEmailAddr": obj{"Address": "noreply@quickbooks.example"},
		"PrimaryPhone":                   obj{"FreeFormNumber": "(650) 555-0100"}, "Email": obj{"Address": "noreply@quickbooks.example"}, "WebAddr": obj{},
		"CompanyStartDate":     realm.createdAt.In(s.cfg.loc).Format("2006-01-02"),
		"FiscalYearStartMonth": "January", "Country": "US", "SupportedLanguages": "en",
		"NameValue": []any{
			obj{"Name": "NeoEnabled", "Value": "true"},
			obj{"Name": "IndustryType", "Value": "Accounting"},
			obj{"Name": "SubscriptionStatus", "Value": "SUBSCRIBED"},
			obj{"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
		},
		"domain": "QBO", "sparse": false, "Id": "1", "SyncToken": "0",
		"MetaData": obj{"CreateTime": created, "LastUpdatedTime": created},
	}
}

// handleCompanyInfo serves GET companyinfo/{realmId} (also companyinfo/1,
// the object's Id). CompanyInfo is read-only in the emulator.
func (s *Server) handleCompanyInfo(w http.ResponseWriter, r *http.Request, realm *Realm) {
	id := r.PathValue("id")
	switch {
	case r.Method != http.MethodGet || id == "":
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, unsupportedOp(r.Method+" "+r.URL.Path+" (CompanyInfo is read-only in the emulator)")))
	case id != realm.id && id != "1":
		s.writeResponse(w, s.faultBody(http.StatusBadRequest, &fault{Message: "Object Not Found",
			Detail: "Object Not Found : CompanyInfo with Id " + id + " was not found.", Code: "610", Element: ""}))
	default:
		b, err := json.Marshal(map[string]any{"CompanyInfo": s.companyInfo(realm), "time": s.envelopeTime()})
		if err != nil {
			panic(err)
		}
		s.writeResponse(w, response{status: http.StatusOK, body: b})
	}
}

// companyInfoQueryRE matches the one CompanyInfo query clients send. The
// entity name is matched case-insensitively, as the live service does.
var companyInfoQueryRE = regexp.MustCompile(`(?is)^\s*select\s+\*\s+from\s+companyinfo\s*(startposition\s+1\s*)?(maxresults\s+\d+\s*)?$`)

// handleCompanyInfoQuery answers "select * from CompanyInfo" here rather
// than in query.go (CompanyInfo is not an entity of the store) and reports
// whether it did; other queries are left to handleQuery with the request
// unchanged. The response has the shape of the recorded query
// (company_info_query.xml: QueryResponse maxResults=1, no totalCount).
func (s *Server) handleCompanyInfoQuery(w http.ResponseWriter, r *http.Request, realm *Realm) bool {
	q := r.URL.Query().Get("query")
	if r.Method == http.MethodPost {
		raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			return false
		}
		r.Body = io.NopCloser(bytes.NewReader(raw))
		q = string(raw)
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			form, _ := url.ParseQuery(q)
			q = form.Get("query")
		}
	}
	if !companyInfoQueryRE.MatchString(q) {
		return false
	}
	b, err := json.Marshal(map[string]any{
		"QueryResponse": map[string]any{"CompanyInfo": []any{s.companyInfo(realm)}, "startPosition": 1, "maxResults": 1},
		"time":          s.envelopeTime(),
	})
	if err != nil {
		panic(err)
	}
	s.writeResponse(w, response{status: http.StatusOK, body: b})
	return true
}

// XML answers. QuickBooks answers XML unless the client asks for JSON
// (qbo-api.md §2: "default format is XML"). The handlers all write JSON;
// for a request that wants XML, Handler buffers the answer and xmlBody
// rewrites it into the XSD's shape (IntuitRestServiceDef.xsd): the root
// IntuitResponse in the v3 namespace with the envelope time as attribute,
// lowercase scalar JSON keys (domain, sparse, status, type, code, element,
// startPosition, maxResults, totalCount, bId, name) as attributes, a ref's
// "value" as the element text, and arrays as repeated elements.

const xmlNamespace = "http://schema.intuit.com/finance/v3"

// wantsXML reports whether r is answered in XML: no Accept, or an Accept
// that names XML before (or without) JSON.
func wantsXML(r *http.Request) bool {
	acc := strings.ToLower(r.Header.Get("Accept"))
	j, x := strings.Index(acc, "json"), strings.Index(acc, "xml")
	return j < 0 || (x >= 0 && x < j)
}

// xmlFirst are elements QuickBooks writes before the others (the XSD
// sequence of IntuitEntity and Error); the rest follow in name order.
var xmlFirst = []string{"Id", "SyncToken", "MetaData", "Message", "Detail"}

// xmlBody rewrites a JSON answer of the emulator as XML.
func (s *Server) xmlBody(js []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var top map[string]any
	if err := dec.Decode(&top); err != nil {
		return nil, err
	}
	// The gateway's 401/403 faults are lowercase in JSON; XML has one
	// spelling (Fault/Error/Message/Detail).
	if f, ok := top["fault"].(map[string]any); ok {
		delete(top, "fault")
		top["Fault"] = canonicalFault(f)
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n")
	b.WriteString(`<IntuitResponse xmlns="` + xmlNamespace + `"`)
	switch t := top["time"].(type) {
	case string:
		writeXMLAttr(&b, "time", t)
	case json.Number: // the gateway's epoch milliseconds
		if ms, err := t.Int64(); err == nil {
			writeXMLAttr(&b, "time", time.UnixMilli(ms).In(s.cfg.loc).Format("2006-01-02T15:04:05.000-07:00"))
		}
	}
	delete(top, "time")
	b.WriteString(">")
	writeXMLChildren(&b, top)
	b.WriteString("</IntuitResponse>\n")
	return []byte(b.String()), nil
}

func canonicalFault(f map[string]any) map[string]any {
	out := map[string]any{"type": f["type"]}
	if errs, ok := f["error"].([]any); ok {
		var list []any
		for _, e := range errs {
			m, _ := e.(map[string]any)
			list = append(list, map[string]any{"Message": m["message"], "Detail": m["detail"], "code": m["code"], "element": m["element"]})
		}
		out["Error"] = list
	}
	return out
}

func xmlAttrKey(k string, v any) bool {
	if k == "" || k[0] < 'a' || k[0] > 'z' || k == "value" {
		return false
	}
	switch v.(type) {
	case string, json.Number, bool:
		return true
	}
	return false
}

func xmlScalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

func writeXMLAttr(b *strings.Builder, k, v string) {
	b.WriteString(" " + k + `="`)
	_ = xml.EscapeText(b, []byte(v))
	b.WriteString(`"`)
}

// writeXMLChildren writes m's element keys (not its attributes) in order.
func writeXMLChildren(b *strings.Builder, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if !xmlAttrKey(k, v) && k != "value" {
			keys = append(keys, k)
		}
	}
	rank := func(k string) int {
		if i := slices.Index(xmlFirst, k); i >= 0 {
			return i
		}
		return len(xmlFirst)
	}
	slices.SortFunc(keys, func(a, c string) int {
		if d := rank(a) - rank(c); d != 0 {
			return d
		}
		return strings.Compare(a, c)
	})
	if v, ok := xmlScalar(m["value"]); ok {
		_ = xml.EscapeText(b, []byte(v))
	}
	for _, k := range keys {
		if list, ok := m[k].([]any); ok {
			for _, e := range list {
				writeXMLElement(b, k, e)
			}
			continue
		}
		writeXMLElement(b, k, m[k])
	}
}

func writeXMLElement(b *strings.Builder, name string, v any) {
	if v == nil {
		return
	}
	b.WriteString("<" + name)
	m, isObj := v.(map[string]any)
	if isObj {
		attrs := make([]string, 0, len(m))
		for k, av := range m {
			if xmlAttrKey(k, av) {
				attrs = append(attrs, k)
			}
		}
		slices.Sort(attrs)
		for _, k := range attrs {
			s, _ := xmlScalar(m[k])
			writeXMLAttr(b, k, s)
		}
	}
	var inner strings.Builder
	if isObj {
		writeXMLChildren(&inner, m)
	} else if s, ok := xmlScalar(v); ok {
		_ = xml.EscapeText(&inner, []byte(s))
	}
	if inner.Len() == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteString(">" + inner.String() + "</" + name + ">")
}
