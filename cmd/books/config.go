package main

import (
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

	"books/internal/auth"
	"books/internal/database"
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

func newLogger() *slog.Logger {
	var level slog.Level // info unless BOOKS_LOG_LEVEL says debug, warn or error
	_ = level.UnmarshalText([]byte(os.Getenv("BOOKS_LOG_LEVEL")))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
