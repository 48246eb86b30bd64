package database_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"books/internal/dbtest"
)

func TestMigrationsMatchEntSchema(t *testing.T) {
	t.Parallel()
	for _, d := range dbtest.Dialects(t) {
		// Not in parallel: ent's schema diff writes the generated package's table
		// descriptions, which the race detector catches when two diffs run at once.
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			db := dbtest.OpenEmpty(t, d)

			pending, err := db.Pending(ctx)
			require.Error(t, err, "an empty database has no version table yet")
			require.Positive(t, pending)

			before, err := db.SchemaDiff(ctx)
			require.NoError(t, err)
			require.Contains(t, before, "journal_entries", "the diff must see a missing schema")

			applied, err := db.Migrate(ctx)
			require.NoError(t, err)
			require.NotEmpty(t, applied)

			diff, err := db.SchemaDiff(ctx)
			require.NoError(t, err)
			require.Empty(t, diff, "ent/schema and the SQL migrations disagree; write a migration with this DDL")

			pending, err = db.Pending(ctx)
			require.NoError(t, err)
			require.Zero(t, pending)

			again, err := db.Migrate(ctx)
			require.NoError(t, err)
			require.Empty(t, again, "migrating twice applies nothing")
		})
	}
}
