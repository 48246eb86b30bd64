package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"books/internal/secrets"
)

// Not parallel: the cases set BOOKS_ENCRYPTION_KEY.
func TestSecretBox(t *testing.T) {
	key, err := secrets.GenerateKey()
	require.NoError(t, err)

	t.Run("GeneratedUnderDataDir", func(t *testing.T) {
		t.Setenv("BOOKS_ENCRYPTION_KEY", "")
		c := common{dataDir: t.TempDir()}
		box, err := c.secretBox(nil)
		require.NoError(t, err)
		info, err := os.Stat(filepath.Join(c.dataDir, "encryption-key"))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
		again, err := c.secretBox(nil)
		require.NoError(t, err)
		require.Equal(t, box.KeyID(), again.KeyID(), "the key is generated once")
	})

	t.Run("EnvironmentFirst", func(t *testing.T) {
		t.Setenv("BOOKS_ENCRYPTION_KEY", "prod:"+key)
		c := common{dataDir: t.TempDir()}
		box, err := c.secretBox(nil)
		require.NoError(t, err)
		require.Equal(t, "prod", box.KeyID())
		_, err = os.Stat(filepath.Join(c.dataDir, "encryption-key"))
		require.ErrorIs(t, err, os.ErrNotExist, "no key file when the key is configured")
	})

	t.Run("BadKeyNamesTheVariableNotTheValue", func(t *testing.T) {
		t.Setenv("BOOKS_ENCRYPTION_KEY", "prod:"+key[:20])
		c := common{dataDir: t.TempDir()}
		_, err := c.secretBox(nil)
		require.ErrorContains(t, err, "BOOKS_ENCRYPTION_KEY")
		require.NotContains(t, err.Error(), key[:20])
	})
}
