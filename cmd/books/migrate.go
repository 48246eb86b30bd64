package main

import (
	"context"
	"flag"
	"fmt"

	"books/internal/database"
)

func migrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	var c common
	c.register(fs)
	diff := fs.Bool("diff", false, "print the DDL that would bring the migrated database in line with ent/schema (the body of the next migration) instead of migrating")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := c.openDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if *diff {
		return printDiff(ctx, db)
	}
	applied, err := migrateAll(ctx, db)
	if err != nil {
		return err
	}
	for _, m := range applied {
		fmt.Println("applied", m)
	}
	if len(applied) == 0 {
		fmt.Println("database is up to date")
	}
	return nil
}

func printDiff(ctx context.Context, db *database.DB) error {
	ddl, err := db.SchemaDiff(ctx)
	if err != nil {
		return err
	}
	if ddl == "" {
		fmt.Println("-- the database matches ent/schema")
		return nil
	}
	fmt.Println(ddl)
	return nil
}
