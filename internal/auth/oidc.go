package auth

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"books/internal/apperr"
)

// Default claim names of the OIDC claim mapping (docs/auth.md).
const (
	DefaultOrgClaim      = "books_org"
	DefaultRolesClaim    = "books_roles"
	DefaultCustomerClaim = "books_customer"
)

const (
	// oidcLeeway absorbs clock skew between the provider and this server in exp, nbf and iat.
	oidcLeeway = 30 * time.Second
	// keySetMaxAge is how long fetched keys are trusted without asking the provider again;
	// a key the provider withdraws stops verifying within it.
	keySetMaxAge = time.Hour
	// defaultMinRefresh spaces key-set fetches prompted by unknown key ids, so a flood of
	// tokens with made-up kids costs the provider one request per interval.
	defaultMinRefresh = 30 * time.Second
	// maxDocument bounds what is read from the provider (discovery document, key set).
	maxDocument = 1 << 20
)

// oidcAlgorithms are the only signature algorithms accepted from the provider. HS256 is
// not among them: the provider's keys are public, so an HMAC "signed" with one proves
// nothing. Parsing refuses any other alg, "none" included, before a key is looked at.
var oidcAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// OIDCConfig configures OIDC, the verifier of an OpenID Connect provider's access tokens.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL, spelled exactly as its tokens' iss and its
	// discovery document's issuer spell it.
	Issuer string
	// Audience must be one of a token's aud values: the identifier the provider gives this
	// API (not the SPA's client id, or ID tokens would pass as access tokens).
	Audience string
	// OrgClaim, RolesClaim and CustomerClaim name the claims read for the organization, the
	// staff roles and the portal customer; empty means DefaultOrgClaim, DefaultRolesClaim,
	// DefaultCustomerClaim.
	OrgClaim, RolesClaim, CustomerClaim string
	// HTTPClient fetches the discovery document and keys; nil means a client with a
	// 10-second timeout.
	HTTPClient *http.Client
	// Logger reports failed key refreshes; nil discards.
	Logger *slog.Logger
	// MinRefreshInterval is the least time between two key-set fetches prompted by a key id
	// not in the cache; zero means 30 seconds.
	MinRefreshInterval time.Duration
	// Now is the clock for token times and key refreshes; nil means time.Now. Tests move it.
	Now func() time.Time
}

// OIDC verifies access tokens (JWTs) of one OpenID Connect provider against the keys it
// publishes (its JWKS) and maps their claims to a Principal (docs/auth.md):
//
//   - sub → Subject; iss → Issuer; exp (plus the leeway) → ExpiresAt; name (or preferred_username) → Name;
//     email → Email;
//   - OrgClaim (books_org), a string → Org, the Books organization id (org_…);
//   - CustomerClaim (books_customer), a string → a portal principal bound to that customer
//     (Kind KindPortal, Customer); staff roles are then ignored;
//   - otherwise RolesClaim (books_roles), a list of strings (or one string) of admin,
//     finance_lead, accountant, viewer in any case → Roles; unknown roles are ignored.
//
// A token without subject or organization, or with neither a known role nor a customer, is
// refused. Keys are cached; a token whose key id is not cached triggers a fetch of the key
// set (at most one per MinRefreshInterval), so the provider can rotate keys at any time.
type OIDC struct {
	cfg  OIDCConfig
	keys *keySet
}

// NewOIDC discovers the provider at cfg.Issuer (its /.well-known/openid-configuration
// names the key set) and fetches its keys once, so a wrong issuer URL or an unreachable
// provider is reported now rather than as every sign-in failing later.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	if cfg.Audience == "" {
		return nil, errors.New("OIDC: an audience is required")
	}
	if u, err := url.Parse(cfg.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("OIDC: issuer %q is not an http(s) URL", cfg.Issuer)
	}
	cfg.OrgClaim = cmp.Or(cfg.OrgClaim, DefaultOrgClaim)
	cfg.RolesClaim = cmp.Or(cfg.RolesClaim, DefaultRolesClaim)
	cfg.CustomerClaim = cmp.Or(cfg.CustomerClaim, DefaultCustomerClaim)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = defaultMinRefresh
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}

	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	discovery := strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/openid-configuration"
	if err := getJSON(ctx, cfg.HTTPClient, discovery, &doc); err != nil {
		return nil, fmt.Errorf("OIDC discovery at %s: %w", discovery, err)
	}
	// OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched
	// for, or tokens of one provider could be checked with another's keys.
	if doc.Issuer != cfg.Issuer {
		return nil, fmt.Errorf("OIDC discovery at %s names issuer %q, not %q", discovery, doc.Issuer, cfg.Issuer)
	}
	if u, err := url.Parse(doc.JWKSURI); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("OIDC discovery at %s: jwks_uri %q is not an http(s) URL", discovery, doc.JWKSURI)
	}
	ks := &keySet{url: doc.JWKSURI, client: cfg.HTTPClient, now: cfg.Now, minRefresh: cfg.MinRefreshInterval, log: cfg.Logger}
	keys, err := ks.fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("OIDC keys at %s: %w", doc.JWKSURI, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("OIDC keys at %s: no RS256 or ES256 signing key", doc.JWKSURI)
	}
	ks.store(keys)
	return &OIDC{cfg: cfg, keys: ks}, nil
}

// Issuer returns the provider's issuer URL: tokens whose iss is this are the provider's.
func (o *OIDC) Issuer() string { return o.cfg.Issuer }

type oidcClaims struct {
	jwt.Claims
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	Email             string `json:"email"`
}

// Verify checks token's algorithm, signature, issuer, audience and times and returns its
// principal. Every failure before the claims are mapped is ErrBadToken, whatever the cause.
func (o *OIDC) Verify(ctx context.Context, token string) (*Principal, error) {
	jws, err := jose.ParseSignedCompact(token, oidcAlgorithms)
	if err != nil {
		return nil, ErrBadToken
	}
	h := jws.Signatures[0].Header
	key, ok := o.keys.find(ctx, h.KeyID, h.Algorithm)
	if !ok {
		return nil, ErrBadToken
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, ErrBadToken
	}
	var c oidcClaims
	var all map[string]json.RawMessage
	if json.Unmarshal(payload, &c) != nil || json.Unmarshal(payload, &all) != nil {
		return nil, ErrBadToken
	}
	err = c.ValidateWithLeeway(jwt.Expected{
		Issuer:      o.cfg.Issuer,
		AnyAudience: jwt.Audience{o.cfg.Audience},
		Time:        o.cfg.Now(),
	}, oidcLeeway)
	if err != nil || c.Expiry == nil {
		return nil, ErrBadToken
	}

	p, err := bearerPrincipal(c.Subject, claimString(all[o.cfg.OrgClaim]), claimStrings(all[o.cfg.RolesClaim]),
		claimString(all[o.cfg.CustomerClaim]))
	if ae := (*apperr.Error)(nil); errors.As(err, &ae) {
		// Say which claims were read, so whoever configures the provider sees what to add.
		return nil, apperr.Wrap(ae.Code, ErrBadToken, fmt.Sprintf("%s (claims read: %s, %s, %s)",
			ae.Message, o.cfg.OrgClaim, o.cfg.RolesClaim, o.cfg.CustomerClaim))
	}
	if err != nil {
		return nil, err
	}
	// The token is accepted up to exp plus the leeway, so that is when it expires here: a
	// WebSocket closes then, and every operation is judged by the same instant.
	p.Issuer, p.Email, p.ExpiresAt = c.Issuer, c.Email, c.Expiry.Time().Add(oidcLeeway)
	p.Name = cmp.Or(c.Name, c.PreferredUsername)
	return p, nil
}

// claimString returns a string claim, or "" when it is absent or not a string.
func claimString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return strings.TrimSpace(s)
}

// claimStrings returns a claim holding a list of strings or a single string.
func claimStrings(raw json.RawMessage) []string {
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	if s := claimString(raw); s != "" {
		return []string{s}
	}
	return nil
}

// keySet caches the provider's verification keys by key id and algorithm.
type keySet struct {
	url        string
	client     *http.Client
	now        func() time.Time
	minRefresh time.Duration
	log        *slog.Logger

	// refreshing serializes fetches: callers that miss together wait for one fetch.
	refreshing sync.Mutex

	mu        sync.Mutex
	keys      map[keyID]any // *rsa.PublicKey or *ecdsa.PublicKey
	loaded    time.Time     // last successful fetch
	attempted time.Time     // last fetch, successful or not
}

type keyID struct {
	kid string
	alg string
}

// find returns the key verifying tokens with kid and alg, fetching the key set first when
// the key is not cached or the cache is older than keySetMaxAge. Fetches are rate-limited;
// when one fails the cached keys keep serving.
func (k *keySet) find(ctx context.Context, kid, alg string) (any, bool) {
	key, ok, stale := k.cached(kid, alg)
	if ok && !stale {
		return key, true
	}
	k.refresh(ctx)
	key, ok, _ = k.cached(kid, alg)
	return key, ok
}

func (k *keySet) cached(kid, alg string) (key any, ok, stale bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	stale = k.now().Sub(k.loaded) > keySetMaxAge
	if key, ok = k.keys[keyID{kid, alg}]; ok || kid != "" {
		return key, ok, stale
	}
	// A token may omit kid when the provider has one key (OpenID Connect Core §10.1).
	for id, v := range k.keys {
		if id.alg == alg {
			if ok {
				return nil, false, stale
			}
			key, ok = v, true
		}
	}
	return key, ok, stale
}

func (k *keySet) refresh(ctx context.Context) {
	k.refreshing.Lock()
	defer k.refreshing.Unlock()
	k.mu.Lock()
	now := k.now()
	// The start-up fetch does not count, so a rotation right after start is picked up.
	if !k.attempted.IsZero() && now.Sub(k.attempted) < k.minRefresh {
		k.mu.Unlock()
		return
	}
	k.attempted = now
	k.mu.Unlock()

	// The fetch serves every caller waiting on it, so the triggering request going away
	// must not cancel it.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	keys, err := k.fetch(fctx)
	if err != nil {
		k.log.Warn("OIDC key set refresh failed; keeping the cached keys", "jwks_uri", k.url, "err", err)
		return
	}
	k.store(keys)
}

func (k *keySet) store(keys map[keyID]any) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys, k.loaded = keys, k.now()
}

// fetch reads the key set and keeps the keys usable for RS256 (RSA of at least 2048 bits)
// and ES256 (P-256); other keys (encryption keys, other curves and key types) are skipped,
// as RFC 7517 §5 asks, rather than failing the whole set.
func (k *keySet) fetch(ctx context.Context) (map[keyID]any, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := getJSON(ctx, k.client, k.url, &set); err != nil {
		return nil, err
	}
	out := map[keyID]any{}
	for _, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if jwk.UnmarshalJSON(raw) != nil || !jwk.IsPublic() || (jwk.Use != "" && jwk.Use != "sig") {
			continue
		}
		var alg string
		switch pub := jwk.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() >= 2048 {
				alg = string(jose.RS256)
			}
		case *ecdsa.PublicKey:
			if pub.Curve == elliptic.P256() {
				alg = string(jose.ES256)
			}
		}
		if alg == "" || (jwk.Algorithm != "" && jwk.Algorithm != alg) {
			continue
		}
		out[keyID{jwk.KeyID, alg}] = jwk.Key
	}
	return out, nil
}

// getJSON fetches url and decodes its JSON body into v.
func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return err
	}
	if len(body) > maxDocument {
		return fmt.Errorf("GET %s: response larger than %d bytes", url, maxDocument)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
