package qbo

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Fault codes the helpers match on. QuickBooks' texts change; its codes do
// not, so nothing here ever looks at Message or Detail.
const (
	CodeThrottled      = "3001" // ThrottleExceeded (429, or 403 for older accounts)
	CodeAuthentication = "3200" // AuthenticationFailed (gateway 401)
	CodeAuthorization  = "3100" // ApplicationAuthorizationFailed (gateway 403: token not for this realm)
	CodeStaleObject    = "5010" // SyncToken is not the current one
	CodeDuplicateName  = "6240" // DisplayName already used by a customer, vendor or employee
	CodeNotFound       = "610"  // Object Not Found (also: deleted, or made inactive)
)

// Fault is a fault QuickBooks answered. QuickBooks sends one Error per
// fault; its fields are flattened here.
type Fault struct {
	// Status is the HTTP status; 0 for the fault of one batch item.
	Status int
	// Type is the fault type: ValidationFault, SystemFault, AUTHENTICATION,
	// SERVICE, ….
	Type    string
	Code    string
	Message string
	Detail  string
	Element string
	// RetryAfter is the wait the Retry-After header asked for, 0 without one.
	RetryAfter time.Duration
}

func (f *Fault) Error() string {
	var b strings.Builder
	b.WriteString("qbo: ")
	if f.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d ", f.Status)
	}
	if f.Type != "" {
		b.WriteString(f.Type + " ")
	}
	if f.Code != "" {
		b.WriteString("code " + f.Code + " ")
	}
	b.WriteString(f.Message)
	// The gateway's 401/403 Detail has been seen quoting the bearer token;
	// an error string ends up in logs and admin issues, so it is left out.
	if f.Detail != "" && !IsAuth(f) {
		b.WriteString(": " + f.Detail)
	}
	if f.Element != "" {
		b.WriteString(" (element " + f.Element + ")")
	}
	return b.String()
}

// RequestError is a request that got no usable answer: it failed to send,
// the connection broke, the deadline passed or the body could not be read.
// A write may have been committed all the same.
type RequestError struct {
	Method string
	Path   string // below /v3/company/{realm}/, without the query
	Err    error
}

func (e *RequestError) Error() string {
	return "qbo: " + e.Method + " " + e.Path + ": " + e.Err.Error()
}
func (e *RequestError) Unwrap() error { return e.Err }

func asFault(err error) (*Fault, bool) {
	var f *Fault
	ok := errors.As(err, &f)
	return f, ok
}

func hasCode(err error, codes ...string) bool {
	f, ok := asFault(err)
	if !ok {
		return false
	}
	for _, c := range codes {
		if f.Code == c {
			return true
		}
	}
	return false
}

// IsThrottled reports a throttle: HTTP 429, or code 3001 (older accounts
// are throttled with 403 and that code).
func IsThrottled(err error) bool {
	f, ok := asFault(err)
	return ok && (f.Status == http.StatusTooManyRequests || f.Code == CodeThrottled)
}

// IsAuth reports that the access token was refused (401, 3200) or is not
// valid for this realm (3100); the connection needs a fresh token or a new
// authorization, and retrying as is cannot help.
func IsAuth(err error) bool {
	f, ok := asFault(err)
	return ok && (f.Status == http.StatusUnauthorized || f.Code == CodeAuthentication || f.Code == CodeAuthorization)
}

// IsStaleObject reports 5010: the SyncToken sent is not the current one.
func IsStaleObject(err error) bool { return hasCode(err, CodeStaleObject) }

// IsDuplicateName reports 6240: the name is taken.
func IsDuplicateName(err error) bool { return hasCode(err, CodeDuplicateName) }

// IsNotFound reports 610: the object does not exist, was deleted or made
// inactive.
func IsNotFound(err error) bool { return hasCode(err, CodeNotFound) }

// RetryAfter returns the wait a fault's Retry-After header asked for, or 0.
func RetryAfter(err error) time.Duration {
	if f, ok := asFault(err); ok {
		return f.RetryAfter
	}
	return 0
}

// Retryable reports whether sending the same request again is safe in
// principle: throttles, 5xx and request errors (reset, timeout). It does not
// say the first attempt had no effect: after a request error or a 5xx a write
// may have been committed, and the caller decides whether to retry with the
// same requestid or to look the object up first.
func Retryable(err error) bool {
	if f, ok := asFault(err); ok {
		return IsThrottled(f) || f.Status >= 500
	}
	var re *RequestError
	if !errors.As(err, &re) {
		return false
	}
	if errors.Is(re.Err, context.Canceled) {
		return false // the caller gave up; not the network
	}
	// *url.Error claims to be a net.Error itself; what counts is its cause
	// (a token source that fails to refresh is not a network error).
	cause := re.Err
	var ue *url.Error
	if errors.As(cause, &ue) {
		cause = ue.Err
	}
	var ne net.Error
	return errors.As(cause, &ne) ||
		errors.Is(cause, io.EOF) || errors.Is(cause, io.ErrUnexpectedEOF) ||
		errors.Is(cause, context.DeadlineExceeded) ||
		errors.Is(cause, syscall.ECONNRESET) || errors.Is(cause, syscall.ECONNREFUSED) || errors.Is(cause, syscall.EPIPE)
}

// decodeFault reads a fault from a JSON or XML body. A body that holds no
// fault still gives a *Fault with the status, so a 5xx from a proxy is
// retryable and a 401 is an auth failure; its text is not kept, because it
// is not QuickBooks' and could be anything.
func decodeFault(status int, h http.Header, body []byte) *Fault {
	f := &Fault{Status: status, RetryAfter: parseRetryAfter(h.Get("Retry-After"), time.Now())}
	var ok bool
	switch firstByte(body) {
	case '{':
		ok = decodeJSONFault(body, f)
	case '<':
		ok = decodeXMLFault(body, f)
	}
	if !ok {
		*f = Fault{Status: f.Status, RetryAfter: f.RetryAfter}
		f.Message = "answer without a QuickBooks fault (" + http.StatusText(status) + ")"
	}
	return f
}

// jsonFault matches {"Fault":{"Error":[…],"type":…}} and the gateway's
// lowercase {"fault":{"error":[…]}}: encoding/json matches keys without
// regard to case.
type jsonFault struct {
	Fault *struct {
		Type  string `json:"type"`
		Error []struct {
			Message string     `json:"Message"`
			Detail  string     `json:"Detail"`
			Code    flexString `json:"code"`
			Element flexString `json:"element"`
		} `json:"Error"`
	} `json:"Fault"`
}

// flexString takes a JSON string, number or null ("element": null, and a
// numeric code in some SDK fixtures).
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	switch firstByte(b) {
	case '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case 'n':
		*s = ""
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*s = flexString(n.String())
	}
	return nil
}

func decodeJSONFault(body []byte, f *Fault) bool {
	var jf jsonFault
	if err := json.Unmarshal(body, &jf); err != nil || jf.Fault == nil || len(jf.Fault.Error) == 0 {
		return false
	}
	e := jf.Fault.Error[0]
	f.Type, f.Code, f.Message, f.Detail, f.Element = jf.Fault.Type, string(e.Code), e.Message, e.Detail, string(e.Element)
	return f.Code != "" || f.Message != ""
}

// xmlFault matches IntuitResponse/Fault/Error in any namespace.
type xmlFault struct {
	XMLName xml.Name
	Fault   *struct {
		Type  string `xml:"type,attr"`
		Error []struct {
			Code    string `xml:"code,attr"`
			Element string `xml:"element,attr"`
			Message string `xml:"Message"`
			Detail  string `xml:"Detail"`
		} `xml:"Error"`
	} `xml:"Fault"`
}

func decodeXMLFault(body []byte, f *Fault) bool {
	var xf xmlFault
	if err := xml.Unmarshal(body, &xf); err != nil || xf.XMLName.Local != "IntuitResponse" ||
		xf.Fault == nil || len(xf.Fault.Error) == 0 {
		return false
	}
	e := xf.Fault.Error[0]
	f.Type, f.Code, f.Message, f.Detail, f.Element = xf.Fault.Type, e.Code, e.Message, e.Detail, e.Element
	return f.Code != "" || f.Message != ""
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n\ufeff")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
