package main

import (
	"context"
	"flag"
	"fmt"

	"books/internal/qbo/qbotest"
)

// qboSandbox runs the QuickBooks Online emulator standalone until ctx is
// cancelled (SIGINT/SIGTERM).
func qboSandbox(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("qbo-sandbox", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address")
	realms := fs.Int("realms", 1, "number of companies (realms)")
	clientID := fs.String("client-id", qbotest.DefaultClientID, "OAuth client id the token endpoint accepts")
	clientSecret := fs.String("client-secret", qbotest.DefaultClientSecret, "OAuth client secret the token endpoint accepts")
	webhookURL := fs.String("webhook-url", "", "POST a signed webhook notification here on every change (CloudEvents format)")
	webhookVerifier := fs.String("webhook-verifier", "", "verifier token for the intuit-signature header (required with --webhook-url)")
	webhookLegacy := fs.Bool("webhook-legacy", false, "send the legacy eventNotifications format instead of CloudEvents")
	noLimits := fs.Bool("no-limits", false, "turn off throttling (default: 500 requests/min, 10 concurrent, 40 batch/min per realm)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *realms < 1 {
		return fmt.Errorf("--realms must be at least 1")
	}
	opts := []qbotest.Option{qbotest.WithRealms(*realms), qbotest.WithClient(*clientID, *clientSecret)}
	if *webhookURL != "" {
		if *webhookVerifier == "" {
			return fmt.Errorf("--webhook-url needs --webhook-verifier")
		}
		var wopts []qbotest.WebhookOption
		if *webhookLegacy {
			wopts = append(wopts, qbotest.WebhookLegacy())
		}
		opts = append(opts, qbotest.WithWebhook(*webhookURL, *webhookVerifier, wopts...))
	} else if *webhookVerifier != "" || *webhookLegacy {
		return fmt.Errorf("--webhook-verifier and --webhook-legacy need --webhook-url")
	}
	if *noLimits {
		opts = append(opts, qbotest.WithoutLimits())
	}
	srv := qbotest.New(opts...)
	if err := srv.Start(*addr); err != nil {
		return err
	}
	fmt.Printf("qbo-sandbox listening on %s\n", srv.URL)
	fmt.Printf("  authorize: %s/connect/oauth2\n  token:     %s/oauth2/v1/tokens/bearer\n  revoke:    %s/v2/oauth2/tokens/revoke\n  api:       %s/v3/company/{realmId}/…\n", srv.URL, srv.URL, srv.URL, srv.URL)
	fmt.Printf("  control:   %s/_control/ (no auth; see internal/qbo/qbotest/FIDELITY.md)\n", srv.URL)
	fmt.Printf("  client id:     %s\n  client secret: %s\n", srv.ClientID(), srv.ClientSecret())
	if *webhookURL != "" {
		fmt.Printf("  webhooks:  %s\n", *webhookURL)
	}
	if *noLimits {
		fmt.Printf("  limits:    off\n")
	}
	for _, id := range srv.RealmIDs() {
		fmt.Printf("  realm: %s\n", id)
	}
	<-ctx.Done()
	return srv.Close()
}
