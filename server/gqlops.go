package server

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"

	"books/internal/apperr"
	"books/internal/auth"
)

// operationGate checks each operation's principal before it runs. Over HTTP the bearer
// token was verified moments before; over a WebSocket it was verified at connection_init,
// possibly long ago, so an expired principal is refused here even in the instant before
// the socket's expiry timer closes it, and operations on a socket draw from the principal's
// rate limit as HTTP requests do. Portal clients may not introspect the schema.
type operationGate struct{ s *Server }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = operationGate{}

func (operationGate) ExtensionName() string                   { return "OperationGate" }
func (operationGate) Validate(graphql.ExecutableSchema) error { return nil }

func (g operationGate) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	p := auth.FromContext(ctx)
	if p == nil {
		return nil // guardRootField refuses it
	}
	now := time.Now()
	if p.Expired(now) {
		return codedError(apperr.Unauthenticated, "the token has expired; connect again with a new one")
	}
	if wsFrom(ctx) != nil {
		if ok, wait := g.s.limiter.allow(principalKey(p), now); !ok {
			return codedError(apperr.RateLimited, fmt.Sprintf("too many operations; retry in %d s", retrySeconds(wait)))
		}
	}
	if p.Kind == auth.KindPortal && oc.Operation != nil {
		// A portal SPA gets its types from code generation at build time; at run time the
		// schema would only tell a portal user about the staff-only parts.
		oc.DisableIntrospection = true
		if introspects(oc.Operation.SelectionSet) {
			return codedError(apperr.Forbidden, "portal clients cannot introspect the schema")
		}
	}
	return nil
}

// introspects reports whether an operation's root fields ask for __schema or __type
// (__typename is harmless and every client asks for it).
func introspects(set ast.SelectionSet) bool {
	return !eachField(set, false, func(f *ast.Field) bool { return f.Name != "__schema" && f.Name != "__type" })
}

func codedError(code, msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
}

// operationObserver counts every GraphQL operation by name and outcome
// (books_graphql_operations_total) and hands both to the request log line. A subscription
// is counted once, at its first response.
type operationObserver struct{ s *Server }

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = operationObserver{}

func (operationObserver) ExtensionName() string                   { return "OperationObserver" }
func (operationObserver) Validate(graphql.ExecutableSchema) error { return nil }

const observedExt = "OperationObserved"

func (o operationObserver) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil {
		return nil
	}
	name, admit := "", false
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		name = oc.OperationName
		if oc.Operation == nil && name == "" {
			name = soleOperationName(oc.RawQuery)
		}
		// Only staff may add a name to the label set: portal clients choose names too, and
		// could fill it with made-up ones.
		p := auth.FromContext(ctx)
		admit = p != nil && p.Kind == auth.KindUser
		if oc.Operation != nil {
			name = oc.Operation.Name
			if oc.Operation.Operation == ast.Subscription {
				if oc.Stats.GetExtension(observedExt) != nil {
					return resp
				}
				oc.Stats.SetExtension(observedExt, true)
			}
		}
	}
	var codes []string
	for _, e := range resp.Errors {
		code, _ := e.Extensions["code"].(string)
		if !slices.Contains(codes, code) {
			codes = append(codes, code)
		}
	}
	o.s.metrics.operations.WithLabelValues(o.s.metrics.operationLabel(name, admit), codeLabel(codes)).Inc()
	// The log line names the operation even where the metric says "other": a log has no
	// label set to fill.
	op := logOperationName(name)
	if c := wsFrom(ctx); c != nil {
		attrs := []any{"request_id", c.requestID, "operation", op}
		if p := auth.FromContext(ctx); p != nil {
			attrs = append(attrs, "org", p.Org, "principal", p.Subject)
		}
		if len(codes) > 0 {
			attrs = append(attrs, "error_codes", codes)
		}
		o.s.log.Info("websocket operation", attrs...)
	} else {
		noteOperation(ctx, op, codes)
	}
	return resp
}

// soleOperationName names the one operation of a query that failed validation, for which
// gqlgen keeps no document.
func soleOperationName(query string) string {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil || len(doc.Operations) != 1 {
		return ""
	}
	return doc.Operations[0].Name
}

var (
	validOperationName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	validCode          = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,47}$`)
)

// maxOperationNames bounds the operation label: names are the client's to choose, so past
// this many distinct ones a new name is counted as "other".
const maxOperationNames = 500

type operationNames struct {
	mu    sync.Mutex
	names map[string]bool
}

// operationLabel returns the metric label for an operation name: "anonymous" without one,
// the name when it is known or admit lets it in (until maxOperationNames are known), else
// "other".
func (m *metrics) operationLabel(name string, admit bool) string {
	if n := logOperationName(name); n != name {
		return n
	}
	m.opNames.mu.Lock()
	defer m.opNames.mu.Unlock()
	if m.opNames.names[name] {
		return name
	}
	if !admit || len(m.opNames.names) >= maxOperationNames {
		return "other"
	}
	m.opNames.names[name] = true
	return name
}

// logOperationName is name for the request log: "anonymous" without one, "other" for one
// that is not a GraphQL name.
func logOperationName(name string) string {
	switch {
	case name == "":
		return "anonymous"
	case !validOperationName.MatchString(name):
		return "other"
	}
	return name
}

// codeLabel is "OK" without errors, else the first error's code.
func codeLabel(codes []string) string {
	switch {
	case len(codes) == 0:
		return "OK"
	case validCode.MatchString(codes[0]):
		return codes[0]
	}
	return "OTHER"
}
