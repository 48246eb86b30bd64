package qbotest_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const v3NS = "http://schema.intuit.com/finance/v3"

func urlQuery(q string) string { return url.QueryEscape(q) }

// send makes an API request with the given Accept header ("" sends none)
// and returns status, Content-Type and body.
func (a *apiClient) send(method, path, accept, body string) (int, string, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.srv.URL+"/v3/company/"+a.realm+"/"+path, rd)
	require.NoError(a.t, err)
	req.Header.Set("Authorization", "Bearer "+a.token)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := noRedirect.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// xmlFault is an XML fault answer.
type xmlFault struct {
	XMLName xml.Name `xml:"http://schema.intuit.com/finance/v3 IntuitResponse"`
	Time    string   `xml:"time,attr"`
	Fault   struct {
		Type   string `xml:"type,attr"`
		Errors []struct {
			Code    string  `xml:"code,attr"`
			Element *string `xml:"element,attr"`
			Message string  `xml:"Message"`
			Detail  string  `xml:"Detail"`
		} `xml:"Error"`
	} `xml:"Fault"`
}

// requireXMLFault parses an XML fault and requires exactly one Error; it
// returns the fault type and the Error's code.
func requireXMLFault(t *testing.T, b []byte) (typ, code string) {
	t.Helper()
	var f xmlFault
	require.NoError(t, xml.Unmarshal(b, &f), "body: %s", b)
	require.Regexp(t, timeMillisRE, f.Time)
	require.Len(t, f.Fault.Errors, 1, "body: %s", b)
	require.NotEmpty(t, f.Fault.Errors[0].Message)
	return f.Fault.Type, f.Fault.Errors[0].Code
}

// node is a generic XML element: its name, attribute names and children.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []node     `xml:",any"`
	Text     string     `xml:",chardata"`
}

func parseNode(t *testing.T, b []byte) node {
	t.Helper()
	var n node
	require.NoError(t, xml.Unmarshal(b, &n), "body: %s", b)
	return n
}

func (n node) child(name string) (node, bool) {
	for _, c := range n.Children {
		if c.XMLName.Local == name {
			return c, true
		}
	}
	return node{}, false
}

func (n node) attr(name string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// outline lists the element paths and attribute names under n (values
// ignored), to compare the shape of an answer with a recording.
func (n node) outline(prefix string, out map[string]bool) map[string]bool {
	if out == nil {
		out = map[string]bool{}
	}
	p := prefix + "/" + n.XMLName.Local
	out[p] = true
	for _, a := range n.Attrs {
		if a.Name.Space == "" || a.Name.Space == v3NS {
			out[p+"@"+a.Name.Local] = true
		}
	}
	for _, c := range n.Children {
		c.outline(p, out)
	}
	return out
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "qbo", name))
	require.NoError(t, err)
	return b
}

func TestXMLWhenAsked(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	cases := []struct {
		name, accept string
		xml          bool
	}{
		{"no Accept is XML (the default)", "", true},
		{"application/xml", "application/xml", true},
		{"text/xml", "text/xml", true},
		{"any", "*/*", true},
		{"json", "application/json", false},
		{"json preferred", "application/json, application/xml;q=0.5", false},
		{"xml preferred", "application/xml, application/json;q=0.5", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, ct, b := a.send(get, "item/1", tc.accept, "")
			require.Equal(t, http.StatusOK, status)
			if !tc.xml {
				require.True(t, strings.HasPrefix(ct, "application/json"), ct)
				decode(t, b)
				return
			}
			require.True(t, strings.HasPrefix(ct, "application/xml"), ct)
			n := parseNode(t, b)
			require.Equal(t, xml.Name{Space: v3NS, Local: "IntuitResponse"}, n.XMLName)
			tm, _ := n.attr("time")
			require.Regexp(t, timeMillisRE, tm)
			item, ok := n.child("Item")
			require.True(t, ok, "body: %s", b)
			dom, _ := item.attr("domain")
			require.Equal(t, "QBO", dom)
			id, _ := item.child("Id")
			require.Equal(t, "1", id.Text)
			ref, ok := item.child("IncomeAccountRef")
			require.True(t, ok, "a ref is an element with the value as text")
			name, _ := ref.attr("name")
			require.NotEmpty(t, name)
			require.NotEmpty(t, ref.Text)
		})
	}
}

func TestXMLQueryAndWriteAnswers(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	// A create answered in XML still commits; its entity is in the answer.
	status, _, b := a.send(post, "customer", "application/xml", `{"DisplayName":"Xml Co","Notes":"a < b & c"}`)
	require.Equal(t, http.StatusOK, status)
	c, ok := parseNode(t, b).child("Customer")
	require.True(t, ok, "body: %s", b)
	notes, _ := c.child("Notes")
	require.Equal(t, "a < b & c", notes.Text, "text is escaped")

	status, _, b = a.send(get, "query?query="+urlQuery("select * from Customer"), "", "")
	require.Equal(t, http.StatusOK, status)
	qr, ok := parseNode(t, b).child("QueryResponse")
	require.True(t, ok, "body: %s", b)
	for _, at := range []string{"startPosition", "maxResults"} {
		_, ok := qr.attr(at)
		require.True(t, ok, "QueryResponse@%s", at)
	}
	cust, ok := qr.child("Customer")
	require.True(t, ok)
	dn, _ := cust.child("DisplayName")
	require.Equal(t, "Xml Co", dn.Text)

	// No rows: an empty QueryResponse element.
	status, _, b = a.send(get, "query?query="+urlQuery("select * from Customer where DisplayName = 'Nobody'"), "", "")
	require.Equal(t, http.StatusOK, status)
	qr, ok = parseNode(t, b).child("QueryResponse")
	require.True(t, ok, "body: %s", b)
	require.Empty(t, qr.Children)
}

func TestXMLFaults(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	a.ok(post, "customer", map[string]any{"DisplayName": "Twice"}, "Customer")

	cases := []struct {
		name, method, path, body string
		token                    string
		status                   int
		typ, code                string
	}{
		{"validation", post, "customer", `{"DisplayName":"Twice"}`, "", http.StatusBadRequest, "ValidationFault", "6240"},
		{"not found", get, "invoice/999999", "", "", http.StatusBadRequest, "ValidationFault", "610"},
		{"unsupported", get, "invoice/1/pdf", "", "", http.StatusBadRequest, "ValidationFault", "500"},
		{"query", get, "query?query=" + urlQuery("select from"), "", "", http.StatusBadRequest, "ValidationFault", "4000"},
		{"authentication", get, "item/1", "", "not-a-token-at-all", http.StatusUnauthorized, "AUTHENTICATION", "3200"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := *a
			c.t = t
			if tc.token != "" {
				c.token = tc.token
			}
			status, ct, b := c.send(tc.method, tc.path, "application/xml", tc.body)
			require.Equal(t, tc.status, status, "body: %s", b)
			require.True(t, strings.HasPrefix(ct, "application/xml"), ct)
			typ, code := requireXMLFault(t, b)
			require.Equal(t, tc.typ, typ)
			require.Equal(t, tc.code, code)
		})
	}
}

// The XML validation fault has the recorded shape (customer_duplicate_error.xml).
func TestConformanceXMLFault(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	a.ok(post, "customer", map[string]any{"DisplayName": "Dup Co"}, "Customer")
	status, _, b := a.send(post, "customer", "application/xml", `{"DisplayName":"Dup Co"}`)
	require.Equal(t, http.StatusBadRequest, status)
	want := parseNode(t, readTestdata(t, "customer-duplicate-error.xml")).outline("", nil)
	got := parseNode(t, b).outline("", nil)
	require.Equal(t, want, got)
	_, code := requireXMLFault(t, b)
	require.Equal(t, "6240", code)
	require.True(t, bytes.HasPrefix(b, []byte(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`)))
}

func TestUnsupportedEndpointsAnswerFaults(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	inv := a.ok(post, "invoice", map[string]any{
		"CustomerRef": map[string]any{"value": a.ok(post, "customer", map[string]any{"DisplayName": "Pdf Co"}, "Customer")["Id"]},
		"Line":        []any{map[string]any{"DetailType": "SalesItemLineDetail", "Amount": 10}},
	}, "Invoice")
	id := inv["Id"].(string)
	for _, tc := range []struct{ method, path string }{
		{get, "invoice/" + id + "/pdf"},
		{post, "invoice/" + id + "/send?sendTo=a@example.com"},
		{get, "reports/ProfitAndLoss"},
		{get, "no/such/path/here"},
		{get, "estimate"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			c := *a
			c.t = t
			e := c.fault(tc.method, tc.path, nil)
			require.Equal(t, "500", e["code"])
		})
	}
	// The same paths still authenticate first.
	c := *a
	c.token = "nope-nope-nope"
	status, body := c.do(get, "invoice/"+id+"/pdf", nil)
	require.Equal(t, http.StatusUnauthorized, status)
	requireGateway3200(t, body)
}

func TestCompanyInfo(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	ci := a.ok(get, "companyinfo/"+a.realm, nil, "CompanyInfo")
	for _, k := range []string{"CompanyName", "LegalName", "Country", "FiscalYearStartMonth", "SupportedLanguages",
		"CompanyStartDate", "CompanyAddr", "LegalAddr", "CustomerCommunicationAddr", "Email", "NameValue", "MetaData"} {
		require.NotEmpty(t, ci[k], k)
	}
	require.Equal(t, "1", ci["Id"])
	require.Equal(t, "QBO", ci["domain"])
	require.Equal(t, "US", ci["Country"])
	require.Equal(t, "January", ci["FiscalYearStartMonth"])
	require.Equal(t, ci, a.ok(get, "companyinfo/1", nil, "CompanyInfo"), "the object's own Id reads it too")

	for _, q := range []string{"select * from CompanyInfo", "SELECT * FROM companyinfo", " select *  from CompanyInfo MAXRESULTS 1"} {
		status, m := a.do(get, "query?query="+urlQuery(q), nil)
		require.Equal(t, http.StatusOK, status, "%s: %v", q, m)
		qr := m["QueryResponse"].(map[string]any)
		rows := qr["CompanyInfo"].([]any)
		require.Len(t, rows, 1)
		require.Equal(t, ci, rows[0])
	}
	// POST query (application/text) too.
	status, _, b := a.sendText("query", "select * from CompanyInfo")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, decode(t, b)["QueryResponse"], "CompanyInfo")

	require.Equal(t, "610", a.fault(get, "companyinfo/42", nil)["code"])
	require.Equal(t, "500", a.fault(post, "companyinfo", map[string]any{"CompanyName": "X"})["code"], "read-only")

	// Another realm's token may not read it.
	c := *a
	c.realm = "123"
	status, _ = c.do(get, "companyinfo/123", nil)
	require.Equal(t, http.StatusForbidden, status)
}

// The emulator's CompanyInfo has every element of a recorded one, except
// the geocodes it does not emulate.
func TestConformanceCompanyInfoXML(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	status, _, b := a.send(get, "companyinfo/"+a.realm, "application/xml", "")
	require.Equal(t, http.StatusOK, status)
	got := parseNode(t, b).outline("", nil)
	var missing []string
	for p := range parseNode(t, readTestdata(t, "company-info.xml")).outline("", nil) {
		if !got[p] && !strings.HasSuffix(p, "/Lat") && !strings.HasSuffix(p, "/Long") {
			missing = append(missing, p)
		}
	}
	slices.Sort(missing)
	require.Empty(t, missing)
}

// sendText POSTs a query body as application/text with JSON Accept.
func (a *apiClient) sendText(path, body string) (int, string, []byte) {
	a.t.Helper()
	req, err := http.NewRequest(post, a.srv.URL+"/v3/company/"+a.realm+"/"+path, strings.NewReader(body))
	require.NoError(a.t, err)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/text")
	resp, err := noRedirect.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}
