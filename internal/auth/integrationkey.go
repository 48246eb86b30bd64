package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"

	"books/ent"
	"books/ent/integrationkey"
	"books/ent/legalentity"
	"books/internal/apperr"
	"books/internal/ledger/source"
	"books/internal/tenant"
)

// keyPrefix marks integration keys so secret scanners and people recognize them.
const keyPrefix = "bk_int_"

// NewIntegrationKey is what creating a key returns: the stored record and the secret, which
// is never stored and cannot be shown again.
type NewIntegrationKey struct {
	Key    *ent.IntegrationKey
	Secret string
}

// CreateIntegrationKey makes a key for the organization in ctx, scoped to entities and
// source systems (both required, so a key never silently grants everything).
func CreateIntegrationKey(ctx context.Context, c *ent.Client, name string, entities []string, systems []source.System, by string) (NewIntegrationKey, error) {
	if strings.TrimSpace(name) == "" {
		return NewIntegrationKey{}, apperr.New(apperr.Validation, "name is required").WithField("name")
	}
	if len(entities) == 0 || len(systems) == 0 {
		return NewIntegrationKey{}, apperr.New(apperr.Validation, "an integration key needs at least one entity and one source system")
	}
	n, err := c.LegalEntity.Query().Where(legalentity.IDIn(entities...)).Count(ctx)
	if err != nil {
		return NewIntegrationKey{}, err
	}
	if n != len(uniq(entities)) {
		return NewIntegrationKey{}, apperr.New(apperr.NotFound, "one or more entities do not exist").WithField("entityIds")
	}
	sys := make([]string, len(systems))
	for i, s := range systems {
		if !s.Valid() {
			return NewIntegrationKey{}, apperr.New(apperr.Validation, "unknown source system %q", s)
		}
		sys[i] = string(s)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return NewIntegrationKey{}, err
	}
	secret := keyPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:]))
	k, err := c.IntegrationKey.Create().
		SetName(name).
		SetPrefix(secret[:len(keyPrefix)+6]).
		SetSecretHash(hashKey(secret)).
		SetEntityIds(uniq(entities)).
		SetSourceSystems(uniq(sys)).
		SetCreatedBy(by).
		Save(ctx)
	if err != nil {
		return NewIntegrationKey{}, err
	}
	return NewIntegrationKey{Key: k, Secret: secret}, nil
}

// RevokeIntegrationKey revokes key id; revoking twice keeps the first revocation time.
func (s *Service) RevokeIntegrationKey(ctx context.Context, c *ent.Client, id string) (*ent.IntegrationKey, error) {
	k, err := c.IntegrationKey.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "integration key %q not found", id)
	}
	if err != nil {
		return nil, err
	}
	if k.RevokedAt == nil {
		if k, err = c.IntegrationKey.UpdateOne(k).SetRevokedAt(time.Now().UTC()).Save(ctx); err != nil {
			return nil, err
		}
	}
	s.keys.forget(k.SecretHash)
	// Inside a transaction (a GraphQL mutation) a request may read the key as still valid
	// until the commit; forget it again once the revocation is visible, so no such read is
	// left in the cache.
	if tx := ent.TxFromContext(ctx); tx != nil {
		hash := k.SecretHash
		tx.OnCommit(func(next ent.Committer) ent.Committer {
			return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
				err := next.Commit(ctx, tx)
				s.keys.forget(hash)
				return err
			})
		})
	}
	return k, nil
}

// hashKey is SHA-256: the secret has 256 bits of entropy, so a slow hash adds nothing.
func hashKey(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func uniq(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// Service authenticates callers.
type Service struct {
	Tokens *Tokens
	oidc   *OIDC // nil unless UseOIDC
	keys   keyCache
	client *ent.Client
}

// NewService returns a Service verifying tokens with tokens and keys against client.
func NewService(tokens *Tokens, client *ent.Client) *Service {
	return &Service{Tokens: tokens, client: client, keys: keyCache{m: map[string]cachedKey{}}}
}

// keyCache spares the JE API a key lookup per request. Entries live briefly so a key revoked
// through another server process stops working within keyCacheTTL; revocation through this
// process takes effect at once.
type keyCache struct {
	mu sync.Mutex
	m  map[string]cachedKey
	// gen counts forgets; a lookup that overlapped one is not cached, since it may have read
	// the key before its revocation was committed.
	gen uint64
}

type cachedKey struct {
	p       *Principal
	expires time.Time
}

const keyCacheTTL = 5 * time.Second

func (c *keyCache) get(hash string) *Principal {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok || time.Now().After(e.expires) {
		return nil
	}
	return e.p
}

func (c *keyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *keyCache) put(hash string, p *Principal, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) > 10000 {
		clear(c.m)
	}
	c.m[hash] = cachedKey{p: p, expires: time.Now().Add(keyCacheTTL)}
}

func (c *keyCache) forget(hash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, hash)
	c.gen++
}

// AuthenticateKey returns the principal of an integration key secret, or an Unauthenticated
// error for a missing, unknown or revoked key.
func (s *Service) AuthenticateKey(ctx context.Context, secret string) (*Principal, error) {
	if !strings.HasPrefix(secret, keyPrefix) {
		return nil, apperr.New(apperr.Unauthenticated, "missing or invalid X-Integration-Key")
	}
	hash := hashKey(secret)
	if p := s.keys.get(hash); p != nil {
		return p, nil
	}
	gen := s.keys.generation()
	k, err := s.client.IntegrationKey.Query().
		Where(integrationkey.SecretHash(hash)).
		Only(tenant.System(ctx))
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.Unauthenticated, "missing or invalid X-Integration-Key")
	}
	if err != nil {
		return nil, err
	}
	if k.RevokedAt != nil {
		return nil, apperr.New(apperr.Unauthenticated, "integration key %s was revoked", k.Prefix)
	}
	p := &Principal{
		Kind:          KindIntegrationKey,
		Subject:       k.ID,
		Org:           k.OrganizationID,
		Entities:      k.EntityIds,
		SourceSystems: k.SourceSystems,
	}
	s.keys.put(hash, p, gen)
	return p, nil
}

// Allows reports whether an integration-key principal may post for entity and system.
func (p *Principal) Allows(entity, system string) bool {
	return p.Kind == KindIntegrationKey &&
		slices.Contains(p.Entities, entity) && slices.Contains(p.SourceSystems, system)
}
