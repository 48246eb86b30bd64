package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// UseOIDC makes VerifyBearer accept the access tokens of o's provider besides Books' own.
// The two issuers must differ, since the issuer is what tells the tokens apart.
func (s *Service) UseOIDC(o *OIDC) error {
	if o.Issuer() == s.Tokens.Issuer() {
		return fmt.Errorf("the OIDC issuer %q is also Books' own token issuer; give Books' tokens another issuer", o.Issuer())
	}
	s.oidc = o
	return nil
}

// VerifyBearer returns the principal of a staff or portal bearer token. The token's
// (unverified) iss picks the one verifier that may accept it: the OIDC provider's, which
// accepts only RS256/ES256 with the provider's published keys, or Books' own, which accepts
// only HS256 with the shared secret. A token is thus never checked with a key of the wrong
// kind (an HS256 token naming the provider as issuer is refused, not checked with the
// provider's public key as an HMAC secret), and both verifiers refuse a bad token with the
// same ErrBadToken, so a caller cannot learn which check failed.
func (s *Service) VerifyBearer(ctx context.Context, token string) (*Principal, error) {
	if s.oidc != nil && unverifiedIssuer(token) == s.oidc.Issuer() {
		return s.oidc.Verify(ctx, token)
	}
	return s.Tokens.Verify(token)
}

// unverifiedIssuer reads iss from a compact JWT without verifying anything; it only routes.
func unverifiedIssuer(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.Issuer
}
