package jobs

import (
	"context"
	"fmt"
	"log/slog"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river/rivermigrate"

	"books/internal/database"
)

// riverMigrationLock is the PostgreSQL advisory lock Migrate holds, so two processes
// starting at once do not both apply River's migrations (database.Migrate holds another).
const riverMigrationLock = 7426002

// Migrate applies River's pending migrations (its river_* tables) to db, in the schema the
// connection uses (PostgreSQL's search_path). Run it right after db.Migrate. It returns
// the migrations it applied, e.g. "river 006_bulk_unique".
func Migrate(ctx context.Context, db *database.DB) ([]string, error) {
	drv, err := Driver(db)
	if err != nil {
		return nil, err
	}
	// The caller reports what was applied; River's own migration logs would repeat it.
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("river migrator: %w", err)
	}
	if db.Dialect == dialect.Postgres {
		conn, err := db.SQL.Conn(ctx)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, riverMigrationLock); err != nil {
			return nil, fmt.Errorf("take river migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, riverMigrationLock)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	var applied []string
	for _, v := range res.Versions {
		applied = append(applied, fmt.Sprintf("river %03d_%s", v.Version, v.Name))
	}
	return applied, nil
}
