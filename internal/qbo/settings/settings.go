// Package settings holds the sync settings of a QuickBooks Online connection (seed 001's
// "Additional Settings") and their validation. It is a leaf package: the ent schema stores
// Settings as JSON on the connection row, the push engine reads it, and GraphQL edits it.
package settings

import (
	"fmt"
	"regexp"
	"strings"

	"books/internal/apperr"
)

// DateMode decides the TxnDate of an invoice pushed to QuickBooks.
type DateMode string

// The invoice date modes of seed 001.
const (
	// PeriodEnd is "Invoice Date To": the last service date on the invoice (the end of the
	// period it covers), or the invoice date when no line has one.
	PeriodEnd DateMode = "period_end"
	// CreationDate is the Books invoice date.
	CreationDate DateMode = "creation_date"
	// SyncDate is the day the invoice is pushed, in UTC.
	SyncDate DateMode = "sync_date"
)

// DateModes lists the modes.
var DateModes = []DateMode{PeriodEnd, CreationDate, SyncDate}

// MaxCustomFields is how many Books invoice fields may map to QuickBooks custom fields
// (QuickBooks offers three on sales forms).
const MaxCustomFields = 3

// Placeholders are the names a one-transaction description template may use.
var Placeholders = []string{"invoiceNumber", "invoiceDate", "client"}

// DefaultDescription is the template used when one-transaction invoices have none.
const DefaultDescription = "Invoice {invoiceNumber} / {invoiceDate} / {client}"

// CustomField maps one Books invoice custom field to a QuickBooks custom-field definition.
type CustomField struct {
	// BooksField is the key in the invoice's custom_fields, e.g. CampaignId.
	BooksField string `json:"books_field"`
	// DefinitionID is the QuickBooks custom-field definition id (from "Update lists").
	DefinitionID string `json:"definition_id"`
}

// PaymentMethod maps a Books payment system (and optionally a method) to the QuickBooks
// account payments are deposited to and the QuickBooks payment method.
type PaymentMethod struct {
	// System is the Books payment processor: manual, stripe or qbo.
	System string `json:"system"`
	// Method narrows the mapping to one payment method (card, ach, check, wire, cash,
	// other); empty for every method of the system.
	Method string `json:"method,omitempty"`
	// DepositAccountID is a QuickBooks account of type Bank or Other Current Asset.
	DepositAccountID string `json:"deposit_account_id,omitempty"`
	// PaymentMethodID is a QuickBooks PaymentMethod id.
	PaymentMethodID string `json:"payment_method_id,omitempty"`
}

// Settings are a connection's sync settings. The zero value is valid: invoices are pushed
// line by line, unsplit, dated by their invoice date, without custom fields, only when
// someone asks.
type Settings struct {
	OneTransactionInvoice     bool            `json:"one_transaction_invoice,omitempty"`
	OneTransactionDescription string          `json:"one_transaction_description,omitempty"`
	SplitInvoiceByMonth       bool            `json:"split_invoice_by_month,omitempty"`
	SyncCustomFields          bool            `json:"sync_custom_fields,omitempty"`
	CustomFields              []CustomField   `json:"custom_fields,omitempty"`
	AutoSyncInvoices          bool            `json:"auto_sync_invoices,omitempty"`
	InvoiceDateMode           DateMode        `json:"invoice_date_mode,omitempty"`
	ServiceItemID             string          `json:"service_item_id,omitempty"`
	PaymentMethods            []PaymentMethod `json:"payment_methods,omitempty"`
	DefaultDepositAccountID   string          `json:"default_deposit_account_id,omitempty"`
	DefaultPaymentMethodID    string          `json:"default_payment_method_id,omitempty"`
}

// DateModeOrDefault returns the invoice date mode, CreationDate when unset.
func (s Settings) DateModeOrDefault() DateMode {
	if s.InvoiceDateMode == "" {
		return CreationDate
	}
	return s.InvoiceDateMode
}

// Description returns the one-transaction description template, the default when unset.
func (s Settings) Description() string {
	if strings.TrimSpace(s.OneTransactionDescription) == "" {
		return DefaultDescription
	}
	return s.OneTransactionDescription
}

// Deposit returns the deposit account and payment method for a payment of system and method:
// the mapping for the system and method, else for the system, else the defaults.
func (s Settings) Deposit(system, method string) (account, paymentMethod string) {
	pick := func(m PaymentMethod) {
		if account == "" {
			account = m.DepositAccountID
		}
		if paymentMethod == "" {
			paymentMethod = m.PaymentMethodID
		}
	}
	for _, m := range s.PaymentMethods {
		if m.System == system && m.Method == method && method != "" {
			pick(m)
		}
	}
	for _, m := range s.PaymentMethods {
		if m.System == system && m.Method == "" {
			pick(m)
		}
	}
	pick(PaymentMethod{DepositAccountID: s.DefaultDepositAccountID, PaymentMethodID: s.DefaultPaymentMethodID})
	return account, paymentMethod
}

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

var (
	systems = []string{"manual", "stripe", "qbo"}
	methods = []string{"card", "ach", "check", "wire", "cash", "other"}
)

// Validate checks the settings on their own; that the QuickBooks ids they name exist and
// have the right type is checked against the fetched lists by the caller. Errors are
// VALIDATION with the field named.
func (s Settings) Validate() error {
	if err := ValidateTemplate(s.OneTransactionDescription); err != nil {
		return err
	}
	if s.InvoiceDateMode != "" && !contains(DateModes, s.InvoiceDateMode) {
		return invalid("invoiceDateMode", "must be one of PERIOD_END, CREATION_DATE, SYNC_DATE")
	}
	if len(s.CustomFields) > MaxCustomFields {
		return invalid("customFields", fmt.Sprintf("at most %d custom fields can be synced", MaxCustomFields))
	}
	seenField, seenDef := map[string]bool{}, map[string]bool{}
	for _, f := range s.CustomFields {
		switch {
		case strings.TrimSpace(f.BooksField) == "" || strings.TrimSpace(f.DefinitionID) == "":
			return invalid("customFields", "each custom field needs a Books field and a QuickBooks definition")
		case seenField[f.BooksField]:
			return invalid("customFields", fmt.Sprintf("Books field %q is mapped twice", f.BooksField))
		case seenDef[f.DefinitionID]:
			return invalid("customFields", fmt.Sprintf("QuickBooks custom field %q is mapped twice", f.DefinitionID))
		}
		seenField[f.BooksField], seenDef[f.DefinitionID] = true, true
	}
	if s.SyncCustomFields && len(s.CustomFields) == 0 {
		return invalid("customFields", "syncing custom fields needs at least one mapped field")
	}
	seenMap := map[string]bool{}
	for _, m := range s.PaymentMethods {
		if !contains(systems, m.System) {
			return invalid("paymentMethods", fmt.Sprintf("payment system %q is not one of manual, stripe, qbo", m.System))
		}
		if m.Method != "" && !contains(methods, m.Method) {
			return invalid("paymentMethods", fmt.Sprintf("payment method %q is not one of %s", m.Method,
				strings.Join(methods, ", ")))
		}
		if m.DepositAccountID == "" && m.PaymentMethodID == "" {
			return invalid("paymentMethods", "a mapping needs a deposit account, a payment method or both")
		}
		key := m.System + "/" + m.Method
		if seenMap[key] {
			return invalid("paymentMethods", fmt.Sprintf("payment system %s is mapped twice", key))
		}
		seenMap[key] = true
	}
	return nil
}

// ValidateTemplate checks a one-transaction description template: at most 4,000 characters
// (QuickBooks' line description limit) and only the known placeholders, each in braces.
func ValidateTemplate(t string) error {
	if len(t) > 4000 {
		return invalid("oneTransactionDescription", "is longer than 4000 characters")
	}
	for _, m := range placeholder.FindAllString(t, -1) {
		if !contains(Placeholders, m[1:len(m)-1]) {
			return invalid("oneTransactionDescription", fmt.Sprintf("unknown placeholder %s; use {invoiceNumber}, "+
				"{invoiceDate} or {client}", m))
		}
	}
	rest := placeholder.ReplaceAllString(t, "")
	if strings.ContainsAny(rest, "{}") {
		return invalid("oneTransactionDescription", "has an unmatched brace")
	}
	return nil
}

// Render fills a template validated by ValidateTemplate.
func Render(t, invoiceNumber, invoiceDate, client string) string {
	return strings.NewReplacer("{invoiceNumber}", invoiceNumber, "{invoiceDate}", invoiceDate,
		"{client}", client).Replace(t)
}

func invalid(field, msg string) error {
	return apperr.New(apperr.Validation, "%s %s", field, msg).WithField(field)
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
