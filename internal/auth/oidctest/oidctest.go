// Package oidctest runs a small OpenID Connect provider in-process for tests, the way
// net/http/httptest runs a server: it serves a discovery document and a key set (JWKS) over
// real HTTP and signs access tokens with RS256 and ES256 keys it generates. Tests rotate its
// keys, count its key-set fetches and forge tokens it would never sign.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"
)

// Issuer is an in-process OpenID Connect provider.
type Issuer struct {
	// URL is the issuer identifier (the iss of its tokens) and the server's base URL.
	URL string
	// Audience is the aud Claims puts in tokens.
	Audience string
	// RSA and EC are the keys published at start: RS256 and ES256.
	RSA, EC *Key

	mu        sync.Mutex
	published []*Key
	fetches   atomic.Int64
	down      atomic.Bool
}

// Key is a signing key with its key id.
type Key struct {
	KID  string
	Alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

var kidSeq atomic.Int64

// NewKey generates a key for alg (jose.RS256 or jose.ES256) with a fresh key id.
func NewKey(t testing.TB, alg jose.SignatureAlgorithm) *Key {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		t.Fatalf("oidctest: unsupported algorithm %s", alg)
	}
	require.NoError(t, err)
	return &Key{KID: fmt.Sprintf("%s-%d", alg, kidSeq.Add(1)), Alg: alg, priv: priv}
}

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.priv.Public() }

// PublicPEM returns the public key in PEM, as an attacker would find it (for HS256
// key-confusion tokens).
func (k *Key) PublicPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// New starts a provider for audience with an RS256 and an ES256 key published; it stops
// when the test ends.
func New(t testing.TB, audience string) *Issuer {
	t.Helper()
	iss := &Issuer{Audience: audience, RSA: NewKey(t, jose.RS256), EC: NewKey(t, jose.ES256)}
	iss.published = []*Key{iss.RSA, iss.EC}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                iss.URL,
			"jwks_uri":                              iss.URL + "/jwks",
			"authorization_endpoint":                iss.URL + "/authorize",
			"token_endpoint":                        iss.URL + "/token",
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		iss.fetches.Add(1)
		if iss.down.Load() {
			http.Error(w, "key service unavailable", http.StatusServiceUnavailable)
			return
		}
		iss.mu.Lock()
		set := jose.JSONWebKeySet{}
		for _, k := range iss.published {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.KID, Algorithm: string(k.Alg), Use: "sig"})
		}
		iss.mu.Unlock()
		writeJSON(w, set)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.URL = srv.URL
	return iss
}

// Publish replaces the published key set with keys: a rotation.
func (i *Issuer) Publish(keys ...*Key) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.published = keys
}

// SetDown makes the key set answer 503 (down) or serve again.
func (i *Issuer) SetDown(down bool) { i.down.Store(down) }

// JWKSFetches returns how many times the key set was fetched (or asked for while down).
func (i *Issuer) JWKSFetches() int { return int(i.fetches.Load()) }

// Claims returns the claims of a valid access token for subject at time now (iss, aud, sub,
// iat, nbf, exp an hour later), with extra merged in; an extra value of nil removes the claim.
func (i *Issuer) Claims(now time.Time, subject string, extra map[string]any) map[string]any {
	c := map[string]any{
		"iss": i.URL, "aud": i.Audience, "sub": subject,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// Sign signs claims with k, published or not.
func (i *Issuer) Sign(t testing.TB, k *Key, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.KID}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	require.NoError(t, err)
	payload, err := json.Marshal(claims)
	require.NoError(t, err)
	jws, err := signer.Sign(payload)
	require.NoError(t, err)
	tok, err := jws.CompactSerialize()
	require.NoError(t, err)
	return tok
}

// Forge assembles a compact JWT from header and claims with signature sign(signing input),
// for tokens no honest signer makes (alg none, HS256 keyed with a public key). sign may be
// nil for an empty signature.
func Forge(t testing.TB, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	require.NoError(t, err)
	c, err := json.Marshal(claims)
	require.NoError(t, err)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
