package lists_test

import (
	"testing"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"books/internal/apperr"
	"books/internal/qbo/lists"
	"books/internal/qbo/qbotest"
	"books/internal/qbo/settings"
)

// valid returns a full set of settings naming the company's seeded lists.
func (b *testBundle) valid(t *testing.T) settings.Settings {
	t.Helper()
	return settings.Settings{
		OneTransactionInvoice:     true,
		OneTransactionDescription: "Invoice {invoiceNumber} of {invoiceDate} for {client}",
		SplitInvoiceByMonth:       true,
		SyncCustomFields:          true,
		CustomFields: []settings.CustomField{
			{BooksField: "PurchaseOrder", DefinitionID: "1"},
			{BooksField: "ProjectCode", DefinitionID: "2"},
			{BooksField: "CampaignId", DefinitionID: "3"},
		},
		AutoSyncInvoices: true,
		InvoiceDateMode:  settings.PeriodEnd,
		ServiceItemID:    "1",
		PaymentMethods: []settings.PaymentMethod{
			{System: "stripe", DepositAccountID: b.qboID(t, "Account", "Checking"),
				PaymentMethodID: b.qboID(t, "PaymentMethod", "Visa")},
			{System: "manual", Method: "check", DepositAccountID: b.qboID(t, "Account", "Undeposited Funds"),
				PaymentMethodID: b.qboID(t, "PaymentMethod", "Check")},
			{System: "qbo", DepositAccountID: b.qboID(t, "Account", "Savings")},
		},
		DefaultDepositAccountID: b.qboID(t, "Account", "Undeposited Funds"),
		DefaultPaymentMethodID:  b.qboID(t, "PaymentMethod", "Cash"),
	}
}

// clone copies s, its lists included.
func clone(s settings.Settings) settings.Settings {
	s.CustomFields = append([]settings.CustomField(nil), s.CustomFields...)
	s.PaymentMethods = append([]settings.PaymentMethod(nil), s.PaymentMethods...)
	return s
}

func TestSettings(t *testing.T) {
	t.Parallel()

	t.Run("SaveAndGet", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b *testBundle) {
			got, err := lists.Get(b.ctx, b.c, b.conn.ID)
			require.NoError(t, err)
			require.Equal(t, settings.Settings{}, got, "nothing saved: the zero settings")

			// Settings that name no QuickBooks id need no lists.
			plain := settings.Settings{SplitInvoiceByMonth: true, InvoiceDateMode: settings.SyncDate}
			_, err = lists.Save(b.ctx, b.c, b.conn.ID, plain)
			require.NoError(t, err)

			b.update(t)
			want := b.valid(t)
			row, err := lists.Save(b.ctx, b.c, b.conn.ID, want)
			require.NoError(t, err)
			require.Equal(t, want, row.Settings)
			got, err = lists.Get(b.ctx, b.c, b.conn.ID)
			require.NoError(t, err)
			require.Equal(t, want, got)
			if b.db.Dialect == dialect.Postgres {
				var kind string
				require.NoError(t, b.db.SQL.QueryRow(`SELECT jsonb_typeof(settings::jsonb) FROM qbo_connections WHERE id = $1`,
					b.conn.ID).Scan(&kind))
				require.Equal(t, "object", kind, "stored as a JSON object, not a string")
			}

			account, method := got.Deposit("stripe", "card")
			require.Equal(t, b.qboID(t, "Account", "Checking"), account)
			require.Equal(t, b.qboID(t, "PaymentMethod", "Visa"), method)

			_, err = lists.Save(b.ctx, b.c, b.conn.ID, settings.Settings{})
			require.NoError(t, err, "the zero settings are valid")
			got, err = lists.Get(b.ctx, b.c, b.conn.ID)
			require.NoError(t, err)
			require.Equal(t, settings.Settings{}, got)
		})
	})

	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b *testBundle) {
			old := b.control(t, "item", map[string]any{"Name": "Old Services", "Type": "Service",
				"IncomeAccountRef": map[string]any{"value": b.qboID(t, "Account", "Services")}})["Id"].(string)
			parts := b.control(t, "item", map[string]any{"Name": "Parts", "Type": "NonInventory",
				"IncomeAccountRef": map[string]any{"value": b.qboID(t, "Account", "Sales of Product Income")}})["Id"].(string)
			b.sparse(t, "Item", old, map[string]any{"Active": false})
			prepaid := b.qboID(t, "Account", "Prepaid Expenses")
			b.sparse(t, "Account", prepaid, map[string]any{"Active": false})
			require.NoError(t, b.srv.SetSalesCustomField(b.realm, "3", qbotest.SalesCustomField{Name: "Cost Center"}))
			b.update(t)
			saved := b.valid(t)
			saved.CustomFields = saved.CustomFields[:2]
			_, err := lists.Save(b.ctx, b.c, b.conn.ID, saved)
			require.NoError(t, err)

			ar := b.qboID(t, "Account", "Accounts Receivable (A/R)")
			for _, tt := range []struct {
				name    string
				change  func(s *settings.Settings)
				field   string
				mention string
			}{
				{"UnknownPlaceholder", func(s *settings.Settings) { s.OneTransactionDescription = "Invoice {amount}" },
					"oneTransactionDescription", "unknown placeholder {amount}"},
				{"UnmatchedBrace", func(s *settings.Settings) { s.OneTransactionDescription = "Invoice {invoiceNumber" },
					"oneTransactionDescription", "unmatched brace"},
				{"FourCustomFields", func(s *settings.Settings) {
					s.CustomFields = append(s.CustomFields, settings.CustomField{BooksField: "A", DefinitionID: "3"},
						settings.CustomField{BooksField: "B", DefinitionID: "4"})
					require.Len(t, s.CustomFields, 4)
				}, "customFields", "at most 3"},
				{"UnknownCustomField", func(s *settings.Settings) { s.CustomFields[1].DefinitionID = "4" },
					"customFields[1].definitionId", `custom field "4" is not in the company's fetched lists`},
				{"DisabledCustomField", func(s *settings.Settings) { s.CustomFields[1].DefinitionID = "3" },
					"customFields[1].definitionId", "not enabled on sales forms"},
				{"BadDateMode", func(s *settings.Settings) { s.InvoiceDateMode = "due_date" }, "invoiceDateMode", ""},
				{"NonDepositAccount", func(s *settings.Settings) { s.PaymentMethods[1].DepositAccountID = ar },
					"paymentMethods[1].depositAccountId", "only Bank and Other Current Asset accounts can receive payments"},
				{"NonDepositDefault", func(s *settings.Settings) { s.DefaultDepositAccountID = ar },
					"defaultDepositAccountId", "only Bank and Other Current Asset accounts can receive payments"},
				{"InactiveDepositAccount", func(s *settings.Settings) { s.DefaultDepositAccountID = prepaid },
					"defaultDepositAccountId", "inactive"},
				{"UnknownDepositAccount", func(s *settings.Settings) { s.PaymentMethods[0].DepositAccountID = "4242" },
					"paymentMethods[0].depositAccountId", `account "4242"`},
				{"UnknownPaymentMethod", func(s *settings.Settings) { s.PaymentMethods[0].PaymentMethodID = "4242" },
					"paymentMethods[0].paymentMethodId", `payment method "4242"`},
				{"UnknownDefaultPaymentMethod", func(s *settings.Settings) { s.DefaultPaymentMethodID = "4242" },
					"defaultPaymentMethodId", `payment method "4242"`},
				{"AccountAsPaymentMethod", func(s *settings.Settings) { s.DefaultPaymentMethodID = s.DefaultDepositAccountID + "0" },
					"defaultPaymentMethodId", "payment method"},
				{"UnknownPaymentSystem", func(s *settings.Settings) { s.PaymentMethods[0].System = "paypal" },
					"paymentMethods", "paypal"},
				{"InactiveServiceItem", func(s *settings.Settings) { s.ServiceItemID = old },
					"serviceItemId", "Old Services (" + old + ") is inactive"},
				{"NonServiceItem", func(s *settings.Settings) { s.ServiceItemID = parts },
					"serviceItemId", "of type NonInventory"},
				{"UnknownServiceItem", func(s *settings.Settings) { s.ServiceItemID = "4242" },
					"serviceItemId", `item "4242"`},
			} {
				s := clone(saved)
				tt.change(&s)
				_, err := lists.Save(b.ctx, b.c, b.conn.ID, s)
				requireCode(t, err, apperr.Validation)
				e, _ := apperr.As(err)
				require.Equal(t, tt.field, e.Field, tt.name)
				require.Contains(t, err.Error(), tt.mention, tt.name)

				got, err := lists.Get(b.ctx, b.c, b.conn.ID)
				require.NoError(t, err)
				require.Equal(t, saved, got, "%s: a refused save changes nothing", tt.name)
			}

			_, err = lists.Save(b.ctxB, b.c, b.conn.ID, saved)
			requireCode(t, err, apperr.NotFound)
			_, err = lists.Get(b.ctxB, b.c, b.conn.ID)
			requireCode(t, err, apperr.NotFound)
		})
	})

	t.Run("ListsNotFetched", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, b *testBundle) {
			for _, s := range []settings.Settings{
				{ServiceItemID: "1"},
				{DefaultDepositAccountID: "35"},
				{PaymentMethods: []settings.PaymentMethod{{System: "stripe", PaymentMethodID: "3"}}},
				{SyncCustomFields: true, CustomFields: []settings.CustomField{{BooksField: "PO", DefinitionID: "1"}}},
			} {
				_, err := lists.Save(b.ctx, b.c, b.conn.ID, s)
				requireCode(t, err, apperr.Validation)
				require.ErrorContains(t, err, "run Update lists")
			}
			got, err := lists.Get(b.ctx, b.c, b.conn.ID)
			require.NoError(t, err)
			require.Equal(t, settings.Settings{}, got)
		})
	})
}
