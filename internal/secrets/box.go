// Package secrets seals secrets kept in the database (QuickBooks tokens, later Stripe keys and
// webhook secrets) with AES-256-GCM under a key id, so the master key can be rotated: a Box
// seals with its current key and opens with any key it holds.
//
// A sealed value is text, "v1:<key id>:<base64url(nonce | ciphertext | tag)>", so it fits a
// text column on every database and says which key opens it. The caller's associated data
// binds it to one place (e.g. a row id and a column name): a value copied elsewhere does not
// open.
//
// No error of this package contains a key, a plaintext or a sealed value.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

const version = "v1"

var (
	// ErrMalformed: the text is not a sealed value of a known version.
	ErrMalformed = errors.New("secrets: malformed sealed value")
	// ErrUnknownKey: the value names a key id the Box does not hold.
	ErrUnknownKey = errors.New("secrets: sealed with a key that is not configured")
	// ErrNotOpened: authentication failed, because the value was altered, belongs to another
	// place (other associated data), or the key under its id is not the one it was sealed with.
	ErrNotOpened = errors.New("secrets: sealed value does not open (altered, moved, or a different key under its id)")
)

// keyIDPattern keeps ids short and free of the separator.
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Key is a master key and the id sealed values name it by.
type Key struct {
	ID     string
	Secret []byte
}

// Box seals with its current key and opens with any of its keys.
type Box struct {
	current string
	aeads   map[string]cipher.AEAD
}

// New returns a Box that seals with current and also opens values sealed with older.
func New(current Key, older ...Key) (*Box, error) {
	b := &Box{current: current.ID, aeads: map[string]cipher.AEAD{}}
	for _, k := range append([]Key{current}, older...) {
		if !keyIDPattern.MatchString(k.ID) {
			return nil, fmt.Errorf("secrets: key id %q must be 1-32 letters, digits, - or _", k.ID)
		}
		if _, dup := b.aeads[k.ID]; dup {
			return nil, fmt.Errorf("secrets: key id %q given twice", k.ID)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("secrets: key %q is %d bytes; it must be %d", k.ID, len(k.Secret), KeySize)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("secrets: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secrets: key %q: %w", k.ID, err)
		}
		b.aeads[k.ID] = aead
	}
	return b, nil
}

// KeyID returns the id of the key new values are sealed with.
func (b *Box) KeyID() string { return b.current }

// Seal encrypts plaintext under the current key with a fresh random nonce, bound to aad.
func (b *Box) Seal(plaintext, aad []byte) (string, error) {
	aead := b.aeads[b.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("secrets: nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, plaintext, additional(b.current, aad))
	return version + ":" + b.current + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value Seal returned with the same aad.
func (b *Box) Open(sealed string, aad []byte) ([]byte, error) {
	v, rest, ok := strings.Cut(sealed, ":")
	if !ok || v != version {
		return nil, ErrMalformed
	}
	id, body, ok := strings.Cut(rest, ":")
	if !ok || !keyIDPattern.MatchString(id) {
		return nil, ErrMalformed
	}
	aead, ok := b.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w (key id %q)", ErrUnknownKey, id)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrMalformed
	}
	nonce, ciphertext := raw[:aead.NonceSize()], raw[aead.NonceSize():]
	plaintext, err := aead.Open(nil, nonce, ciphertext, additional(id, aad))
	if err != nil {
		return nil, ErrNotOpened
	}
	return plaintext, nil
}

// KeyIDOf returns the id of the key a sealed value names, so a caller can tell values sealed
// with an older key (and seal them again) without opening them.
func KeyIDOf(sealed string) (string, error) {
	parts := strings.SplitN(sealed, ":", 3)
	if len(parts) != 3 || parts[0] != version || !keyIDPattern.MatchString(parts[1]) {
		return "", ErrMalformed
	}
	return parts[1], nil
}

// additional binds the version and key id along with the caller's data, so no part of the
// header can be changed without the value failing to open.
func additional(keyID string, aad []byte) []byte {
	out := make([]byte, 0, len(version)+len(keyID)+2+len(aad))
	out = append(out, version...)
	out = append(out, ':')
	out = append(out, keyID...)
	out = append(out, 0)
	return append(out, aad...)
}
