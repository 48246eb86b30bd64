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
	_, err := InTx(ctx, client, fn)
	return err
}

// InTx is WithTx that also says whether it opened (and committed) the transaction itself;
// entities made inside must then be unwrapped (ent's Unwrap) before their edges are used.
func InTx(ctx context.Context, client *ent.Client, fn func(c *ent.Client) error) (owned bool, err error) {
	tx, err := client.Tx(ctx)
	if errors.Is(err, ent.ErrTxStarted) {
		return false, fn(client)
	}
	if err != nil {
		return false, fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx.Client()); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return true, errors.Join(err, rerr)
		}
		return true, err
	}
	if err := tx.Commit(); err != nil {
		return true, fmt.Errorf("commit: %w", err)
	}
	return true, nil
}
