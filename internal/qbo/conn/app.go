package conn

import (
	"net/http"
	"strings"

	"golang.org/x/oauth2"
)

// Intuit's OAuth endpoints (qbo-api.md §1).
const (
	IntuitAuthURL   = "https://appcenter.intuit.com/connect/oauth2"
	IntuitTokenURL  = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
	IntuitRevokeURL = "https://developer.api.intuit.com/v2/oauth2/tokens/revoke"
	// AccountingScope is the scope the push and the payment sync need.
	AccountingScope = "com.intuit.quickbooks.accounting"
)

// App is the Intuit app Books connects companies with: its OAuth client and the endpoints it
// talks to. The endpoints are configurable so that tests and the demo use the emulator
// (internal/qbo/qbotest), which serves all of them from one base URL.
type App struct {
	ClientID     string
	ClientSecret string
	AuthURL      string
	TokenURL     string
	RevokeURL    string
	// RedirectURL is Books' callback, e.g. https://books.example.com/oauth/qbo/callback; it
	// must be registered with the Intuit app.
	RedirectURL string
	// APIBaseURL is the Accounting API's base URL new connections use (qbo.ProductionBaseURL,
	// qbo.SandboxBaseURL or the emulator's URL).
	APIBaseURL string
	// HTTPClient sends token, revoke and API requests; http.DefaultClient when nil.
	HTTPClient *http.Client
}

// EmulatorApp returns an App whose endpoints are the emulator's at baseURL.
func EmulatorApp(baseURL, clientID, clientSecret, redirectURL string) App {
	base := strings.TrimRight(baseURL, "/")
	return App{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		AuthURL:      base + "/connect/oauth2",
		TokenURL:     base + "/oauth2/v1/tokens/bearer",
		RevokeURL:    base + "/v2/oauth2/tokens/revoke",
		RedirectURL:  redirectURL,
		APIBaseURL:   base,
	}
}

// OAuth2 returns the x/oauth2 configuration of the app. Intuit takes the client credentials
// in a Basic Authorization header.
func (a App) OAuth2() *oauth2.Config {
	return &oauth2.Config{
		ClientID:     a.ClientID,
		ClientSecret: a.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   a.AuthURL,
			TokenURL:  a.TokenURL,
			AuthStyle: oauth2.AuthStyleInHeader,
		},
		RedirectURL: a.RedirectURL,
		Scopes:      []string{AccountingScope},
	}
}

// Client returns the HTTP client for the app's own requests.
func (a App) Client() *http.Client {
	if a.HTTPClient != nil {
		return a.HTTPClient
	}
	return http.DefaultClient
}
