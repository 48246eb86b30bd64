package database

import (
	"context"
	stdsql "database/sql"
	"errors"
	"sync/atomic"

	"entgo.io/ent/dialect"
)

// StatementCounter counts the statements sent through a driver. Tests use it to prove a
// query's statement count does not grow with its page size (no N+1).
type StatementCounter struct{ n atomic.Int64 }

// Count returns the statements counted so far.
func (c *StatementCounter) Count() int64 { return c.n.Load() }

// Reset sets the count to zero.
func (c *StatementCounter) Reset() { c.n.Store(0) }

// Wrap returns drv counting every Exec and Query, inside transactions too.
func (c *StatementCounter) Wrap(drv dialect.Driver) dialect.Driver {
	return &countingDriver{Driver: drv, c: c}
}

type countingDriver struct {
	dialect.Driver
	c *StatementCounter
}

func (d *countingDriver) Exec(ctx context.Context, q string, args, v any) error {
	d.c.n.Add(1)
	return d.Driver.Exec(ctx, q, args, v)
}

func (d *countingDriver) Query(ctx context.Context, q string, args, v any) error {
	d.c.n.Add(1)
	return d.Driver.Query(ctx, q, args, v)
}

// ExecContext passes raw statements through (ent's ExecContext), counting them.
func (d *countingDriver) ExecContext(ctx context.Context, q string, args ...any) (stdsql.Result, error) {
	d.c.n.Add(1)
	ex, ok := d.Driver.(interface {
		ExecContext(context.Context, string, ...any) (stdsql.Result, error)
	})
	if !ok {
		return nil, errors.New("driver has no ExecContext")
	}
	return ex.ExecContext(ctx, q, args...)
}

// QueryContext passes raw queries through (ent's QueryContext), counting them.
func (d *countingDriver) QueryContext(ctx context.Context, q string, args ...any) (*stdsql.Rows, error) {
	d.c.n.Add(1)
	qu, ok := d.Driver.(interface {
		QueryContext(context.Context, string, ...any) (*stdsql.Rows, error)
	})
	if !ok {
		return nil, errors.New("driver has no QueryContext")
	}
	return qu.QueryContext(ctx, q, args...)
}

func (d *countingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return &countingTx{Tx: tx, c: d.c}, nil
}

type countingTx struct {
	dialect.Tx
	c *StatementCounter
}

func (t *countingTx) Exec(ctx context.Context, q string, args, v any) error {
	t.c.n.Add(1)
	return t.Tx.Exec(ctx, q, args, v)
}

// ExecContext passes raw statements through (ent's ExecContext), counting them.
func (t *countingTx) ExecContext(ctx context.Context, q string, args ...any) (stdsql.Result, error) {
	t.c.n.Add(1)
	ex, ok := t.Tx.(interface {
		ExecContext(context.Context, string, ...any) (stdsql.Result, error)
	})
	if !ok {
		return nil, errors.New("transaction has no ExecContext")
	}
	return ex.ExecContext(ctx, q, args...)
}

// QueryContext passes raw queries through (ent's QueryContext), counting them.
func (t *countingTx) QueryContext(ctx context.Context, q string, args ...any) (*stdsql.Rows, error) {
	t.c.n.Add(1)
	qu, ok := t.Tx.(interface {
		QueryContext(context.Context, string, ...any) (*stdsql.Rows, error)
	})
	if !ok {
		return nil, errors.New("transaction has no QueryContext")
	}
	return qu.QueryContext(ctx, q, args...)
}

func (t *countingTx) Query(ctx context.Context, q string, args, v any) error {
	t.c.n.Add(1)
	return t.Tx.Query(ctx, q, args, v)
}
