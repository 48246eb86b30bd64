package ledger

import (
	"context"
	"errors"
	"fmt"

	"books/ent"
)

// WithTx runs fn in a transaction on client, or directly on client when it is already
// transactional (a GraphQL mutation runs inside one), so domain operations compose.
func WithTx(ctx context.Context, client *ent.Client, fn func(c *ent.Client) error) error {
	tx, err := client.Tx(ctx)
	if errors.Is(err, ent.ErrTxStarted) {
		return fn(client)
	}
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx.Client()); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
