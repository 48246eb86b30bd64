package settings_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"books/internal/apperr"
	"books/internal/qbo/settings"
)

func requireInvalid(t *testing.T, err error, field, mention string) {
	t.Helper()
	require.Error(t, err)
	e, ok := apperr.As(err)
	require.True(t, ok, "%v", err)
	require.Equal(t, apperr.Validation, e.Code)
	require.Equal(t, field, e.Field)
	require.Contains(t, e.Message, mention)
}

func TestValidateTemplate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, template string
		mention        string // "" when valid
	}{
		{"Empty", "", ""},
		{"Default", settings.DefaultDescription, ""},
		{"EveryPlaceholder", "{client}: invoice {invoiceNumber} of {invoiceDate}", ""},
		{"Repeated", "{client} {client}", ""},
		{"NoPlaceholder", "Consulting services", ""},
		{"Longest", strings.Repeat("x", 4000), ""},
		{"TooLong", strings.Repeat("x", 4001), "longer than 4000"},
		{"UnknownPlaceholder", "Invoice {amount}", "unknown placeholder {amount}"},
		{"WrongCase", "Invoice {InvoiceNumber}", "unknown placeholder {InvoiceNumber}"},
		{"EmptyBraces", "Invoice {}", "unknown placeholder {}"},
		{"Spaced", "Invoice { client }", "unknown placeholder { client }"},
		{"UnmatchedOpen", "Invoice {invoiceNumber", "unmatched brace"},
		{"UnmatchedClose", "Invoice invoiceNumber}", "unmatched brace"},
		{"Nested", "{{client}}", "unmatched brace"},
		{"DoubledOpen", "{{client}", "unmatched brace"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := settings.ValidateTemplate(tt.template)
			if tt.mention == "" {
				require.NoError(t, err)
				return
			}
			requireInvalid(t, err, "oneTransactionDescription", tt.mention)
		})
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, template, want string
	}{
		{"Default", settings.DefaultDescription, "Invoice INV-0042 / 2026-11-30 / Acme Corp"},
		{"Repeated", "{client} ({client})", "Acme Corp (Acme Corp)"},
		{"NoPlaceholder", "Services", "Services"},
		{"Empty", "", ""},
		// A value holding a placeholder is not expanded again.
		{"ValueNotExpanded", "{client} {invoiceNumber}", "{invoiceNumber} INV-0042"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := "Acme Corp"
			if tt.name == "ValueNotExpanded" {
				client = "{invoiceNumber}"
			}
			require.Equal(t, tt.want, settings.Render(tt.template, "INV-0042", "2026-11-30", client))
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	var s settings.Settings
	require.NoError(t, s.Validate(), "the zero settings are valid")
	require.Equal(t, settings.CreationDate, s.DateModeOrDefault())
	require.Equal(t, settings.DefaultDescription, s.Description())
	s.OneTransactionDescription = "  "
	require.Equal(t, settings.DefaultDescription, s.Description(), "a blank template is the default")
	s = settings.Settings{InvoiceDateMode: settings.SyncDate, OneTransactionDescription: "{client}"}
	require.Equal(t, settings.SyncDate, s.DateModeOrDefault())
	require.Equal(t, "{client}", s.Description())
}

func TestValidate(t *testing.T) {
	t.Parallel()
	valid := func() settings.Settings {
		return settings.Settings{
			OneTransactionInvoice:     true,
			OneTransactionDescription: "Invoice {invoiceNumber}",
			SplitInvoiceByMonth:       true,
			SyncCustomFields:          true,
			CustomFields: []settings.CustomField{
				{BooksField: "PO", DefinitionID: "1"}, {BooksField: "Project", DefinitionID: "2"},
				{BooksField: "CampaignId", DefinitionID: "3"},
			},
			AutoSyncInvoices: true,
			InvoiceDateMode:  settings.PeriodEnd,
			ServiceItemID:    "1",
			PaymentMethods: []settings.PaymentMethod{
				{System: "stripe", DepositAccountID: "35", PaymentMethodID: "3"},
				{System: "stripe", Method: "ach", DepositAccountID: "36"},
				{System: "manual", Method: "check", PaymentMethodID: "2"},
				{System: "qbo", DepositAccountID: "4"},
			},
			DefaultDepositAccountID: "4",
			DefaultPaymentMethodID:  "1",
		}
	}
	require.NoError(t, valid().Validate())
	for _, mode := range settings.DateModes {
		s := valid()
		s.InvoiceDateMode = mode
		require.NoError(t, s.Validate(), mode)
	}

	for _, tt := range []struct {
		name    string
		change  func(s *settings.Settings)
		field   string
		mention string
	}{
		{"BadTemplate", func(s *settings.Settings) { s.OneTransactionDescription = "{total}" },
			"oneTransactionDescription", "unknown placeholder"},
		{"BadDateMode", func(s *settings.Settings) { s.InvoiceDateMode = "due_date" }, "invoiceDateMode", "must be one of"},
		{"FourCustomFields", func(s *settings.Settings) {
			s.CustomFields = append(s.CustomFields, settings.CustomField{BooksField: "X", DefinitionID: "4"})
		}, "customFields", "at most 3"},
		{"CustomFieldWithoutBooksField", func(s *settings.Settings) { s.CustomFields[0].BooksField = " " },
			"customFields", "needs a Books field"},
		{"CustomFieldWithoutDefinition", func(s *settings.Settings) { s.CustomFields[0].DefinitionID = "" },
			"customFields", "needs a Books field and a QuickBooks definition"},
		{"BooksFieldTwice", func(s *settings.Settings) { s.CustomFields[1].BooksField = "PO" },
			"customFields", `Books field "PO" is mapped twice`},
		{"DefinitionTwice", func(s *settings.Settings) { s.CustomFields[2].DefinitionID = "1" },
			"customFields", `QuickBooks custom field "1" is mapped twice`},
		{"SyncWithoutFields", func(s *settings.Settings) { s.CustomFields = nil }, "customFields", "at least one"},
		{"UnknownSystem", func(s *settings.Settings) { s.PaymentMethods[0].System = "paypal" },
			"paymentMethods", `"paypal"`},
		{"UnknownMethod", func(s *settings.Settings) { s.PaymentMethods[1].Method = "crypto" },
			"paymentMethods", `"crypto"`},
		{"EmptyMapping", func(s *settings.Settings) {
			s.PaymentMethods[0].DepositAccountID, s.PaymentMethods[0].PaymentMethodID = "", ""
		}, "paymentMethods", "a deposit account, a payment method or both"},
		{"SystemTwice", func(s *settings.Settings) {
			s.PaymentMethods = append(s.PaymentMethods, settings.PaymentMethod{System: "stripe", DepositAccountID: "9"})
		}, "paymentMethods", "stripe/ is mapped twice"},
		{"MethodTwice", func(s *settings.Settings) {
			s.PaymentMethods = append(s.PaymentMethods, settings.PaymentMethod{System: "manual", Method: "check", DepositAccountID: "9"})
		}, "paymentMethods", "manual/check is mapped twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := valid()
			tt.change(&s)
			requireInvalid(t, s.Validate(), tt.field, tt.mention)
		})
	}

	// Custom fields listed but not synced are still checked, and allowed.
	s := valid()
	s.SyncCustomFields = false
	require.NoError(t, s.Validate())
}

func TestDeposit(t *testing.T) {
	t.Parallel()
	s := settings.Settings{
		PaymentMethods: []settings.PaymentMethod{
			{System: "stripe", DepositAccountID: "stripe-acct", PaymentMethodID: "stripe-pm"},
			{System: "stripe", Method: "ach", DepositAccountID: "ach-acct"},
			{System: "manual", Method: "check", PaymentMethodID: "check-pm"},
			{System: "qbo", PaymentMethodID: "qbo-pm"},
		},
		DefaultDepositAccountID: "default-acct",
		DefaultPaymentMethodID:  "default-pm",
	}
	for _, tt := range []struct {
		name, system, method string
		account, pm          string
	}{
		{"SystemMapping", "stripe", "card", "stripe-acct", "stripe-pm"},
		{"SystemMappingNoMethod", "stripe", "", "stripe-acct", "stripe-pm"},
		{"MethodMappingThenSystem", "stripe", "ach", "ach-acct", "stripe-pm"},
		{"MethodMappingThenDefault", "manual", "check", "default-acct", "check-pm"},
		{"OtherMethodOfSystemDefaults", "manual", "cash", "default-acct", "default-pm"},
		{"SystemPartlyMapped", "qbo", "card", "default-acct", "qbo-pm"},
		{"UnmappedSystem", "other", "card", "default-acct", "default-pm"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			account, pm := s.Deposit(tt.system, tt.method)
			require.Equal(t, tt.account, account)
			require.Equal(t, tt.pm, pm)
		})
	}
	account, pm := settings.Settings{}.Deposit("stripe", "card")
	require.Empty(t, account, "nothing mapped, no default")
	require.Empty(t, pm)
}
