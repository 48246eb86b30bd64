package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"books/internal/auth"
	"books/internal/database"
	"books/internal/secrets"
)

// common holds the settings every command shares. Flags default to BOOKS_* variables.
type common struct {
	dataDir     string
	databaseURL string
	jwtSecret   string
	jwtIssuer   string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.dataDir, "data-dir", env("BOOKS_DATA_DIR", "./data"), "directory for the SQLite database and generated local secrets")
	fs.StringVar(&c.databaseURL, "database-url", os.Getenv("BOOKS_DATABASE_URL"), "postgres://… or sqlite://path (default sqlite://<data-dir>/books.db)")
	fs.StringVar(&c.jwtSecret, "jwt-secret", "", "HS256 secret for bearer tokens (default $BOOKS_JWT_SECRET, else generated under --data-dir)")
	fs.StringVar(&c.jwtIssuer, "jwt-issuer", env("BOOKS_JWT_ISSUER", "books"), "expected issuer of bearer tokens")
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func (c *common) dbURL() string {
	if c.databaseURL != "" {
		return c.databaseURL
	}
	return "sqlite://" + filepath.Join(c.dataDir, "books.db")
}

func (c *common) openDB(ctx context.Context) (*database.DB, error) {
	return database.Open(ctx, c.dbURL())
}

// tokens returns the token signer. Without a configured secret, a random one is generated
// once and kept in the data directory, so local tokens survive restarts.
func (c *common) tokens(log *slog.Logger) (*auth.Tokens, error) {
	secret := c.jwtSecret
	if secret == "" {
		secret = os.Getenv("BOOKS_JWT_SECRET")
	}
	if secret == "" {
		path := filepath.Join(c.dataDir, "jwt-secret")
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			secret = strings.TrimSpace(string(b))
		case errors.Is(err, os.ErrNotExist):
			var raw [32]byte
			if _, err := rand.Read(raw[:]); err != nil {
				return nil, err
			}
			secret = hex.EncodeToString(raw[:])
			if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("store generated JWT secret: %w", err)
			}
			if log != nil {
				log.Warn("BOOKS_JWT_SECRET is not set: generated a local secret; set it in production", "path", path)
			}
		default:
			return nil, err
		}
	}
	return auth.NewTokens([]byte(secret), c.jwtIssuer)
}

// secretBox returns the Box that seals secrets kept in the database (QuickBooks tokens). Its
// keys come from BOOKS_ENCRYPTION_KEY (comma-separated "id:base64" or bare base64 keys of 32
// bytes; the first seals, every one opens, so a key is rotated by putting a new one first).
// Without it, a random key is generated once and kept in the data directory, readable by its
// owner only. There is no flag: a key on the command line would show in the process list.
func (c *common) secretBox(log *slog.Logger) (*secrets.Box, error) {
	if v := os.Getenv("BOOKS_ENCRYPTION_KEY"); v != "" {
		box, err := secrets.ParseKeys(v)
		if err != nil {
			return nil, fmt.Errorf("BOOKS_ENCRYPTION_KEY: %w", err)
		}
		return box, nil
	}
	path := filepath.Join(c.dataDir, "encryption-key")
	box, created, err := secrets.LoadKeyFile(path)
	if err != nil {
		return nil, err
	}
	if created && log != nil {
		log.Warn("BOOKS_ENCRYPTION_KEY is not set: generated a local encryption key; set it in production "+
			"(and keep it: the QuickBooks connections sealed with it cannot be opened without it)", "path", path)
	}
	return box, nil
}

// oidcFlags are serve's OpenID Connect settings: with an issuer, people sign in with the
// provider's access tokens besides Books' own HS256 tokens.
type oidcFlags struct {
	issuer   string
	audience string
}

func (o *oidcFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.issuer, "oidc-issuer", os.Getenv("BOOKS_OIDC_ISSUER"), "OpenID Connect issuer URL whose access tokens sign people in (discovered at start-up)")
	fs.StringVar(&o.audience, "oidc-audience", os.Getenv("BOOKS_OIDC_AUDIENCE"), "aud the OIDC access tokens must carry (required with --oidc-issuer)")
}

// configure discovers the provider and makes authn accept its tokens. Discovery runs at
// start-up and its failure stops the server: a wrong issuer URL shows at once instead of as
// every sign-in failing, and a process manager retries the start while the provider is down.
func (o *oidcFlags) configure(ctx context.Context, authn *auth.Service, log *slog.Logger) error {
	if o.issuer == "" {
		if o.audience != "" {
			return errors.New("BOOKS_OIDC_AUDIENCE is set but BOOKS_OIDC_ISSUER is not")
		}
		return nil
	}
	if o.audience == "" {
		return errors.New("BOOKS_OIDC_ISSUER needs BOOKS_OIDC_AUDIENCE, the aud this API's access tokens carry")
	}
	cfg := auth.OIDCConfig{
		Issuer:        o.issuer,
		Audience:      o.audience,
		OrgClaim:      os.Getenv("BOOKS_OIDC_ORG_CLAIM"),
		RolesClaim:    os.Getenv("BOOKS_OIDC_ROLES_CLAIM"),
		CustomerClaim: os.Getenv("BOOKS_OIDC_CUSTOMER_CLAIM"),
		Logger:        log,
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := auth.NewOIDC(dctx, cfg)
	if err != nil {
		return err
	}
	if err := authn.UseOIDC(v); err != nil {
		return err
	}
	log.Info("OIDC sign-in enabled", "issuer", o.issuer, "audience", o.audience,
		"org_claim", cmp.Or(cfg.OrgClaim, auth.DefaultOrgClaim), "roles_claim", cmp.Or(cfg.RolesClaim, auth.DefaultRolesClaim),
		"customer_claim", cmp.Or(cfg.CustomerClaim, auth.DefaultCustomerClaim))
	return nil
}

func newLogger() *slog.Logger {
	var level slog.Level // info unless BOOKS_LOG_LEVEL says debug, warn or error
	_ = level.UnmarshalText([]byte(os.Getenv("BOOKS_LOG_LEVEL")))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
