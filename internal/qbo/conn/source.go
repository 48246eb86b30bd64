package conn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"golang.org/x/oauth2"

	"books/ent"
	"books/ent/qboconnection"
	"books/internal/adminq"
	"books/internal/apperr"
	"books/internal/database"
)

const (
	// ExpiryMargin is how long an access token must still be valid to be handed out; one
	// closer to its expiry is refreshed first, so a request never starts with a token that
	// dies on the way.
	ExpiryMargin = 5 * time.Minute

	// NeedsReauthKind is the admin issue raised when QuickBooks refuses a connection's
	// refresh token (error code QBO_NOT_CONNECTED, subject the connection).
	NeedsReauthKind = "qbo_needs_reauth"

	// lockedTimeout bounds the locked section (waiting for the row lock, the call to Intuit
	// and the save), which runs detached from the caller's cancellation.
	lockedTimeout = time.Minute
	// exchangeTimeout bounds the call to Intuit's token endpoint, so a hung endpoint cannot
	// hold the row lock for long.
	exchangeTimeout = 30 * time.Second
	// accessLifetime is what an access token lives when Intuit leaves out expires_in
	// (qbo-api.md §1: one hour).
	accessLifetime = time.Hour
)

// IssueRaiser files admin issues; *adminq.Queue is one, and also announces them.
type IssueRaiser interface {
	RaiseFor(ctx context.Context, c *ent.Client, orgID string, p adminq.Problem) (*ent.AdminIssue, error)
}

// Refresher hands out connections' access tokens, refreshing them at Intuit when they are
// about to expire. It is safe for concurrent use, by any number of goroutines and processes.
type Refresher struct {
	Store *Store
	DB    *database.DB
	App   App
	// Issues files the admin issue of a connection QuickBooks refused. Nil files it with
	// adminq.RaiseFor, which announces nothing.
	Issues IssueRaiser
}

// TokenSource returns the connection's tokens as an oauth2.TokenSource working with ctx
// (which carries the organization). Its tokens hold the access token only: the refresh token
// never leaves this package. It keeps a token in memory until ExpiryMargin before expiry.
func (r *Refresher) TokenSource(ctx context.Context, connectionID string) oauth2.TokenSource {
	return oauth2.ReuseTokenSourceWithExpiry(nil, source{r: r, ctx: ctx, id: connectionID}, ExpiryMargin)
}

// HTTPClient returns a client that sends the App's requests with the connection's bearer
// token, for qbo.Config.HTTPClient.
func (r *Refresher) HTTPClient(ctx context.Context, connectionID string) *http.Client {
	base := r.App.Client()
	return &http.Client{
		Transport:     &oauth2.Transport{Source: r.TokenSource(ctx, connectionID), Base: base.Transport},
		CheckRedirect: base.CheckRedirect,
		Jar:           base.Jar,
		Timeout:       base.Timeout,
	}
}

type source struct {
	r   *Refresher
	ctx context.Context
	id  string
}

func (s source) Token() (*oauth2.Token, error) { return s.r.Token(s.ctx, s.id) }

// Token returns a valid access token of the connection, refreshing it first when it expires
// within ExpiryMargin. QBO_NOT_CONNECTED when the connection is disconnected or awaits
// re-authorization (then Intuit is not called), or when Intuit refuses the refresh token
// now. Any other error changed nothing and may be retried.
func (r *Refresher) Token(ctx context.Context, connectionID string) (*oauth2.Token, error) {
	t, _, err := r.ensure(ctx, connectionID, func(t Tokens, now time.Time) bool {
		return t.AccessExpiresAt.Sub(now) <= ExpiryMargin
	})
	if err != nil {
		return nil, err
	}
	return bearer(t), nil
}

// Rejected refreshes the connection's tokens because QuickBooks answered 401 to its access
// token (revoked, or expired early), unless another caller replaced that token meanwhile; a
// refusal of the refresh then marks the connection NEEDS_REAUTH as in Token.
func (r *Refresher) Rejected(ctx context.Context, connectionID string) error {
	cur, _, err := r.Store.Tokens(ctx, r.DB.Client(), connectionID)
	if err != nil {
		return err
	}
	_, _, err = r.ensure(ctx, connectionID, func(t Tokens, _ time.Time) bool { return t.Access == cur.Access })
	return err
}

func bearer(t Tokens) *oauth2.Token {
	return &oauth2.Token{AccessToken: t.Access, TokenType: "Bearer", Expiry: t.AccessExpiresAt}
}

// dueFunc says whether tokens must be refreshed at now.
type dueFunc func(t Tokens, now time.Time) bool

// ensure returns the connection's tokens, refreshed first when due says so, and whether it
// refreshed them.
func (r *Refresher) ensure(ctx context.Context, id string, due dueFunc) (Tokens, bool, error) {
	// Most calls find a valid token and take no lock.
	t, _, err := r.Store.Tokens(ctx, r.DB.Client(), id)
	if err != nil || !due(t, now()) {
		return t, false, err
	}
	unlock, err := lockLocal(ctx, id)
	if err != nil {
		return Tokens{}, false, err
	}
	defer unlock()
	// Once Intuit may have rotated the refresh token, the new one must be saved whatever
	// happens to the caller: detach from its cancellation, within a bound of our own.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockedTimeout)
	defer cancel()
	return r.refreshLocked(lctx, ctx, id, due)
}

// lockLocal serializes this process's refreshes of one connection. It is what keeps two
// refreshes apart on SQLite (one process, one connection, no row locks); on PostgreSQL it
// spares the pool: the process's other callers wait here, not each in a transaction.
func lockLocal(ctx context.Context, id string) (func(), error) {
	v, _ := localLocks.LoadOrStore(id, make(chan struct{}, 1))
	ch := v.(chan struct{})
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// localLocks holds a one-slot channel per connection id (a mutex a waiter can give up on).
var localLocks sync.Map

// refreshLocked re-reads the connection under the lock and refreshes it if it is still due.
// It works with ctx, detached from callerCtx, which only bounds the wait for the row lock.
// On PostgreSQL the lock is the row's (SELECT … FOR UPDATE in a transaction held until the
// new tokens are saved), which keeps other processes out; on SQLite, where this process is
// the only one, the local lock already held is enough and no transaction is held across the
// call to Intuit (it would hold the database's one connection).
func (r *Refresher) refreshLocked(ctx, callerCtx context.Context, id string, due dueFunc) (Tokens, bool, error) {
	c := r.DB.Client()
	var tx *ent.Tx
	if r.DB.Dialect == dialect.Postgres {
		var err error
		if tx, err = c.Tx(ctx); err != nil {
			return Tokens{}, false, err
		}
		defer func() { _ = tx.Rollback() }() // after Commit, a no-op
		c = tx.Client()
	}
	// Waiting for another process's refresh is the caller's to give up; once the lock is
	// held, the section runs to its end.
	wait, stop := context.WithCancel(ctx)
	unhook := context.AfterFunc(callerCtx, stop)
	row, err := r.lockRow(wait, c, id, tx != nil)
	unhook()
	stop()
	if err != nil {
		return Tokens{}, false, err
	}
	if err := usable(row); err != nil {
		return Tokens{}, false, err
	}
	t, err := r.Store.open(row)
	if err != nil {
		return Tokens{}, false, err
	}
	if !due(t, now()) {
		// Another caller (or process) refreshed while this one waited.
		return t, false, nil
	}

	fresh, err := r.exchange(ctx, t)
	var refused *refusedError
	switch {
	case errors.As(err, &refused):
		return Tokens{}, false, r.needsReauth(ctx, c, tx, row, refused)
	case err != nil:
		return Tokens{}, false, err
	}
	// Fail closed: the new access token is used only once the refresh token that came with
	// it is committed. Intuit keeps the old refresh token working for a while, so a save
	// that fails is retried with it; a new token used unsaved could be our last.
	if _, err := r.Store.Rotate(ctx, c, id, row.TokenGeneration, fresh); err != nil {
		return Tokens{}, false, fmt.Errorf("save the refreshed tokens of QuickBooks connection %s: %w", id, err)
	}
	if tx != nil {
		if err := tx.Commit(); err != nil {
			return Tokens{}, false, fmt.Errorf("save the refreshed tokens of QuickBooks connection %s: %w", id, err)
		}
	}
	return fresh, true, nil
}

func (r *Refresher) lockRow(ctx context.Context, c *ent.Client, id string, forUpdate bool) (*ent.QBOConnection, error) {
	q := c.QBOConnection.Query().Where(qboconnection.ID(id))
	if forUpdate {
		q = q.ForUpdate()
	}
	row, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "QuickBooks connection %q not found", id)
	}
	return row, err
}

// refusedError is Intuit's invalid_grant: the refresh token is revoked or expired, and only
// connecting the company again helps.
type refusedError struct {
	description string
}

func (e *refusedError) Error() string {
	if e.description == "" {
		return "invalid_grant"
	}
	return "invalid_grant: " + e.description
}

// exchange trades t's refresh token for new tokens at Intuit.
func (r *Refresher) exchange(ctx context.Context, t Tokens) (Tokens, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, r.App.Client())
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	// A past expiry makes x/oauth2 refresh at once.
	tok, err := r.App.OAuth2().TokenSource(ctx, &oauth2.Token{RefreshToken: t.Refresh, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			if re.ErrorCode == "invalid_grant" {
				return Tokens{}, &refusedError{description: cut(re.ErrorDescription, 500)}
			}
			// Neither the body nor the request goes into the error: they are Intuit's to word.
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			return Tokens{}, fmt.Errorf("refresh QuickBooks tokens: HTTP %d %s", status, re.ErrorCode)
		}
		return Tokens{}, fmt.Errorf("refresh QuickBooks tokens: %w", err)
	}
	at := now()
	fresh := Tokens{
		Access:          tok.AccessToken,
		Refresh:         tok.RefreshToken,
		AccessExpiresAt: tok.Expiry.UTC(),
		// The rolling expiry is only extended when Intuit says so; the hard one never is.
		RefreshExpiresAt: t.RefreshExpiresAt,
	}
	if fresh.Refresh == "" {
		fresh.Refresh = t.Refresh
	}
	if fresh.AccessExpiresAt.IsZero() {
		fresh.AccessExpiresAt = at.Add(accessLifetime)
	}
	if secs, ok := seconds(tok.Extra("x_refresh_token_expires_in")); ok {
		fresh.RefreshExpiresAt = at.Add(time.Duration(secs) * time.Second)
	}
	return fresh, nil
}

// seconds reads a JSON number of seconds (x/oauth2 decodes it as float64; some servers send
// a string).
func seconds(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		return int64(n), n > 0
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil && i > 0
	}
	return 0, false
}

// needsReauth records Intuit's refusal of the row's refresh token: the connection needs
// re-authorization, which pauses its work (its jobs get QBO_NOT_CONNECTED and keep their
// data), and a person is told with an admin issue. Both commit together.
func (r *Refresher) needsReauth(ctx context.Context, c *ent.Client, tx *ent.Tx, row *ent.QBOConnection, refused *refusedError) error {
	if tx == nil {
		var err error
		if tx, err = c.Tx(ctx); err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		c = tx.Client()
	}
	if err := r.Store.MarkNeedsReauth(ctx, c, row.ID, row.TokenGeneration, refused.Error()); err != nil {
		// CONFLICT: the company was connected again meanwhile; its new tokens may work.
		return fmt.Errorf("mark QuickBooks connection %s as needing re-authorization: %w", row.ID, err)
	}
	p := adminq.Problem{
		EntityID:    row.EntityID,
		Kind:        NeedsReauthKind,
		SubjectType: "qbo_connection",
		SubjectID:   row.ID,
		ErrorCode:   apperr.QBONotConnected,
		ErrorMessage: fmt.Sprintf("QuickBooks refused the connection to company %s (%s); its sync is paused "+
			"until someone connects the company again.", row.RealmID, refused.Error()),
	}
	var err error
	if r.Issues != nil {
		_, err = r.Issues.RaiseFor(ctx, c, row.OrganizationID, p)
	} else {
		_, err = adminq.RaiseFor(ctx, c, row.OrganizationID, p)
	}
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return apperr.New(apperr.QBONotConnected, "QuickBooks refused the connection of legal entity %s (%s); "+
		"connect the company again", row.EntityID, refused.Error())
}
