// Package connect is the OAuth flow that connects a legal entity to its QuickBooks Online
// company, and the disconnect that undoes it.
//
// Begin hands out Intuit's authorize URL with a state that is single use, expires, and is
// signed: the state names its qbo_auth_states row, the organization, the entity and the
// expiry, with an HMAC-SHA256 over all four, so a forged or altered state is refused before
// the database is read. The callback (Callback, Handler) then consumes the row in one UPDATE,
// and only after that exchanges the authorization code, so a callback URL replayed later is
// refused and its code is never sent twice. The tokens are stored sealed by internal/qbo/conn.
//
// The callback arrives from the browser without a Books bearer token: it acts in the
// organization the signed state names, and every answer is a redirect to the SPA
// (Flow.AfterURL) carrying a result code, never a token.
//
// Disconnect clears the tokens (keeping the connection row and the links that name it, so
// reconnecting the same company resumes them) and revokes them at Intuit after the commit.
package connect

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"books/ent"
	"books/ent/legalentity"
	"books/ent/qboauthstate"
	"books/ent/qboconnection"
	"books/internal/adminq"
	"books/internal/apperr"
	"books/internal/audit"
	"books/internal/ids"
	"books/internal/qbo"
	"books/internal/qbo/conn"
	"books/internal/tenant"
)

// Result codes of the callback besides apperr's.
const (
	// CodeAccessDenied: the user declined to connect the company on Intuit's consent screen
	// (or Intuit refused the authorize request).
	CodeAccessDenied = "QBO_ACCESS_DENIED"
	// CodeAuthFailed: Intuit did not exchange the authorization code for tokens.
	CodeAuthFailed = "QBO_AUTH_FAILED"
)

// Admin issue of a failed revoke.
const (
	// RevokeFailedKind is the admin issue raised when Intuit did not revoke the tokens of a
	// disconnected connection.
	RevokeFailedKind = "qbo_revoke_failed"
	// RevokeFailedCode is that issue's error code.
	RevokeFailedCode = "QBO_REVOKE_FAILED"
)

// DefaultStateTTL is how long an authorize URL's state is accepted when Flow.StateTTL is zero.
const DefaultStateTTL = 10 * time.Minute

// minStateKey is the shortest HMAC key accepted.
const minStateKey = 32

// defaultRefreshLifetime is the refresh token's lifetime when Intuit's token answer does not
// state x_refresh_token_expires_in (Intuit's documented 100 days).
const defaultRefreshLifetime = 8726400 * time.Second

// httpTimeout bounds each request to Intuit.
const httpTimeout = 20 * time.Second

// Flow connects and disconnects legal entities' QuickBooks companies.
type Flow struct {
	Store *conn.Store
	App   conn.App
	// StateKey signs the states (HMAC-SHA256); at least 32 random bytes, the same on every
	// instance serving the callback.
	StateKey []byte
	// StateTTL is how long a state is accepted; DefaultStateTTL when zero.
	StateTTL time.Duration
	// AfterURL is the SPA page the callback redirects to, with ?qbo=connected&entityId=… or
	// ?qbo=error&code=…&message=…. Empty: the callback answers JSON (400 on a refusal).
	AfterURL string
	// Logger logs refusals and failures (never a token or a code); slog.Default when nil.
	Logger *slog.Logger
	// Issues raises the admin issue of a failed revoke and announces it; adminq.Raise without
	// an announcement when nil.
	Issues *adminq.Queue
	// OnConnected, when set, runs in the callback's transaction after the connection is
	// stored, in the connection's organization (the push engine resumes pending work).
	// An error fails the connect: nothing is stored.
	OnConnected func(ctx context.Context, c *ent.Client, row *ent.QBOConnection) error
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (f *Flow) now() time.Time {
	if f.Now != nil {
		return f.Now().UTC()
	}
	return time.Now().UTC()
}

func (f *Flow) log() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

func (f *Flow) ttl() time.Duration {
	if f.StateTTL > 0 {
		return f.StateTTL
	}
	return DefaultStateTTL
}

func (f *Flow) check() error {
	switch {
	case f.Store == nil:
		return errors.New("connect: Flow.Store is required")
	case len(f.StateKey) < minStateKey:
		return fmt.Errorf("connect: Flow.StateKey must be at least %d bytes", minStateKey)
	case f.App.ClientID == "" || f.App.AuthURL == "" || f.App.TokenURL == "" || f.App.RedirectURL == "" ||
		f.App.APIBaseURL == "":
		return errors.New("connect: Flow.App needs a client id, the authorize and token URLs, a redirect URL and an API base URL")
	}
	return nil
}

// Begin starts connecting entityID of the caller's organization (ctx) to a QuickBooks
// company: it stores a single-use state for principal and returns Intuit's authorize URL to
// send the browser to, and when its state expires. NOT_FOUND when the organization has no
// such entity. c may be a transaction's client; the state must be committed before the
// browser comes back.
func (f *Flow) Begin(ctx context.Context, c *ent.Client, entityID, principal string) (authorizeURL string, expiresAt time.Time, err error) {
	if err := f.check(); err != nil {
		return "", time.Time{}, err
	}
	org, ok := tenant.Org(ctx)
	if !ok || tenant.IsSystem(ctx) {
		return "", time.Time{}, tenant.ErrMissing
	}
	if entityID == "" {
		return "", time.Time{}, apperr.New(apperr.Validation, "an entity id is required").WithField("entityId")
	}
	if ok, err := c.LegalEntity.Query().Where(legalentity.ID(entityID)).Exist(ctx); err != nil {
		return "", time.Time{}, err
	} else if !ok {
		return "", time.Time{}, apperr.New(apperr.NotFound, "legal entity %q not found", entityID).WithField("entityId")
	}
	// Whole seconds: the state carries the expiry as a Unix time.
	expiresAt = f.now().Add(f.ttl()).Truncate(time.Second)
	id := ids.New(ids.QBOAuthState)
	if _, err := c.QBOAuthState.Create().
		SetID(id).
		SetEntityID(entityID).
		SetPrincipal(cut(principal, 300)).
		SetExpiresAt(expiresAt).
		Save(ctx); err != nil {
		return "", time.Time{}, fmt.Errorf("store OAuth state: %w", err)
	}
	st := state{id: id, org: org, entity: entityID, expires: expiresAt}
	return f.App.OAuth2().AuthCodeURL(st.encode(f.StateKey)), expiresAt, nil
}

// state is what the OAuth state parameter carries.
type state struct {
	id, org, entity string
	expires         time.Time
}

// The state is "<row id>.<organization>.<entity>.<expiry, Unix seconds>.<mac>", mac being
// base64url(HMAC-SHA256(key, "row id|organization|entity|expiry")). Ids hold no dots or bars.
func (s state) signed() string {
	return s.id + "|" + s.org + "|" + s.entity + "|" + strconv.FormatInt(s.expires.Unix(), 10)
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func (s state) encode(key []byte) string {
	return s.id + "." + s.org + "." + s.entity + "." + strconv.FormatInt(s.expires.Unix(), 10) + "." +
		base64.RawURLEncoding.EncodeToString(mac(key, s.signed()))
}

const maxState = 512

// parseState returns the state raw names if its signature is key's; it reads no database.
func parseState(key []byte, raw string) (state, bool) {
	if raw == "" || len(raw) > maxState {
		return state{}, false
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 5 {
		return state{}, false
	}
	for _, p := range parts[:3] {
		if p == "" || strings.ContainsAny(p, "|") {
			return state{}, false
		}
	}
	sec, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || sec <= 0 {
		return state{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(parts[4])
	if err != nil {
		return state{}, false
	}
	s := state{id: parts[0], org: parts[1], entity: parts[2], expires: time.Unix(sec, 0).UTC()}
	if !hmac.Equal(got, mac(key, s.signed())) {
		return state{}, false
	}
	if ids.Prefix(s.id) != ids.QBOAuthState {
		return state{}, false
	}
	return s, true
}

func stateInvalid() error {
	return apperr.New(apperr.QBOStateInvalid, "this QuickBooks connection link is invalid, expired or already used; "+
		"start connecting again from Books")
}

// Outcome is what a callback did: the entity it was for (when the state named one), the
// connection it stored, and the refusal.
type Outcome struct {
	EntityID   string
	Connection *ent.QBOConnection
	// Err is nil when the company was connected, else a coded error (apperr.Code) whose
	// message is safe to show.
	Err error
}

// Callback handles Intuit's redirect to the callback URL, whose query is query, and returns
// what it did with the URL to send the browser to (empty when Flow.AfterURL is). c must not
// be a transaction's client: the state is consumed on its own, before the code is exchanged,
// so that a refused or failed connect still uses the state up.
func (f *Flow) Callback(ctx context.Context, c *ent.Client, query url.Values) (redirect string, out Outcome) {
	out = f.callback(ctx, c, query)
	return f.redirect(out), out
}

func (f *Flow) callback(ctx context.Context, c *ent.Client, query url.Values) Outcome {
	if err := f.check(); err != nil {
		f.log().Error("QuickBooks callback: flow misconfigured", "err", err.Error())
		return Outcome{Err: apperr.New(apperr.Internal, "QuickBooks connections are not configured")}
	}
	// The signature first: a forged or altered state never reaches the database.
	st, ok := parseState(f.StateKey, query.Get("state"))
	if !ok {
		f.log().Warn("QuickBooks callback refused: state not signed by us")
		return Outcome{Err: stateInvalid()}
	}
	now := f.now()
	if !now.Before(st.expires) {
		f.log().Info("QuickBooks callback refused: state expired", "state_id", st.id, "entity_id", st.entity)
		return Outcome{Err: stateInvalid()}
	}
	ctx = tenant.WithOrg(ctx, st.org)
	out := Outcome{EntityID: st.entity}
	// Consumed once, whatever follows: used, expired and unknown rows change nothing.
	n, err := c.QBOAuthState.Update().
		Where(qboauthstate.ID(st.id), qboauthstate.EntityID(st.entity), qboauthstate.UsedAtIsNil(),
			qboauthstate.ExpiresAtGT(now)).
		SetUsedAt(now).
		Save(ctx)
	if err != nil {
		f.log().Error("QuickBooks callback: consuming the state", "state_id", st.id, "err", err.Error())
		out.Err = apperr.Wrap(apperr.Internal, err, "the QuickBooks connection could not be completed; try again")
		return out
	}
	if n == 0 {
		f.log().Warn("QuickBooks callback refused: state used, expired or unknown", "state_id", st.id, "entity_id", st.entity)
		return Outcome{Err: stateInvalid()}
	}
	// The state is used up: finish even if the browser goes away (each request to Intuit has
	// its own timeout).
	ctx = context.WithoutCancel(ctx)
	principal := ""
	if row, err := c.QBOAuthState.Get(ctx, st.id); err == nil {
		principal = row.Principal
	}

	if e := query.Get("error"); e != "" {
		f.log().Info("QuickBooks callback: Intuit refused the authorization", "entity_id", st.entity, "error", cut(e, 100))
		if e == "access_denied" {
			out.Err = apperr.New(CodeAccessDenied, "the QuickBooks company was not connected: access was declined on Intuit's page")
		} else {
			out.Err = apperr.New(CodeAccessDenied, "the QuickBooks company was not connected: Intuit answered %s", safeWord(e))
		}
		return out
	}
	code, realm := query.Get("code"), query.Get("realmId")
	if code == "" || realm == "" || len(realm) > 64 || strings.ContainsAny(realm, "/?#") {
		out.Err = apperr.New(apperr.Validation, "Intuit's answer names no authorization code or company; start connecting again")
		return out
	}

	tokens, tok, err := f.exchange(ctx, code)
	if err != nil {
		out.Err = err
		return out
	}
	name, err := f.companyName(ctx, realm, tok)
	if err != nil {
		// realmId comes from the browser's query: tokens that QuickBooks refuses for it were
		// granted for another company, and storing them would claim a company never authorized.
		f.log().Warn("QuickBooks callback refused: the tokens are not authorized for the company named", "entity_id", st.entity, "realm_id", realm)
		out.Err = apperr.New(CodeAuthFailed, "QuickBooks did not authorize the company named in its answer; try connecting again")
		return out
	}
	row, err := f.save(ctx, c, conn.Connect{EntityID: st.entity, RealmID: realm, BaseURL: f.App.APIBaseURL,
		Tokens: tokens, CompanyName: name}, principal)
	if err != nil {
		if apperr.Code(err) == apperr.Internal {
			f.log().Error("QuickBooks callback: storing the connection", "entity_id", st.entity, "realm_id", realm, "err", err.Error())
			err = apperr.Wrap(apperr.Internal, err, "the QuickBooks connection could not be stored; try again")
		} else {
			f.log().Info("QuickBooks callback refused", "entity_id", st.entity, "realm_id", realm, "code", apperr.Code(err))
		}
		// The tokens are not revoked: Intuit's revoke ends the app's whole connection to the
		// company, which may be another entity's live connection.
		out.Err = err
		return out
	}
	f.log().Info("QuickBooks company connected", "entity_id", st.entity, "realm_id", realm, "connection_id", row.ID)
	out.Connection = row
	return out
}

// exchange trades the authorization code for tokens.
func (f *Flow) exchange(ctx context.Context, code string) (conn.Tokens, *oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, f.App.Client())
	tok, err := f.App.OAuth2().Exchange(ctx, code)
	if err != nil {
		// The error's text may hold Intuit's answer; only its OAuth error code is logged.
		var re *oauth2.RetrieveError
		attrs := []any{}
		if errors.As(err, &re) {
			attrs = append(attrs, "oauth_error", cut(re.ErrorCode, 100))
			if re.Response != nil {
				attrs = append(attrs, "status", re.Response.StatusCode)
			}
		} else {
			attrs = append(attrs, "cause", fmt.Sprintf("%T", errors.Unwrap(err)))
		}
		f.log().Warn("QuickBooks callback: code exchange failed", attrs...)
		return conn.Tokens{}, nil, apperr.New(CodeAuthFailed, "QuickBooks did not complete the authorization; try connecting again")
	}
	now := f.now()
	t := conn.Tokens{
		Access:           tok.AccessToken,
		Refresh:          tok.RefreshToken,
		AccessExpiresAt:  tok.Expiry.UTC(),
		RefreshExpiresAt: now.Add(seconds(tok.Extra("x_refresh_token_expires_in"), defaultRefreshLifetime)),
	}
	if tok.Expiry.IsZero() {
		t.AccessExpiresAt = now.Add(time.Hour)
	}
	if t.Access == "" || t.Refresh == "" {
		f.log().Warn("QuickBooks callback: token answer without both tokens")
		return conn.Tokens{}, nil, apperr.New(CodeAuthFailed, "QuickBooks did not complete the authorization; try connecting again")
	}
	return t, tok, nil
}

// seconds reads a lifetime in seconds from a token answer's extra field.
func seconds(v any, def time.Duration) time.Duration {
	var n float64
	switch x := v.(type) {
	case float64:
		n = x
	case json.Number:
		n, _ = x.Float64()
	case string:
		n, _ = strconv.ParseFloat(x, 64)
	}
	if n <= 0 {
		return def
	}
	return time.Duration(n) * time.Second
}

// companyName reads the company's name; "" when QuickBooks does not say (best effort). An
// error only when QuickBooks refuses the tokens for realm (401 or 403): they are not the
// company's.
func (f *Flow) companyName(ctx context.Context, realm string, tok *oauth2.Token) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	hc := oauth2.NewClient(context.WithValue(ctx, oauth2.HTTPClient, f.App.Client()), oauth2.StaticTokenSource(tok))
	client, err := qbo.New(qbo.Config{BaseURL: f.App.APIBaseURL, RealmID: realm, HTTPClient: hc})
	if err != nil {
		f.log().Warn("QuickBooks callback: company name not read", "realm_id", realm, "err", err.Error())
		return "", nil
	}
	raw, err := client.CompanyInfo(ctx)
	if qbo.IsAuth(err) {
		return "", err
	}
	if err != nil {
		f.log().Warn("QuickBooks callback: company name not read", "realm_id", realm, "err", err.Error())
		return "", nil
	}
	var info struct {
		CompanyName string
		LegalName   string
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return "", nil
	}
	if info.CompanyName == "" {
		return info.LegalName, nil
	}
	return info.CompanyName, nil
}

// AuditAction is the audit event the callback records when a company is connected (its
// subject is the connection; the detail names the entity, the company and who asked).
const AuditAction = "qbo_connection.connect"

// save stores the connection, records it in the audit trail and runs OnConnected, in one
// transaction.
func (f *Flow) save(ctx context.Context, c *ent.Client, in conn.Connect, principal string) (*ent.QBOConnection, error) {
	var row *ent.QBOConnection
	err := withTx(ctx, c, func(tx *ent.Client) error {
		var err error
		if row, err = f.Store.Save(ctx, tx, in); err != nil {
			return err
		}
		detail, _ := json.Marshal(map[string]string{"entityId": in.EntityID, "realmId": in.RealmID,
			"companyName": in.CompanyName, "requestedBy": principal})
		if err := audit.Record(ctx, tx, AuditAction, row.ID, string(detail)); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		if f.OnConnected != nil {
			if err := f.OnConnected(ctx, tx, row); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return row.Unwrap(), nil
}

func withTx(ctx context.Context, c *ent.Client, fn func(*ent.Client) error) error {
	tx, err := c.Tx(ctx)
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

// redirect is the SPA URL reporting out; "" without Flow.AfterURL.
func (f *Flow) redirect(out Outcome) string {
	if f.AfterURL == "" {
		return ""
	}
	u, err := url.Parse(f.AfterURL)
	if err != nil {
		return ""
	}
	q := u.Query()
	if out.Err == nil {
		q.Set("qbo", "connected")
	} else {
		q.Set("qbo", "error")
		q.Set("code", apperr.Code(out.Err))
		q.Set("message", cut(message(out.Err), 500))
	}
	if out.EntityID != "" {
		q.Set("entityId", out.EntityID)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func message(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Message
	}
	return "the QuickBooks connection could not be completed"
}

// Handler serves GET /oauth/qbo/callback with c (not a transaction's client): a 302 to
// Flow.AfterURL, or without one a JSON answer, 200 or 400 {"error":{"code","message"}}.
func (f *Flow) Handler(c *ent.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": map[string]string{
				"code": apperr.MethodNotAllowed, "message": "the QuickBooks callback takes GET"}})
			return
		}
		// The callback URL holds the authorization code: no cache keeps it, and the page
		// redirected to is not told it.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		redirect, out := f.Callback(r.Context(), c, r.URL.Query())
		if redirect != "" {
			http.Redirect(w, r, redirect, http.StatusFound)
			return
		}
		if out.Err != nil {
			status := http.StatusBadRequest
			if apperr.Code(out.Err) == apperr.Internal {
				status = http.StatusInternalServerError
			}
			writeJSON(w, status, map[string]any{"error": map[string]string{
				"code": apperr.Code(out.Err), "message": message(out.Err)}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"qbo": "connected", "entityId": out.EntityID,
			"connectionId": out.Connection.ID})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Disconnect disconnects entityID's QuickBooks company: the connection's tokens are cleared
// in a transaction of its own (the row and its links are kept, so connecting the same company
// again resumes them), then revoked at Intuit. A revoke Intuit refuses is logged and raised as
// an admin issue (RevokeFailedKind); the connection is disconnected all the same. It returns
// the connection as disconnected. Disconnecting an entity that is disconnected already
// returns its latest connection and changes nothing; QBO_NOT_CONNECTED when it never had
// one. c must not be a transaction's client: the revoke follows the commit.
func (f *Flow) Disconnect(ctx context.Context, c *ent.Client, entityID string) (*ent.QBOConnection, error) {
	if f.Store == nil {
		return nil, errors.New("connect: Flow.Store is required")
	}
	if ok, err := c.LegalEntity.Query().Where(legalentity.ID(entityID)).Exist(ctx); err != nil {
		return nil, err
	} else if !ok {
		return nil, apperr.New(apperr.NotFound, "legal entity %q not found", entityID)
	}
	live, err := f.Store.ForEntity(ctx, c, entityID)
	if apperr.Code(err) == apperr.QBONotConnected {
		last, lerr := c.QBOConnection.Query().
			Where(qboconnection.EntityID(entityID)).
			Order(ent.Desc(qboconnection.FieldDisconnectedAt), ent.Desc(qboconnection.FieldID)).
			First(ctx)
		if ent.IsNotFound(lerr) {
			return nil, err
		}
		return last, lerr
	}
	if err != nil {
		return nil, err
	}
	tx, err := c.Tx(ctx)
	if errors.Is(err, ent.ErrTxStarted) {
		return nil, errors.New("connect: Disconnect revokes after its own commit; call it outside a transaction")
	}
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	cleared, err := f.Store.Disconnect(ctx, tx.Client(), live.ID)
	if err != nil {
		return nil, errors.Join(err, tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	row, err := f.Store.Get(ctx, c, live.ID)
	if err != nil {
		return nil, err
	}
	f.log().Info("QuickBooks company disconnected", "entity_id", entityID, "realm_id", row.RealmID, "connection_id", row.ID)
	if cleared.Refresh == "" && cleared.Access == "" {
		// Disconnected meanwhile by someone else, who revokes; or tokens that did not open.
		return row, nil
	}
	if err := f.revokeAll(ctx, cleared); err != nil {
		f.log().Warn("QuickBooks revoke failed; the local tokens are cleared", "entity_id", entityID,
			"connection_id", row.ID, "err", err.Error())
		p := adminq.Problem{
			EntityID:    entityID,
			Kind:        RevokeFailedKind,
			SubjectType: "qbo_connection",
			SubjectID:   row.ID,
			ErrorCode:   RevokeFailedCode,
			ErrorMessage: fmt.Sprintf("QuickBooks did not revoke the tokens of company %s when it was disconnected (%s). "+
				"Books no longer holds them; to be sure the app's access ends, disconnect Books in QuickBooks "+
				"(Settings, Apps) or let the tokens expire.", row.RealmID, err.Error()),
		}
		var rerr error
		if f.Issues != nil {
			_, rerr = f.Issues.Raise(ctx, c, p)
		} else {
			_, rerr = adminq.Raise(ctx, c, p)
		}
		if rerr != nil {
			f.log().Error("raising the revoke failure", "connection_id", row.ID, "err", rerr.Error())
		}
	}
	return row, nil
}

// revokeAll revokes the refresh token and the access token. Intuit ends the whole grant when
// either is revoked, so one success is enough.
func (f *Flow) revokeAll(ctx context.Context, t conn.Tokens) error {
	var errs []error
	ok := false
	for _, tok := range []struct{ kind, value string }{{"refresh token", t.Refresh}, {"access token", t.Access}} {
		if tok.value == "" {
			continue
		}
		if err := f.revoke(ctx, tok.value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", tok.kind, err))
			continue
		}
		ok = true
	}
	if ok {
		return nil
	}
	return errors.Join(errs...)
}

// revoke asks Intuit to revoke token, as Intuit documents: JSON {"token"} with the app's
// credentials in Basic auth. Its errors never hold the token.
func (f *Flow) revoke(ctx context.Context, token string) error {
	if f.App.RevokeURL == "" {
		return errors.New("no revoke URL configured")
	}
	ctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"token": token})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.App.RevokeURL, bytes.NewReader(body))
	if err != nil {
		return errors.New("bad revoke URL")
	}
	req.SetBasicAuth(f.App.ClientID, f.App.ClientSecret)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := f.App.Client().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("request failed: %w", ue.Err)
		}
		return errors.New("request failed")
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var oe struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(b, &oe)
	if oe.Error != "" {
		return fmt.Errorf("HTTP %d from Intuit (%s)", resp.StatusCode, safeWord(oe.Error))
	}
	return fmt.Errorf("HTTP %d from Intuit", resp.StatusCode)
}

// safeWord keeps an OAuth error code short and plain, for a message or a log line.
func safeWord(s string) string {
	s = cut(s, 64)
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return "an error"
		}
	}
	return s
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// PurgeStates deletes the states of every organization that expired before cutoff, used or
// not, and returns how many; a periodic job calls it so that qbo_auth_states stays small.
// A state is refused once expired, so deleting it changes no outcome.
func PurgeStates(ctx context.Context, c *ent.Client, cutoff time.Time) (int, error) {
	return c.QBOAuthState.Delete().Where(qboauthstate.ExpiresAtLT(cutoff.UTC())).Exec(tenant.System(ctx))
}
