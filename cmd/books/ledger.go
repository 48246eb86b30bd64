package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"books/ent"
	"books/ent/legalentity"
	"books/internal/integrity"
	"books/internal/tenant"
)

const ledgerUsage = `usage: books ledger verify [--entity le_…] [--seal] [--data-dir] [--database-url]

verify   recompute each legal entity's hash chain of sealed journal entries and check the
         ledger's invariants; record the outcome and exit non-zero when any entity fails`

func ledgerCmd(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(ledgerUsage)
	}
	switch args[0] {
	case "verify":
		return ledgerVerify(ctx, args[1:], os.Stdout)
	case "-h", "-help", "--help", "help":
		fmt.Println(ledgerUsage)
		return nil
	}
	return fmt.Errorf("unknown ledger command %q\n%s", args[0], ledgerUsage)
}

// errLedgerBroken is what ledger verify returns when an entity failed; the entities' lines
// on stdout say which and why.
var errLedgerBroken = errors.New("ledger verification failed")

// ledgerVerify verifies every entity (or --entity), records a LedgerVerification for each
// and prints one line per entity to out. It seals nothing unless asked: a check that wrote
// what it checks would vouch for its own writes.
func ledgerVerify(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("ledger verify", flag.ContinueOnError)
	var c common
	c.register(fs)
	entityID := fs.String("entity", "", "verify only this legal entity (le_…)")
	seal := fs.Bool("seal", false, "seal pending posted entries before verifying")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), ledgerUsage)
	}
	db, err := c.openDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	// An unmigrated database has no migrations table, which Pending reports as an error.
	if n, err := db.Pending(ctx); err != nil {
		return fmt.Errorf("read the migration state (run 'books migrate' first): %w", err)
	} else if n > 0 {
		return fmt.Errorf("the database has %d pending migration(s); run 'books migrate' first", n)
	}
	client := db.Client()
	ctx = tenant.System(ctx)

	q := client.LegalEntity.Query().Order(legalentity.ByOrganizationID(), legalentity.ByCode())
	if *entityID != "" {
		q = q.Where(legalentity.ID(*entityID))
	}
	entities, err := q.All(ctx)
	if err != nil {
		return fmt.Errorf("list legal entities: %w", err)
	}
	if *entityID != "" && len(entities) == 0 {
		return fmt.Errorf("legal entity %q not found", *entityID)
	}
	failed := 0
	for _, e := range entities {
		ok, err := verifyEntity(ctx, client, e, *seal, out)
		if err != nil {
			// One entity that cannot be read (a row tampered into an unreadable value) must
			// not keep the others unchecked.
			if _, werr := fmt.Fprintf(out, "ERROR %s %s  could not verify: %v\n", e.ID, e.Code, err); werr != nil {
				return werr
			}
		}
		if !ok {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%w for %d of %d entities", errLedgerBroken, failed, len(entities))
	}
	return nil
}

func verifyEntity(ctx context.Context, client *ent.Client, e *ent.LegalEntity, seal bool, out io.Writer) (bool, error) {
	r, _, err := integrity.VerifyAndRecord(ctx, client, e.ID, seal)
	if err != nil {
		return false, err
	}
	if r.OK {
		_, err = fmt.Fprintf(out, "OK    %s %s  head seq %d hash %s  (%d entries checked, %d sealed)\n",
			e.ID, e.Code, r.HeadSeq, headHash(r.HeadHash), r.EntriesChecked, r.EntriesSealed)
		return true, err
	}
	more := ""
	if n := len(r.Problems) - 1; n > 0 {
		more = fmt.Sprintf("  (+%d more problem(s))", n)
	}
	_, err = fmt.Fprintf(out, "FAIL  %s %s  %s%s\n", e.ID, e.Code, r.Problem, more)
	return false, err
}

func headHash(h string) string {
	if h == "" {
		return "-"
	}
	return h
}
