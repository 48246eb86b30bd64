package schema

import (
	"os"
	"strings"
	"testing"

	"entgo.io/ent"
	"entgo.io/ent/schema"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// schemas are all the ent types; TestEveryNodeTypeListed keeps the list complete.
var schemas = map[string]ent.Interface{
	"Account":            Account{},
	"AccountingPeriod":   AccountingPeriod{},
	"AdminIssue":         AdminIssue{},
	"AuditEvent":         AuditEvent{},
	"COAMapping":         COAMapping{},
	"ChargeReversal":     ChargeReversal{},
	"Class":              Class{},
	"CreditApplication":  CreditApplication{},
	"CreditMemo":         CreditMemo{},
	"Customer":           Customer{},
	"IntegrationKey":     IntegrationKey{},
	"Invoice":            Invoice{},
	"InvoiceEvent":       InvoiceEvent{},
	"InvoiceLine":        InvoiceLine{},
	"InvoiceSequence":    InvoiceSequence{},
	"Item":               Item{},
	"JournalEntry":       JournalEntry{},
	"JournalLine":        JournalLine{},
	"LedgerSeal":         LedgerSeal{},
	"LedgerVerification": LedgerVerification{},
	"LegalEntity":        LegalEntity{},
	"Organization":       Organization{},
	"Payment":            Payment{},
	"PaymentApplication": PaymentApplication{},
	"QBOConnection":      QBOConnection{},
	"QBOLink":            QBOLink{},
	"QBOListEntry":       QBOListEntry{},
	"QBOAuthState":       QBOAuthState{},
	"Refund":             Refund{},
	"Vendor":             Vendor{},
	"WriteOff":           WriteOff{},
	"ReconciliationItem": ReconciliationItem{},
	"QBOInboxEvent":      QBOInboxEvent{},
	"StripeAccount":      StripeAccount{},
	"BillingProfile":     BillingProfile{},
	"PaymentAttempt":     PaymentAttempt{},
	"StripeEvent":        StripeEvent{},
}

// entGraphQL parses the GraphQL schema entgql generates from these types.
func entGraphQL(t *testing.T) *ast.SchemaDocument {
	t.Helper()
	b, err := os.ReadFile("../../graph/ent.graphqls")
	require.NoError(t, err)
	doc, err := parser.ParseSchema(&ast.Source{Name: "ent.graphqls", Input: string(b)})
	require.NoError(t, err)
	return doc
}

// The comments are the API's descriptions of every type, field and edge (entgql copies
// field and edge comments into the GraphQL schema, and the schema hook type comments).
func TestEverythingHasAComment(t *testing.T) {
	t.Parallel()
	var missing []string
	for name, s := range schemas {
		var typeDoc string
		for _, a := range s.Annotations() {
			if c, ok := a.(*schema.CommentAnnotation); ok {
				typeDoc = c.Text
			}
		}
		if strings.TrimSpace(typeDoc) == "" {
			missing = append(missing, name+" (type)")
		}
		fields := s.Fields()
		for _, m := range s.Mixin() {
			fields = append(fields, m.Fields()...)
		}
		for _, f := range fields {
			if d := f.Descriptor(); strings.TrimSpace(d.Comment) == "" {
				missing = append(missing, name+"."+d.Name)
			}
		}
		for _, e := range s.Edges() {
			d := e.Descriptor()
			if strings.TrimSpace(d.Comment) == "" {
				missing = append(missing, name+"."+d.Name+" (edge)")
			}
			// edge.To(…).From(…) declares both ends; the To end is the reference.
			if d.Ref != nil && strings.TrimSpace(d.Ref.Comment) == "" {
				missing = append(missing, name+"."+d.Ref.Name+" (edge)")
			}
		}
	}
	require.Empty(t, missing, "fields, edges and types without a comment")
}

func TestEveryNodeTypeListed(t *testing.T) {
	t.Parallel()
	for _, def := range entGraphQL(t).Definitions {
		if def.Kind == ast.Object && len(def.Interfaces) > 0 && def.Interfaces[0] == "Node" {
			require.Contains(t, schemas, def.Name, "add the ent type to schemas in this test")
		}
	}
}

func TestEveryEnumValueDocumented(t *testing.T) {
	t.Parallel()
	enums := map[string]bool{}
	for _, def := range entGraphQL(t).Definitions {
		if def.Kind != ast.Enum {
			continue
		}
		enums[def.Name] = true
		docs := GraphQLEnumDocs[def.Name]
		require.NotNil(t, docs, "GraphQLEnumDocs has no entry for enum %s", def.Name)
		for _, v := range def.EnumValues {
			require.NotEmpty(t, docs[strings.ToUpper(v.Name)], "enum %s value %s has no description", def.Name, v.Name)
		}
		values := len(docs)
		if _, ok := docs["_"]; ok {
			values-- // "_" describes the enum itself
		}
		require.Equal(t, len(def.EnumValues), values, "GraphQLEnumDocs[%s] describes values the enum no longer has", def.Name)
	}
	for name := range GraphQLEnumDocs {
		require.True(t, enums[name], "GraphQLEnumDocs describes enum %s, which graph/ent.graphqls does not have", name)
	}
}

func TestRootQueryFieldsDescribed(t *testing.T) {
	t.Parallel()
	for _, def := range entGraphQL(t).Definitions {
		if def.Name != "Query" {
			continue
		}
		for _, f := range def.Fields {
			require.NotEmpty(t, f.Description, "Query.%s has no description; give gqlRoot one", f.Name)
		}
	}
}
