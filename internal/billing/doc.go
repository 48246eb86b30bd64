// Package billing is accounts receivable: customers, vendors and service items; invoices and
// their approval gate; payments and their applications; credit memos, refunds, charge
// reversals and write-offs. Every money movement is posted to the ledger in the same
// transaction as the document that causes it, by the rules of the accounting design:
//
//	invoice approved        DR AR                 CR revenue (per line's item) or deferred revenue
//	payment recorded        DR Undeposited Funds  CR AR (applied) and Customer Credits (the rest)
//	credit applied later    DR Customer Credits   CR AR          (unapplying posts the mirror)
//	credit memo issued      DR revenue            CR Customer Credits
//	refund, charge reversal DR Customer Credits   CR Undeposited Funds (applied money is
//	                                              unapplied first, re-opening AR)
//	write-off               DR Bad Debt Expense   CR AR
//	invoice voided          the reversal of its approval entry
//
// Each entry belongs to the document that posts it (ledger.Entry.Document: the invoice, the
// write-off, the payment, the payment or credit application, the credit memo, the refund or
// the charge reversal), and each AR and Customer Credits line names the document's customer.
// The ledger lets only documents post to those control accounts and only a document undo its
// own entries, so the only way to take money back off an invoice is through billing
// (UnapplyPayment, UnapplyCredit, refunds, charge reversals, VoidInvoice), and billing refuses
// a COA mapping that would send its lines to the wrong control account. So the AR control
// accounts always equal the sum of open invoice balances, and Customer Credits the unapplied
// payments and credit memo remaining.
package billing
