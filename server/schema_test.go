package server_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// introspection reads what a client generator reads.
const introspectionQuery = `{
  __schema {
    directives { name }
    types {
      kind name description
      fields(includeDeprecated: true) {
        name description
        args { name description type { ...T } }
        type { ...T }
      }
      inputFields { name description type { ...T } }
      enumValues(includeDeprecated: true) { name description }
    }
    mutationType { name }
  }
}
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }`

type introType struct {
	Kind   string     `json:"kind"`
	Name   string     `json:"name"`
	OfType *introType `json:"ofType"`
}

// named unwraps NON_NULL and LIST down to the named type.
func (t *introType) named() *introType {
	for t.OfType != nil {
		t = t.OfType
	}
	return t
}

func (t *introType) isList() bool {
	for ; t != nil; t = t.OfType {
		if t.Kind == "LIST" {
			return true
		}
	}
	return false
}

type introValue struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Type        *introType `json:"type"`
}

type introField struct {
	introValue
	Args []introValue `json:"args"`
}

type introSchema struct {
	Schema struct {
		Directives []struct{ Name string } `json:"directives"`
		Types      []struct {
			Kind        string       `json:"kind"`
			Name        string       `json:"name"`
			Description string       `json:"description"`
			Fields      []introField `json:"fields"`
			InputFields []introValue `json:"inputFields"`
			EnumValues  []introValue `json:"enumValues"`
		} `json:"types"`
	} `json:"__schema"`
}

// boundedLists are the object fields that are plain lists, not connections, each with the
// bound that keeps it small (docs/api-conventions.md).
var boundedLists = map[string]string{
	"Item.qboLinks":                       "one per QuickBooks connection of the item's entity",
	"Class.qboLinks":                      "one per QuickBooks connection of the class's entity",
	"Customer.qboLinks":                   "one per QuickBooks connection (legal entity)",
	"Customer.qboInfo":                    "one per QuickBooks link of the customer",
	"Vendor.qboLinks":                     "one per QuickBooks connection (legal entity)",
	"Vendor.qboInfo":                      "one per QuickBooks link of the vendor",
	"Invoice.qboLinks":                    "one, or one per service month when split",
	"Invoice.qboInfo":                     "one per QuickBooks link of the invoice",
	"Payment.qboLinks":                    "one per connection of the payment's entity",
	"Payment.qboInfo":                     "one per QuickBooks link of the payment",
	"QuickBooksSettings.customFields":     "at most 3 (settings.MaxCustomFields)",
	"QuickBooksSettings.paymentMethods":   "one per payment system and method: at most 21",
	"SyncToQuickBooksPayload.links":       "the records asked for, at most 30 (a month part each when split)",
	"UpdateQuickBooksListsPayload.lists":  "one per QuickBooks list: 5",
	"Invoice.lines":                       "at most 200 lines per invoice",
	"Invoice.events":                      "one per status change of one invoice",
	"Invoice.paymentApplications":         "bounded by the invoice's total",
	"Invoice.creditApplications":          "bounded by the invoice's total",
	"JournalEntry.lines":                  "at most 500 lines per entry",
	"Payment.applications":                "bounded by the payment's amount",
	"Payment.refunds":                     "bounded by the payment's amount",
	"Payment.chargeReversals":             "bounded by the payment's amount",
	"CreditMemo.applications":             "bounded by the credit's amount",
	"TrialBalance.rows":                   "one per account of the entity",
	"BulkInvoicesPayload.results":         "at most 30 per bulk mutation",
	"PaymentPayload.invoices":             "the invoices one payment touched",
	"CreditMemoPayload.invoices":          "the invoices one credit touched",
	"ReverseChargePayload.invoices":       "the invoices one payment was applied to",
	"RefundPaymentPayload.invoices":       "the invoices one payment was applied to",
	"Query.nodes":                         "at most 100 ids",
	"ReconciliationItem.suggestedMatches": "at most 10 (recon.MaxSuggestions)",
	"ReconciliationItemPayload.invoices":  "the invoices one matched payment was applied to",
}

// TestSchemaConventions walks the schema as a client generator does and holds it to
// docs/api-conventions.md: descriptions everywhere, Id spelling, UPPER_SNAKE enums, typed
// statuses, connections for unbounded lists, input/payload mutations, no internal directives.
func TestSchemaConventions(t *testing.T) {
	t.Parallel()
	// The schema does not depend on the database: one dialect is enough.
	b := setup(t, "sqlite3")
	var s introSchema
	b.gqlOK(t, b.orgA.Admin, introspectionQuery, nil, &s)
	require.NotEmpty(t, s.Schema.Types)

	var problems []string
	fail := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	badID := regexp.MustCompile(`[a-z]IDs?($|[A-Z])`)
	// Descriptions written by a generator, not for a person.
	placeholder := regexp.MustCompile(`(?i)field predicates|edge predicates|is enum for the field|generated by ent|\bTODO\b`)
	describe := func(what, desc string) {
		if desc == "" {
			fail("%s has no description", what)
		} else if placeholder.MatchString(desc) {
			fail("%s has a placeholder description: %q", what, desc)
		}
	}
	enumValue := regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$`)
	builtin := map[string]bool{"String": true, "Int": true, "Float": true, "Boolean": true, "ID": true}
	kinds := map[string]string{}
	for _, typ := range s.Schema.Types {
		kinds[typ.Name] = typ.Kind
	}

	for _, d := range s.Schema.Directives {
		if strings.HasPrefix(d.Name, "go") {
			fail("directive @%s is internal to code generation", d.Name)
		}
	}
	for _, typ := range s.Schema.Types {
		if strings.HasPrefix(typ.Name, "__") || builtin[typ.Name] {
			continue
		}
		describe("type "+typ.Name, typ.Description)
		for _, f := range typ.Fields {
			where := typ.Name + "." + f.Name
			describe("field "+where, f.Description)
			if badID.MatchString(f.Name) {
				fail("field %s spells Id as ID", where)
			}
			for _, a := range f.Args {
				describe(fmt.Sprintf("argument %s(%s)", where, a.Name), a.Description)
				if badID.MatchString(a.Name) {
					fail("argument %s(%s) spells Id as ID", where, a.Name)
				}
			}
			named := f.Type.named()
			if (f.Name == "status" || f.Name == "state" || strings.HasSuffix(f.Name, "Status")) && named.Kind != "ENUM" {
				fail("status field %s is a %s, not an enum", where, named.Name)
			}
			if f.Type.isList() && kinds[named.Name] == "OBJECT" && !strings.HasSuffix(typ.Name, "Connection") &&
				boundedLists[where] == "" && !strings.HasPrefix(named.Name, "__") {
				fail("list field %s of %s is neither a connection nor a known bounded list", where, named.Name)
			}
		}
		for _, f := range typ.InputFields {
			where := typ.Name + "." + f.Name
			describe("input field "+where, f.Description)
			if badID.MatchString(f.Name) {
				fail("input field %s spells Id as ID", where)
			}
		}
		for _, v := range typ.EnumValues {
			describe(fmt.Sprintf("enum value %s.%s", typ.Name, v.Name), v.Description)
			if !enumValue.MatchString(v.Name) {
				fail("enum value %s.%s is not UPPER_SNAKE", typ.Name, v.Name)
			}
		}
		if typ.Name != "Mutation" {
			continue
		}
		for _, f := range typ.Fields {
			if len(f.Args) != 1 || f.Args[0].Name != "input" || f.Args[0].Type.Kind != "NON_NULL" ||
				f.Args[0].Type.named().Kind != "INPUT_OBJECT" {
				fail("mutation %s does not take exactly (input: XxxInput!)", f.Name)
			}
			if f.Type.Kind != "NON_NULL" || f.Type.named().Kind != "OBJECT" || !strings.HasSuffix(f.Type.named().Name, "Payload") {
				fail("mutation %s does not return an XxxPayload!", f.Name)
			}
		}
	}
	require.Empty(t, problems, "%d departures from docs/api-conventions.md:\n%s", len(problems), strings.Join(problems, "\n"))
}
