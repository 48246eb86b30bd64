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
// So the AR control account always equals the sum of open invoice balances.
package billing
