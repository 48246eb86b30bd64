package secrets

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ParseKeys reads keys in the form of BOOKS_ENCRYPTION_KEY: a comma-separated list of keys,
// each "id:base64" or a bare base64 key of 32 bytes; the first seals, all open. A bare key's id
// is derived from the key ("k" and 8 hex digits of its SHA-256), so a key set without an id
// keeps its id when an operator later lists it as an older key: "k2:<new>,<old>" rotates.
//
// Errors name the position of a bad entry, never its text.
func ParseKeys(s string) (*Box, error) {
	var keys []Key
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("key %d of the list is empty", i+1)
		}
		id, text, named := strings.Cut(entry, ":")
		if !named {
			text = id
		}
		secret, err := decodeKey(text)
		if err != nil {
			return nil, fmt.Errorf("key %d of the list: %w", i+1, err)
		}
		if !named {
			id = fingerprint(secret)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	return New(keys[0], keys[1:]...)
}

func decodeKey(text string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(text); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("decodes to %d bytes; a key is %d random bytes in base64", len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("not base64; a key is %d random bytes in base64 (e.g. openssl rand -base64 32)", KeySize)
}

func fingerprint(secret []byte) string {
	sum := sha256.Sum256(secret)
	return "k" + hex.EncodeToString(sum[:4])
}

// GenerateKey returns a new random key in base64, a valid BOOKS_ENCRYPTION_KEY.
func GenerateKey() (string, error) {
	var b [KeySize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b[:]), nil
}

// LoadKeyFile returns the Box of the keys kept in the file at path (the same form as
// ParseKeys reads), creating the file with one random key, readable by its owner only, when
// there is none. created reports whether it did. Two processes starting at once end up with
// the same key: the file is created exclusively, and the loser reads the winner's.
func LoadKeyFile(path string) (box *Box, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		created, err = createKeyFile(path)
		if err != nil {
			return nil, false, err
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, false, fmt.Errorf("read encryption key file: %w", err)
	}
	box, err = ParseKeys(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, false, fmt.Errorf("encryption key file %s: %w", path, err)
	}
	return box, created, nil
}

func createKeyFile(path string) (bool, error) {
	key, err := GenerateKey()
	if err != nil {
		return false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	// Written in full under a temporary name (CreateTemp makes it 0600), then linked into
	// place, which fails if the name exists: a reader never sees a half-written key.
	f, err := os.CreateTemp(dir, ".encryption-key-*")
	if err != nil {
		return false, fmt.Errorf("create encryption key file: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(key + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("write encryption key file: %w", err)
	}
	if err := os.Link(f.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("create encryption key file: %w", err)
	}
	return true, nil
}
