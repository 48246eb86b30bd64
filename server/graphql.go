package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/riverqueue/river/rivertype"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"books/ent"
	"books/graph"
	"books/graph/generated"
	"books/graph/model"
	"books/internal/apperr"
	"books/internal/audit"
	"books/internal/auth"
	"books/internal/caldate"
	"books/internal/database"
	"books/internal/money"
)

func (s *Server) graphQLHandler() *handler.Server {
	res := &graph.Resolver{Client: s.cfg.Client, Auth: s.cfg.Auth, Broker: s.cfg.Broker, Queue: s.cfg.Queue,
		QuickBooks: s.cfg.QuickBooks, Stripe: s.cfg.Stripe}
	if s.cfg.DB != nil {
		res.SQL, res.Dialect = s.cfg.DB.SQL, s.cfg.DB.Dialect
	}
	cfg := generated.Config{Resolvers: res}
	cfg.Directives.HasRole = hasRole
	setComplexity(&cfg.Complexity)
	es := generated.NewExecutableSchema(cfg)
	s.schema = es.Schema()
	hideInternalDirectives(s.schema)
	srv := handler.New(es)
	srv.AddTransport(transport.Websocket{
		Implementation:        wsImplementation{},
		KeepAlivePingInterval: 15 * time.Second,
		InitFunc:              s.websocketInit,
		InitTimeout:           wsInitTimeout,
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	// Outermost, so it sees the final response, after the mutation's commit.
	srv.Use(operationObserver{s})
	srv.Use(extension.Introspection{})
	srv.Use(operationGate{s}) // after Introspection, whose switch it may turn off again
	srv.Use(defaultPages{})   // before the cost estimate, which then counts the default page
	srv.Use(extension.FixedComplexityLimit(s.cfg.MaxComplexity))
	srv.Use(depthLimit{max: s.cfg.MaxDepth})
	srv.Use(inputLimit{maxList: maxListArgument, maxDepth: maxInputDepth})
	// Every mutation runs in one transaction with its audit record. Queries need none, and
	// under a transaction one failed field would discard the whole response.
	srv.Use(mutationTx{opener: s.cfg.Client, present: s.presentError})
	srv.AroundFields(s.guardRootField)
	srv.AroundFields(guardSubscription)
	srv.AroundFields(s.guardPortalField)
	srv.AroundFields(auditMutations)
	srv.AroundFields(limitPages)
	srv.SetErrorPresenter(s.presentError)
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		s.log.Error("panic in resolver", "request_id", requestID(ctx), "panic", v)
		return apperr.New(apperr.Internal, "internal error; quote request id %s", requestID(ctx))
	})
	return srv
}

// hideInternalDirectives drops gqlgen's code-generation directives from the schema clients
// introspect: they say how Go code is generated, nothing about the API.
func hideInternalDirectives(s *ast.Schema) {
	for name := range s.Directives {
		if strings.HasPrefix(name, "go") {
			delete(s.Directives, name)
		}
	}
}

// mutationTx runs each mutation operation in one transaction: all its fields commit or roll
// back together, with their audit records. It is entgql.Transactioner's rule with three
// differences:
//   - an operation is asked for responses until it gives nil, as the WebSocket transport
//     does; a mutation has one response, and the asks after it get nil at once;
//   - a response without an operation (a body gqlgen could not decode, a query that does not
//     parse) passes through: there is nothing to run;
//   - a transaction that cannot be opened or committed is an error presented like any other,
//     so a database outage is UNAVAILABLE, not a message with the driver's text.
//
// As there, the operation's resolvers run one at a time: they share the transaction's one
// connection. Bulk mutations commit item by item and run outside it.
type mutationTx struct {
	opener  entgql.TxOpener
	present func(context.Context, error) *gqlerror.Error
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.ResponseInterceptor
} = mutationTx{}

const mutationTxDone = "MutationTxDone"

func (mutationTx) ExtensionName() string                   { return "MutationTx" }
func (mutationTx) Validate(graphql.ExecutableSchema) error { return nil }

func inMutationTx(op *ast.OperationDefinition) bool {
	return op != nil && op.Operation == ast.Mutation && !hasBulkField(op)
}

func (t mutationTx) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	return entgql.Transactioner{TxOpener: t.opener, SkipTxFunc: func(op *ast.OperationDefinition) bool {
		return !inMutationTx(op)
	}}.MutateOperationContext(ctx, oc)
}

func (t mutationTx) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	if !inMutationTx(oc.Operation) {
		return next(ctx)
	}
	if oc.Stats.GetExtension(mutationTxDone) != nil {
		return nil
	}
	oc.Stats.SetExtension(mutationTxDone, true)
	txCtx, tx, err := t.opener.OpenTx(ctx)
	if err != nil {
		return &graphql.Response{Errors: gqlerror.List{t.present(ctx, fmt.Errorf("open the mutation's transaction: %w", err))}}
	}
	defer func() {
		if r := recover(); r != nil {
			_ = tx.Rollback()
			panic(r)
		}
	}()
	rsp := next(txCtx)
	if rsp == nil || len(rsp.Errors) > 0 {
		_ = tx.Rollback()
		if rsp == nil {
			return nil
		}
		return &graphql.Response{Errors: rsp.Errors}
	}
	if err := tx.Commit(); err != nil {
		return &graphql.Response{Errors: gqlerror.List{t.present(ctx, fmt.Errorf("commit the mutation: %w", err))}}
	}
	return rsp
}

// hasRole implements @hasRole: only staff holding one of roles pass.
func hasRole(ctx context.Context, _ any, next graphql.Resolver, roles []auth.Role) (any, error) {
	if !auth.FromContext(ctx).HasAnyRole(roles...) {
		return nil, apperr.New(apperr.Forbidden, "this needs one of the roles %v", roles)
	}
	return next(ctx)
}

// guardRootField is the single gate every query and mutation field passes: an
// authenticated principal, mutations only for staff who may write, and no ledger data for
// portal clients. It runs as field middleware, so a refusal is an error at the field's path
// and, the root fields being non-null, data is null: never a silent null in a non-null field.
func (s *Server) guardRootField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || (fc.Object != "Query" && fc.Object != "Mutation") ||
		strings.HasPrefix(fc.Field.Name, "__") {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	p := auth.FromContext(ctx)
	mutation := oc.Operation != nil && oc.Operation.Operation == ast.Mutation
	switch {
	case p == nil:
		return nil, apperr.New(apperr.Unauthenticated, "authentication required")
	case mutation && !p.CanMutate() && !(p.Kind == auth.KindPortal && portalMutations[fc.Field.Name]):
		return nil, apperr.New(apperr.Forbidden, "your role cannot make changes")
	case mutation && hasBulkField(oc.Operation) && len(oc.Operation.SelectionSet) > 1:
		// A bulk mutation commits item by item, outside the operation's transaction.
		return nil, apperr.New(apperr.Validation, "a bulk mutation must be the only field of its operation")
	case p.Kind == auth.KindPortal && !portalFields[fc.Field.Name]:
		return nil, apperr.New(apperr.Forbidden, "portal clients cannot read %s", fc.Field.Name)
	}
	return next(audit.WithOrigin(ctx, audit.ViaGraphQL, requestID(ctx)))
}

// guardSubscription gives subscription fields the gate guardRootField gives queries and
// mutations: gqlgen runs root-field interceptors (AroundRootFields) for queries and
// mutations only, while subscription fields pass through field middleware alone. A
// subscription needs an authenticated staff principal (the token of connection_init); roles
// are the field's @hasRole.
func guardSubscription(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Object != "Subscription" || strings.HasPrefix(fc.Field.Name, "__") {
		return next(ctx)
	}
	p := auth.FromContext(ctx)
	switch {
	case p == nil:
		return nil, apperr.New(apperr.Unauthenticated, "authentication required")
	case p.Kind == auth.KindPortal && !portalFields[fc.Field.Name]:
		return nil, apperr.New(apperr.Forbidden, "portal clients cannot subscribe to %s", fc.Field.Name)
	case p.Kind != auth.KindUser && p.Kind != auth.KindPortal:
		return nil, apperr.New(apperr.Forbidden, "only staff may subscribe")
	}
	return next(ctx)
}

// auditMutations records every successful mutation in its transaction.
func auditMutations(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc.Parent != nil && fc.Parent.Parent == nil && fc.Object == "Mutation" &&
		!ledgerAudited[fc.Field.Name] && !bulkMutations[fc.Field.Name] {
		res, err := next(ctx)
		if err != nil {
			return res, err
		}
		c := ent.FromContext(ctx)
		if c == nil {
			return res, apperr.New(apperr.Internal, "mutation ran outside a transaction")
		}
		if aerr := audit.Record(ctx, c, fc.Field.Name, subjectOf(res), argsDetail(fc.Args)); aerr != nil {
			return nil, aerr
		}
		return res, nil
	}
	return next(ctx)
}

// Page sizes of connections: a connection asked for without first or last returns the
// first defaultPage items (totalCount still counts all), and no page exceeds maxPage.
const (
	defaultPage = 100
	maxPage     = 1000
)

// limitPages refuses a page size out of range on every connection field, nested ones
// included; defaultPages has already given a page to those that asked for none (the
// default set here too is for a resolver reached without it).
func limitPages(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return next(ctx)
	}
	first, hasFirst := fc.Args["first"].(*int)
	last, hasLast := fc.Args["last"].(*int)
	if !hasFirst || !hasLast {
		return next(ctx)
	}
	for _, n := range []*int{first, last} {
		if n != nil && (*n < 0 || *n > maxPage) {
			return nil, apperr.New(apperr.Validation, "first and last must be between 0 and %d", maxPage)
		}
	}
	if first == nil && last == nil {
		n := defaultPage
		fc.Args["first"] = &n
	}
	return next(ctx)
}

// bulkMutations run outside the operation's transaction and audit themselves: the bulk ones
// run each item in its own transaction, so one failure neither stops nor undoes the others;
// the QuickBooks ones call QuickBooks, which must never happen while a transaction is open
// (on SQLite it would hold the database's one connection for the whole call); so does
// createInvoicePayment, which calls Stripe.
var bulkMutations = map[string]bool{"bulkSubmitInvoices": true, "bulkApproveInvoices": true,
	"disconnectQuickBooks": true, "updateQuickBooksLists": true, "linkQuickBooksRecord": true,
	"createInvoicePayment": true}

func hasBulkField(op *ast.OperationDefinition) bool {
	for _, sel := range op.SelectionSet {
		if f, ok := sel.(*ast.Field); ok && bulkMutations[f.Name] {
			return true
		}
	}
	return false
}

// ledgerAudited are the mutations whose change is a ledger posting, which the database audits
// itself (journal_entry.post / journal_entry.reverse, with this request's actor, interface
// and id); a second record here would only repeat it.
var ledgerAudited = map[string]bool{"postJournalEntry": true, "reverseJournalEntry": true}

// subjectOf finds the id of what a mutation changed: a payload's first field is the changed
// object (ent entities all carry their id in a field named ID), or the id of a deleted one.
func subjectOf(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return ""
	}
	if id := rv.Elem().FieldByName("ID"); id.IsValid() && id.Kind() == reflect.String {
		return id.String()
	}
	if rv.Elem().NumField() == 0 {
		return ""
	}
	switch first := rv.Elem().Field(0); first.Kind() {
	case reflect.String:
		return first.String()
	case reflect.Pointer:
		return subjectOf(first.Interface())
	}
	return ""
}

// argsDetail keeps the mutation's arguments for the audit trail, without any secret. JSON
// shows the values of optional (pointer) input fields, which %v would print as addresses.
func argsDetail(args map[string]any) string {
	b, err := json.Marshal(args)
	if err != nil {
		return fmt.Sprintf("%v", args)
	}
	return string(redactWriteOnly(b))
}

// writeOnlyArgs are the input fields whose values a mutation takes and never gives back (a
// Stripe account's secret key and webhook signing secrets). Every staff role reads the
// audit trail, so it records that they were given, never what they are.
var writeOnlyArgs = map[string]bool{"secretKey": true, "webhookSecrets": true}

// redactWriteOnly replaces the values of writeOnlyArgs, at any depth of the arguments' JSON,
// with "[redacted]" (a list keeps its length). Arguments without any are returned as they
// are.
func redactWriteOnly(b []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return b
	}
	var walk func(v any) bool
	walk = func(v any) bool {
		changed := false
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if writeOnlyArgs[k] && e != nil {
					x[k], changed = redacted(e), true
					continue
				}
				changed = walk(e) || changed
			}
		case []any:
			for _, e := range x {
				changed = walk(e) || changed
			}
		}
		return changed
	}
	if !walk(v) {
		return b
	}
	out, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"redacted":true}`)
	}
	return out
}

func redacted(v any) any {
	if list, ok := v.([]any); ok {
		out := make([]any, len(list))
		for i := range list {
			out[i] = "[redacted]"
		}
		return out
	}
	return "[redacted]"
}

func (s *Server) presentError(ctx context.Context, err error) *gqlerror.Error {
	gerr := graphql.DefaultErrorPresenter(ctx, err)
	if gerr.Extensions == nil {
		gerr.Extensions = map[string]any{}
	}
	if _, has := gerr.Extensions["code"]; has && !isCoded(err) {
		return gerr // parse and validation errors from gqlgen keep their codes
	}
	code, msg := classify(err)
	if code == apperr.Internal {
		s.log.Error("graphql error", "request_id", requestID(ctx), "err", err)
		msg = "internal error; quote request id " + requestID(ctx)
	}
	gerr.Message = msg
	gerr.Extensions["code"] = code
	if e, ok := apperr.As(err); ok && e.Field != "" {
		gerr.Extensions["field"] = idSpelling.ReplaceAllString(e.Field, "${1}Id$2")
	}
	return gerr
}

// idSpelling finds Go's ID in a domain error's field name (customerID, lines[0].accountID),
// which the API spells Id like the input field it names (docs/api-conventions.md).
var idSpelling = regexp.MustCompile(`([a-z])ID(s?)\b`)

func isCoded(err error) bool {
	_, ok := apperr.As(err)
	return ok
}

// classify maps any error a resolver can return to a stable code and a safe message.
func classify(err error) (string, string) {
	// An outage first: whatever code a layer gave it, the caller's cue is to retry.
	if database.IsUnavailable(err) {
		return apperr.Unavailable, unavailableMessage
	}
	if e, ok := apperr.As(err); ok {
		return e.Code, e.Message
	}
	var nf *ent.NotFoundError
	var ve *ent.ValidationError
	switch {
	case ent.IsNotFound(err) || errors.As(err, &nf) || strings.Contains(err.Error(), "could not resolve to a node"):
		return apperr.NotFound, "not found"
	case errors.As(err, &ve):
		return apperr.Validation, ve.Error()
	case ent.IsConstraintError(err):
		return apperr.Conflict, "the change conflicts with an existing record"
	case errors.Is(err, money.ErrInvalid), errors.Is(err, money.ErrTooPrecise), errors.Is(err, money.ErrOutOfRange):
		return apperr.InvalidAmount, unwrapMessage(err)
	case errors.Is(err, money.ErrUnknownCurrency):
		return apperr.Validation, unwrapMessage(err)
	case errors.Is(err, caldate.ErrInvalid):
		return apperr.Validation, unwrapMessage(err)
	case strings.HasPrefix(unwrapMessage(err), "cannot decode cursor"):
		return apperr.Validation, "invalid cursor"
	}
	var gerr *gqlerror.Error
	if errors.As(err, &gerr) && gerr.Err == nil {
		return apperr.Validation, gerr.Message
	}
	return apperr.Internal, ""
}

func unwrapMessage(err error) string {
	var gerr *gqlerror.Error
	if errors.As(err, &gerr) && gerr.Err != nil {
		return gerr.Err.Error()
	}
	return err.Error()
}

// setComplexity makes connections cost their page size times their nodes' cost, so a
// query asking for 1,000 entries each with 1,000 lines is refused before it runs.
// qboInfoCost is what reading one record's QuickBooks records live costs of MaxComplexity.
const qboInfoCost = 100

func setComplexity(c *generated.ComplexityRoot) {
	page := func(child int, first, last *int) int {
		n := defaultPage
		if first != nil {
			n = *first
		} else if last != nil {
			n = *last
		}
		return max(1, n) * (child + 1)
	}
	q := &c.Query
	q.Accounts = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.AccountOrder, _ *ent.AccountWhereInput) int {
		return page(child, first, last)
	}
	q.Classes = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.ClassOrder, _ *ent.ClassWhereInput) int {
		return page(child, first, last)
	}
	q.CoaMappings = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.COAMappingOrder, _ *ent.COAMappingWhereInput) int {
		return page(child, first, last)
	}
	q.JournalEntries = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.JournalEntryOrder, _ *ent.JournalEntryWhereInput) int {
		return page(child, first, last)
	}
	q.LegalEntities = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.LegalEntityOrder, _ *ent.LegalEntityWhereInput) int {
		return page(child, first, last)
	}
	q.Periods = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.AccountingPeriodOrder, _ *ent.AccountingPeriodWhereInput) int {
		return page(child, first, last)
	}
	q.AuditEvents = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.AuditEventOrder, _ *ent.AuditEventWhereInput) int {
		return page(child, first, last)
	}
	q.AdminIssues = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.AdminIssueOrder, _ *ent.AdminIssueWhereInput) int {
		return page(child, first, last)
	}
	q.IntegrationKeys = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.IntegrationKeyOrder, _ *ent.IntegrationKeyWhereInput) int {
		return page(child, first, last)
	}
	// The billing connections, likewise: an invoice page with its lines, customer and
	// applications costs its page size times what each invoice asks for.
	q.Invoices = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.InvoiceOrder, _ *ent.InvoiceWhereInput, _ *model.InvoiceSearch) int {
		return page(child, first, last)
	}
	q.Payments = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.PaymentOrder, _ *ent.PaymentWhereInput) int {
		return page(child, first, last)
	}
	q.Customers = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.CustomerOrder, _ *ent.CustomerWhereInput) int {
		return page(child, first, last)
	}
	q.Vendors = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.VendorOrder, _ *ent.VendorWhereInput) int {
		return page(child, first, last)
	}
	q.Items = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.ItemOrder, _ *ent.ItemWhereInput) int {
		return page(child, first, last)
	}
	q.CreditMemos = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.CreditMemoOrder, _ *ent.CreditMemoWhereInput) int {
		return page(child, first, last)
	}
	q.Refunds = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.RefundOrder, _ *ent.RefundWhereInput) int {
		return page(child, first, last)
	}
	q.ChargeReversals = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.ChargeReversalOrder, _ *ent.ChargeReversalWhereInput) int {
		return page(child, first, last)
	}
	q.WriteOffs = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.WriteOffOrder, _ *ent.WriteOffWhereInput) int {
		return page(child, first, last)
	}
	q.QboLinks = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.QBOLinkOrder, _ *ent.QBOLinkWhereInput) int {
		return page(child, first, last)
	}
	q.QboListEntries = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.QBOListEntryOrder, _ *ent.QBOListEntryWhereInput) int {
		return page(child, first, last)
	}
	q.ReconciliationItems = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.ReconciliationItemOrder, _ *ent.ReconciliationItemWhereInput) int {
		return page(child, first, last)
	}
	// An item's suggested matches are a few queries and up to 10 invoices.
	c.ReconciliationItem.SuggestedMatches = func(child int) int { return 10 * (child + 1) }
	// Reading QuickBooks live costs a call per record, under QuickBooks' own rate limits: a
	// page of 100 customers with their QuickBooks records is refused, 40 pass.
	live := func(child int) int { return qboInfoCost + child }
	c.Customer.QboInfo, c.Vendor.QboInfo, c.Invoice.QboInfo, c.Payment.QboInfo = live, live, live, live
	// Connections nested in objects cost the same: defaultPages has written the default
	// page into every connection asked for without one.
	le := &c.LegalEntity
	le.Accounts = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.AccountOrder, _ *ent.AccountWhereInput) int {
		return page(child, first, last)
	}
	le.Classes = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.ClassOrder, _ *ent.ClassWhereInput) int {
		return page(child, first, last)
	}
	le.CoaMappings = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.COAMappingOrder, _ *ent.COAMappingWhereInput) int {
		return page(child, first, last)
	}
	le.JournalEntries = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.JournalEntryOrder, _ *ent.JournalEntryWhereInput) int {
		return page(child, first, last)
	}
	le.Periods = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.AccountingPeriodOrder, _ *ent.AccountingPeriodWhereInput) int {
		return page(child, first, last)
	}
	c.Organization.LegalEntities = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.LegalEntityOrder, _ *ent.LegalEntityWhereInput) int {
		return page(child, first, last)
	}
	c.Class.Children = func(child int, _ *entgql.Cursor[string], first *int, _ *entgql.Cursor[string], last *int, _ *ent.ClassOrder, _ *ent.ClassWhereInput) int {
		return page(child, first, last)
	}
	// An entry's lines are a plain list; count a typical entry as ten lines.
	c.JournalEntry.Lines = func(child int) int { return 10 * (child + 1) }
	// A trial balance reads every posting of the entity: a few per request, not a thousand
	// aliases of it. An account balance reads one account's postings.
	q.TrialBalance = func(child int, _ string, _ caldate.Date) int { return trialBalanceCost + child }
	q.AccountBalance = func(child int, _ string, _ caldate.Date) int { return 50 + child }
	q.Nodes = func(child int, ids []string) int { return max(1, len(ids)) * (child + 1) }
	q.Jobs = func(child int, _ *rivertype.JobState, _ *string, first *int, _ *entgql.Cursor[string]) int {
		return page(child, first, nil)
	}
}
