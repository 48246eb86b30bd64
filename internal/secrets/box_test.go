package secrets

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func testKey(t *testing.T, id string) Key {
	t.Helper()
	text, err := GenerateKey()
	require.NoError(t, err)
	b, err := base64.StdEncoding.DecodeString(text)
	require.NoError(t, err)
	return Key{ID: id, Secret: b}
}

// requireNoSecret fails when err's text shows any of the secrets.
func requireNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	require.Error(t, err)
	for _, s := range secrets {
		require.NotContains(t, err.Error(), s)
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		old, cur Key
		box      *Box
	}
	setup := func(t *testing.T) testBundle {
		t.Helper()
		old, cur := testKey(t, "old"), testKey(t, "cur")
		box, err := New(cur, old)
		require.NoError(t, err)
		return testBundle{old: old, cur: cur, box: box}
	}
	plaintext := []byte("refresh-token-AB12-very-secret")
	aad := []byte("qbc_1:refresh_token")

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		sealed, err := b.box.Seal(plaintext, aad)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(sealed, "v1:cur:"), sealed)
		require.NotContains(t, sealed, string(plaintext))
		got, err := b.box.Open(sealed, aad)
		require.NoError(t, err)
		require.Equal(t, plaintext, got)

		again, err := b.box.Seal(plaintext, aad)
		require.NoError(t, err)
		require.NotEqual(t, sealed, again, "every seal takes a fresh nonce")

		id, err := KeyIDOf(sealed)
		require.NoError(t, err)
		require.Equal(t, "cur", id)
	})

	t.Run("EmptyPlaintext", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		sealed, err := b.box.Seal(nil, aad)
		require.NoError(t, err)
		got, err := b.box.Open(sealed, aad)
		require.NoError(t, err)
		require.Empty(t, got)
	})

	t.Run("RotationOldOpensNewSeals", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		before, err := New(b.old)
		require.NoError(t, err)
		sealedOld, err := before.Seal(plaintext, aad)
		require.NoError(t, err)

		got, err := b.box.Open(sealedOld, aad)
		require.NoError(t, err, "a value sealed before the rotation still opens")
		require.Equal(t, plaintext, got)

		sealedNew, err := b.box.Seal(plaintext, aad)
		require.NoError(t, err)
		id, err := KeyIDOf(sealedNew)
		require.NoError(t, err)
		require.Equal(t, "cur", id, "new values are sealed with the current key")

		_, err = before.Open(sealedNew, aad)
		require.ErrorIs(t, err, ErrUnknownKey, "a box without the new key cannot open its values")
		requireNoSecret(t, err, string(plaintext), sealedNew)
	})

	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		sealed, err := b.box.Seal(plaintext, aad)
		require.NoError(t, err)
		body := sealed[len("v1:cur:"):]
		raw, err := base64.RawURLEncoding.DecodeString(body)
		require.NoError(t, err)
		flip := func(i int) string {
			c := bytes.Clone(raw)
			c[i] ^= 1
			return "v1:cur:" + base64.RawURLEncoding.EncodeToString(c)
		}
		// The same id under another key: the value names a key the box has, but not the one
		// that sealed it.
		impostor, err := New(Key{ID: "cur", Secret: testKey(t, "x").Secret})
		require.NoError(t, err)

		for _, tt := range []struct {
			name   string
			box    *Box
			sealed string
			aad    []byte
			want   error
		}{
			{"OtherAAD", b.box, sealed, []byte("qbc_2:refresh_token"), ErrNotOpened},
			{"NoAAD", b.box, sealed, nil, ErrNotOpened},
			{"TamperedCiphertext", b.box, flip(len(raw) - 20), aad, ErrNotOpened},
			{"TamperedNonce", b.box, flip(0), aad, ErrNotOpened},
			{"TamperedTag", b.box, flip(len(raw) - 1), aad, ErrNotOpened},
			{"KeyIDChanged", b.box, "v1:old:" + body, aad, ErrNotOpened},
			{"UnknownKeyID", b.box, "v1:gone:" + body, aad, ErrUnknownKey},
			{"WrongKeyUnderID", impostor, sealed, aad, ErrNotOpened},
			{"Truncated", b.box, sealed[:len(sealed)-10], aad, ErrNotOpened},
			{"TooShort", b.box, "v1:cur:AAAA", aad, ErrMalformed},
			{"OtherVersion", b.box, "v2:cur:" + body, aad, ErrMalformed},
			{"NotBase64", b.box, "v1:cur:!!" + body, aad, ErrMalformed},
			{"NoHeader", b.box, body, aad, ErrMalformed},
			{"Empty", b.box, "", aad, ErrMalformed},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				got, err := tt.box.Open(tt.sealed, tt.aad)
				require.ErrorIs(t, err, tt.want)
				require.Nil(t, got)
				requireNoSecret(t, err, string(plaintext), body, base64.StdEncoding.EncodeToString(b.cur.Secret))
			})
		}
	})
}

func TestNew(t *testing.T) {
	t.Parallel()
	k := testKey(t, "a")
	for _, tt := range []struct {
		name  string
		cur   Key
		older []Key
	}{
		{"ShortKey", Key{ID: "a", Secret: k.Secret[:16]}, nil},
		{"EmptyID", Key{ID: "", Secret: k.Secret}, nil},
		{"IDWithColon", Key{ID: "a:b", Secret: k.Secret}, nil},
		{"DuplicateID", k, []Key{testKey(t, "a")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cur, tt.older...)
			requireNoSecret(t, err, base64.StdEncoding.EncodeToString(k.Secret), string(k.Secret))
		})
	}
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	a, b := testKey(t, "a"), testKey(t, "b")
	aText, bText := base64.StdEncoding.EncodeToString(a.Secret), base64.StdEncoding.EncodeToString(b.Secret)

	t.Run("Valid", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			name    string
			in      string
			current string
			opens   []Key
		}{
			{"Bare", aText, fingerprint(a.Secret), []Key{{ID: fingerprint(a.Secret), Secret: a.Secret}}},
			{"Named", "a:" + aText, "a", []Key{a}},
			{"URLSafeUnpadded", "a:" + base64.RawURLEncoding.EncodeToString(a.Secret), "a", []Key{a}},
			{"RotatedFromBare", "b:" + bText + ", " + aText, "b",
				[]Key{b, {ID: fingerprint(a.Secret), Secret: a.Secret}}},
			{"List", "b:" + bText + ",a:" + aText, "b", []Key{a, b}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				box, err := ParseKeys(tt.in)
				require.NoError(t, err)
				require.Equal(t, tt.current, box.KeyID())
				for _, k := range tt.opens {
					single, err := New(k)
					require.NoError(t, err)
					sealed, err := single.Seal([]byte("x"), nil)
					require.NoError(t, err)
					got, err := box.Open(sealed, nil)
					require.NoError(t, err, "key %s opens", k.ID)
					require.Equal(t, "x", string(got))
				}
			})
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		short := base64.StdEncoding.EncodeToString(a.Secret[:31])
		for _, tt := range []struct {
			name, in, want string
		}{
			{"Empty", "", "key 1 of the list is empty"},
			{"TrailingComma", "a:" + aText + ",", "key 2 of the list is empty"},
			{"NotBase64", "a:" + aText + ",b:not*base64", "key 2 of the list: not base64"},
			{"Short", "a:" + short, "key 1 of the list: decodes to 31 bytes"},
			{"BadID", "a b:" + aText, "key id"},
			{"DuplicateID", "a:" + aText + ",a:" + bText, "given twice"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				_, err := ParseKeys(tt.in)
				require.ErrorContains(t, err, tt.want)
				requireNoSecret(t, err, aText, bText, short, "not*base64")
			})
		}
	})
}

func TestLoadKeyFile(t *testing.T) {
	t.Parallel()

	t.Run("GeneratedOnceOwnerOnly", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "data", "encryption-key")
		box, created, err := LoadKeyFile(path)
		require.NoError(t, err)
		require.True(t, created)
		info, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
		dir, err := os.Stat(filepath.Dir(path))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), dir.Mode().Perm())

		sealed, err := box.Seal([]byte("token"), []byte("aad"))
		require.NoError(t, err)
		again, created, err := LoadKeyFile(path)
		require.NoError(t, err)
		require.False(t, created, "the second start keeps the key")
		got, err := again.Open(sealed, []byte("aad"))
		require.NoError(t, err)
		require.Equal(t, "token", string(got))

		entries, err := os.ReadDir(filepath.Dir(path))
		require.NoError(t, err)
		require.Len(t, entries, 1, "no temporary file is left behind")
	})

	t.Run("ConcurrentStartsAgree", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "encryption-key")
		const n = 8
		boxes := make([]*Box, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				box, _, err := LoadKeyFile(path)
				require.NoError(t, err)
				boxes[i] = box
			})
		}
		wg.Wait()
		for _, b := range boxes[1:] {
			require.Equal(t, boxes[0].KeyID(), b.KeyID())
		}
	})

	t.Run("InvalidFile", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "encryption-key")
		require.NoError(t, os.WriteFile(path, []byte("secret*ish*garbage\n"), 0o600))
		_, _, err := LoadKeyFile(path)
		require.ErrorContains(t, err, "not base64")
		requireNoSecret(t, err, "secret*ish*garbage")
	})
}
