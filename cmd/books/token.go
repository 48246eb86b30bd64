package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"books/internal/auth"
	"books/internal/tenant"
)

func token(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	var c common
	c.register(fs)
	role := fs.String("role", "admin", "comma-separated roles: admin, finance_lead, accountant, viewer")
	org := fs.String("org", "", "organization id (default: the only organization in the database)")
	subject := fs.String("subject", "", "user id the token names (default local-<role>)")
	customer := fs.String("customer", "", "mint a portal-client token bound to this customer id instead of a staff token")
	ttl := fs.Duration("ttl", 24*time.Hour, "token lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tokens, err := c.tokens(nil)
	if err != nil {
		return err
	}
	if *org == "" {
		if *org, err = onlyOrg(ctx, &c); err != nil {
			return err
		}
	}
	var roles []auth.Role
	if *customer == "" {
		for _, r := range strings.Split(*role, ",") {
			roles = append(roles, auth.Role(strings.TrimSpace(r)))
		}
	}
	sub := *subject
	if sub == "" {
		sub = "local-" + strings.ReplaceAll(*role, ",", "-")
		if *customer != "" {
			sub = "portal-" + *customer
		}
	}
	tok, err := tokens.Mint(sub, *org, roles, *customer, *ttl)
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}

func onlyOrg(ctx context.Context, c *common) (string, error) {
	db, err := c.openDB(ctx)
	if err != nil {
		return "", err
	}
	defer db.Close()
	ids, err := db.Client().Organization.Query().Limit(2).IDs(tenant.System(ctx))
	if err != nil {
		return "", fmt.Errorf("find organization (has the database been migrated?): %w", err)
	}
	if len(ids) != 1 {
		return "", fmt.Errorf("found %d organizations; name one with --org", len(ids))
	}
	return ids[0], nil
}
