// Package ledger is the double-entry general ledger of each legal entity: charts of
// accounts, classes, COA mappings, accounting periods, and the posting and reversal of
// journal entries. Every write is balanced and validated here before it reaches the
// database, and the database checks it again (see internal/database/migrations).
package ledger
