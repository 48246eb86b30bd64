package push

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"books/ent"
	"books/ent/qbolink"
	"books/internal/ids"
	"books/internal/qbo/syncstate"
)

// QuickBooks entity each record type is pushed as. A credit memo's applications travel as a
// zero-amount Payment (QuickBooks applies credit to an invoice only through a payment), kept
// in the credit memo's part 1.
var qboTypes = map[qbolink.RecordType]string{
	qbolink.RecordTypeClass:          "Class",
	qbolink.RecordTypeItem:           "Item",
	qbolink.RecordTypeCustomer:       "Customer",
	qbolink.RecordTypeVendor:         "Vendor",
	qbolink.RecordTypeInvoice:        "Invoice",
	qbolink.RecordTypePayment:        "Payment",
	qbolink.RecordTypeCreditMemo:     "CreditMemo",
	qbolink.RecordTypeRefund:         "RefundReceipt",
	qbolink.RecordTypeChargeReversal: "JournalEntry",
	qbolink.RecordTypeWriteOff:       "JournalEntry",
	qbolink.RecordTypeJournalEntry:   "JournalEntry",
}

// creditApplicationPart is the part of a credit memo's link that holds the QuickBooks
// Payment applying the credit to invoices.
const creditApplicationPart = 1

// refundReclassPart is the part of a refund's link that holds the JournalEntry moving the
// refund from the service item's income account back to Accounts Receivable: a RefundReceipt
// books a refund against income, where Books refunds money the customer had paid (its
// receivable), so QuickBooks' income and the customer's balance end where Books has them.
const refundReclassPart = 1

// phases is the order a drain pushes in: what a record refers to goes before it.
var phases = []qbolink.RecordType{
	qbolink.RecordTypeClass, qbolink.RecordTypeItem, qbolink.RecordTypeCustomer, qbolink.RecordTypeVendor,
	qbolink.RecordTypeInvoice, qbolink.RecordTypeCreditMemo, qbolink.RecordTypePayment, qbolink.RecordTypeRefund,
	qbolink.RecordTypeChargeReversal, qbolink.RecordTypeWriteOff, qbolink.RecordTypeJournalEntry,
}

func qboTypeOf(t qbolink.RecordType, part int) string {
	if t == qbolink.RecordTypeCreditMemo && part == creditApplicationPart {
		return "Payment"
	}
	if t == qbolink.RecordTypeRefund && part == refundReclassPart {
		return "JournalEntry"
	}
	return qboTypes[t]
}

// want is one link a request asks for.
type want struct {
	recordType qbolink.RecordType
	recordID   string
	part       int
	op         qbolink.Operation
}

// ensure makes the link of w pending with a new generation, creating it when missing. With
// onlyMissing, an existing link is left as it is (a dependency already linked needs no write).
// It runs in the caller's transaction.
func ensure(ctx context.Context, c *ent.Client, row *ent.QBOConnection, w want, onlyMissing bool) (*ent.QBOLink, error) {
	l, changed, err := ensureLink(ctx, c, row, w, onlyMissing)
	if err != nil || !changed {
		return l, err
	}
	return l, setRecordStatus(ctx, c, l, syncstate.Pending)
}

func ensureLink(ctx context.Context, c *ent.Client, row *ent.QBOConnection, w want, onlyMissing bool) (*ent.QBOLink, bool, error) {
	find := func() (*ent.QBOLink, error) {
		return c.QBOLink.Query().Where(qbolink.ConnectionID(row.ID), qbolink.RecordTypeEQ(w.recordType),
			qbolink.RecordID(w.recordID), qbolink.Part(w.part)).Only(ctx)
	}
	cur, err := find()
	if ent.IsNotFound(err) {
		// Another transaction may be creating the same link (two approvals sharing a customer
		// or item): the insert waits for it and, if it commits, leaves its link to be used
		// below instead of failing this transaction on the unique key.
		id := ids.New(ids.QBOLink)
		err = c.QBOLink.Create().
			SetID(id).
			SetConnectionID(row.ID).
			SetEntityID(row.EntityID).
			SetRecordType(w.recordType).
			SetRecordID(w.recordID).
			SetPart(w.part).
			SetQboType(qboTypeOf(w.recordType, w.part)).
			SetOperation(w.op).
			SetStatus(qbolink.StatusPending).
			OnConflictColumns(qbolink.FieldConnectionID, qbolink.FieldRecordType, qbolink.FieldRecordID, qbolink.FieldPart).
			DoNothing().
			Exec(ctx)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, false, err
		}
		if cur, err = find(); err != nil {
			return nil, false, err
		}
		if cur.ID == id {
			return cur, true, nil
		}
	}
	if err != nil {
		return nil, false, err
	}
	if onlyMissing && cur.Status != qbolink.StatusError {
		return cur, false, nil
	}
	if cur.Status == qbolink.StatusDeletedRemotely && w.op == qbolink.OperationUpsert {
		// Deleted in QuickBooks: pushing again creates a new record, never silently.
		l, err := c.QBOLink.UpdateOne(cur).ClearQboID().ClearClaim().SetSyncToken("").
			SetStatus(qbolink.StatusPending).SetOperation(w.op).AddGeneration(1).SetAttempts(0).
			SetLastError("").SetLastErrorCode("").Save(ctx)
		return l, err == nil, err
	}
	l, err := c.QBOLink.UpdateOne(cur).SetStatus(qbolink.StatusPending).SetOperation(w.op).AddGeneration(1).
		SetLastError("").SetLastErrorCode("").Save(ctx)
	return l, err == nil, err
}

// requestID derives a write's QuickBooks requestid from the link, the operation and the
// generation: a retry of the same write sends the same id, so QuickBooks answers it as it
// answered the first time instead of acting again. At most 50 characters.
func requestID(l *ent.QBOLink) string {
	return fmt.Sprintf("%s:%c:%d", l.ID, l.Operation[0], l.Generation)
}

// batchRequestID derives a batch's requestid (at most 36 characters) from its writes.
func batchRequestID(links []*ent.QBOLink) string {
	keys := make([]string, len(links))
	for i, l := range links {
		keys[i] = requestID(l)
	}
	sort.Strings(keys)
	sum := sha256.Sum256([]byte(strings.Join(keys, "|")))
	return "b" + hex.EncodeToString(sum[:])[:32]
}

// docNumber is the document number a record without a number of its own is pushed with,
// and looked up by before it is created again: a prefix and the random end of its id
// (QuickBooks allows 21 characters).
func docNumber(prefix, id string) string {
	if len(id) > 16 {
		id = id[len(id)-16:]
	}
	return prefix + strings.ToUpper(id)
}
