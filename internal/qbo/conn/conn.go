// Package conn keeps each legal entity's QuickBooks Online connection: the company (realm) it
// reaches, and its OAuth tokens sealed by internal/secrets. It is the only writer of
// qbo_connections' realm, status and tokens (internal/qbo/lists writes the settings and
// lists_updated_at), and the one place that opens the tokens.
//
// Every token change is a compare-and-swap on the row's token generation, in one UPDATE: a
// refresh stores its new pair only if the generation it read is still current, so of two
// processes refreshing at once the slower one gets CONFLICT (and reads the winner's tokens)
// instead of overwriting the newer refresh token with an older one.
//
// # Refreshing
//
// Refresher hands out access tokens (Token, TokenSource, HTTPClient for qbo.Config) and
// refreshes them at Intuit shortly before they expire; RefreshWorker, a periodic job, does so
// ahead of time. Intuit may rotate the refresh token on any refresh and, after a grace period,
// honours only the newest, so the rules are:
//
//   - One refresh per connection at a time, everywhere. Callers that find the token due take
//     a lock and re-read the row inside it, so the ones that waited use the winner's token
//     instead of refreshing again. The lock is the row's (SELECT … FOR UPDATE, in a
//     transaction held until the new tokens are committed) on PostgreSQL, where several
//     processes share the database, and an in-process lock on SQLite, whose database one
//     process opens. The compare-and-swap above remains the last guard. Holding a
//     transaction across the call to Intuit is the exception to "nothing external inside a
//     transaction": it is the lock, and the call is bounded (30 s).
//   - Fail closed: a new access token is handed out only after the refresh token that came
//     with it is committed. If the save fails, the caller gets an error; the stored (old)
//     refresh token still works during Intuit's grace period, whereas a token used unsaved
//     could be the only one left. For the same reason the locked section runs detached from
//     the caller's cancellation.
//   - Intuit's invalid_grant marks the connection needs_reauth and raises an admin issue, in
//     one transaction. From then on every caller gets QBO_NOT_CONNECTED without a call to
//     Intuit: work on the connection pauses, and nothing is dropped, until it is connected
//     again. Any other failure (network, 5xx, a lost answer) changes nothing and is retried.
//
// The Store's functions take the ent client to work on, so they join the caller's
// transaction (the Refresher opens its own: it must commit before it hands out a token);
// tenancy is the ent schema's: another organization's connection is not found.
package conn

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"books/ent"
	"books/ent/legalentity"
	"books/ent/qboconnection"
	"books/internal/apperr"
	"books/internal/ids"
	"books/internal/secrets"
)

// Tokens is an OAuth token pair and its lifetimes. It prints and logs as redacted, so a
// token cannot reach a log line or an error by accident.
type Tokens struct {
	Access          string
	Refresh         string
	AccessExpiresAt time.Time
	// RefreshExpiresAt is when the refresh token expires unless used (rolling, ~100 days).
	RefreshExpiresAt time.Time
	// RefreshHardExpiresAt is the refresh token's hard limit; zero when QuickBooks did not say.
	RefreshHardExpiresAt time.Time
}

const redacted = "conn.Tokens{redacted}"

func (Tokens) String() string             { return redacted }
func (Tokens) LogValue() slog.Value       { return slog.StringValue(redacted) }
func (Tokens) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

func (t Tokens) validate() error {
	switch {
	case t.Access == "" || t.Refresh == "":
		return apperr.New(apperr.Validation, "both an access token and a refresh token are required")
	case t.AccessExpiresAt.IsZero() || t.RefreshExpiresAt.IsZero():
		return apperr.New(apperr.Validation, "the expiry of both tokens is required")
	}
	return nil
}

// Connect names a company an entity has just authorized, with its first tokens.
type Connect struct {
	EntityID string
	RealmID  string
	// BaseURL is the Accounting API's base URL for the company (sandbox or production).
	BaseURL string
	Tokens  Tokens
	// CompanyName is the company's name from CompanyInfo; empty when unknown (a revived
	// connection then keeps the name it had).
	CompanyName string
}

// Store seals and opens the tokens of connections.
type Store struct {
	box *secrets.Box
}

// NewStore returns a Store sealing with box.
func NewStore(box *secrets.Box) *Store { return &Store{box: box} }

// The columns the sealed tokens are bound to, with the row's id.
const (
	accessColumn  = "access_token_sealed"
	refreshColumn = "refresh_token_sealed"
)

func aad(id, column string) []byte {
	return []byte(qboconnection.Table + ":" + id + ":" + column)
}

func now() time.Time { return time.Now().UTC() }

// Save records that in.EntityID has authorized in.RealmID and stores its tokens. A realm the
// entity connected before is revived (same row, so its links resume) with the new tokens;
// a new realm gets a new row. Refused: with QBO_REALM_IN_USE a realm another entity has
// connected (even if it disconnected since: a company is kept by one entity), and with
// CONFLICT a second live connection of the entity (disconnect the first).
func (s *Store) Save(ctx context.Context, c *ent.Client, in Connect) (*ent.QBOConnection, error) {
	if in.EntityID == "" || in.RealmID == "" || in.BaseURL == "" {
		return nil, apperr.New(apperr.Validation, "a connection needs an entity, a realm and a base URL")
	}
	if err := in.Tokens.validate(); err != nil {
		return nil, err
	}
	if ok, err := c.LegalEntity.Query().Where(legalentity.ID(in.EntityID)).Exist(ctx); err != nil {
		return nil, err
	} else if !ok {
		return nil, apperr.New(apperr.NotFound, "legal entity %q not found", in.EntityID)
	}
	prior, err := c.QBOConnection.Query().Where(qboconnection.RealmID(in.RealmID)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		prior = nil
	case err != nil:
		return nil, err
	case prior.EntityID != in.EntityID:
		return nil, s.realmTaken(ctx, c, in.RealmID, prior.EntityID)
	}
	live, err := c.QBOConnection.Query().
		Where(qboconnection.EntityID(in.EntityID), qboconnection.DisconnectedAtIsNil()).Only(ctx)
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return nil, err
	case live.RealmID != in.RealmID:
		return nil, apperr.New(apperr.Conflict, "legal entity %s is connected to QuickBooks company %s; disconnect it "+
			"before connecting another", in.EntityID, live.RealmID)
	}
	if prior != nil {
		return s.revive(ctx, c, prior, in)
	}

	id := ids.New(ids.QBOConnection)
	access, refresh, err := s.seal(id, in.Tokens)
	if err != nil {
		return nil, err
	}
	created, err := c.QBOConnection.Create().
		SetID(id).
		SetEntityID(in.EntityID).
		SetRealmID(in.RealmID).
		SetBaseURL(in.BaseURL).
		SetStatus(qboconnection.StatusConnected).
		SetAccessTokenSealed(access).
		SetRefreshTokenSealed(refresh).
		SetAccessExpiresAt(in.Tokens.AccessExpiresAt.UTC()).
		SetRefreshExpiresAt(in.Tokens.RefreshExpiresAt.UTC()).
		SetNillableRefreshHardExpiresAt(hardExpiry(in.Tokens)).
		SetTokenGeneration(1).
		SetConnectedAt(now()).
		SetCompanyName(cut(in.CompanyName, 400)).
		Save(ctx)
	if ent.IsConstraintError(err) {
		// Another connect won a race, possibly in another organization, whose rows this one
		// cannot read; and in a PostgreSQL transaction no further statement may run.
		if strings.Contains(err.Error(), "realm_id") {
			return nil, apperr.Wrap(apperr.QBORealmInUse, err, fmt.Sprintf(
				"QuickBooks company %s is already connected to another legal entity", in.RealmID))
		}
		return nil, apperr.Wrap(apperr.Conflict, err, fmt.Sprintf(
			"legal entity %s was connected to QuickBooks at the same time; disconnect it before connecting another", in.EntityID))
	}
	return created, err
}

// realmTaken names the entity of the organization that keeps the realm.
func (s *Store) realmTaken(ctx context.Context, c *ent.Client, realm, entityID string) error {
	name := entityID
	if e, err := c.LegalEntity.Get(ctx, entityID); err == nil {
		name = fmt.Sprintf("%s (%s, %s)", e.Name, e.Code, e.ID)
	}
	return apperr.New(apperr.QBORealmInUse, "QuickBooks company %s is already connected to legal entity %s; "+
		"each company belongs to one entity", realm, name)
}

// revive stores new tokens on the entity's existing row for the realm. The generation moves
// on, so a refresh that read the old tokens cannot overwrite the new ones.
func (s *Store) revive(ctx context.Context, c *ent.Client, row *ent.QBOConnection, in Connect) (*ent.QBOConnection, error) {
	access, refresh, err := s.seal(row.ID, in.Tokens)
	if err != nil {
		return nil, err
	}
	u := c.QBOConnection.UpdateOne(row)
	// A new authorization starts a new refresh token, whose hard expiry is its own.
	if h := hardExpiry(in.Tokens); h != nil {
		u.SetRefreshHardExpiresAt(*h)
	} else {
		u.ClearRefreshHardExpiresAt()
	}
	if in.CompanyName != "" {
		u.SetCompanyName(cut(in.CompanyName, 400))
	}
	return u.
		SetBaseURL(in.BaseURL).
		SetStatus(qboconnection.StatusConnected).
		SetAccessTokenSealed(access).
		SetRefreshTokenSealed(refresh).
		SetAccessExpiresAt(in.Tokens.AccessExpiresAt.UTC()).
		SetRefreshExpiresAt(in.Tokens.RefreshExpiresAt.UTC()).
		AddTokenGeneration(1).
		SetConnectedAt(now()).
		ClearDisconnectedAt().
		ClearLastError().
		Save(ctx)
}

// Get returns the connection with id.
func (s *Store) Get(ctx context.Context, c *ent.Client, id string) (*ent.QBOConnection, error) {
	row, err := c.QBOConnection.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "QuickBooks connection %q not found", id)
	}
	return row, err
}

// ForEntity returns the entity's connection that is not disconnected: connected or awaiting
// re-authorization. QBO_NOT_CONNECTED when there is none.
func (s *Store) ForEntity(ctx context.Context, c *ent.Client, entityID string) (*ent.QBOConnection, error) {
	row, err := c.QBOConnection.Query().
		Where(qboconnection.EntityID(entityID), qboconnection.DisconnectedAtIsNil()).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.QBONotConnected, "legal entity %s is not connected to QuickBooks", entityID)
	}
	return row, err
}

// Tokens opens the connection's tokens and returns them with their generation, which Rotate
// and MarkNeedsReauth take. QBO_NOT_CONNECTED unless the connection is connected.
func (s *Store) Tokens(ctx context.Context, c *ent.Client, id string) (Tokens, int64, error) {
	row, err := s.Get(ctx, c, id)
	if err != nil {
		return Tokens{}, 0, err
	}
	if err := usable(row); err != nil {
		return Tokens{}, 0, err
	}
	t, err := s.open(row)
	return t, row.TokenGeneration, err
}

// Rotate stores a new token pair if the connection is connected and its generation is still
// generation, in one UPDATE, and returns the new generation. Otherwise nothing changes and the
// error says why: CONFLICT when another refresh (or a reconnect) stored tokens since, and the
// caller reads them again; QBO_NOT_CONNECTED; NOT_FOUND.
func (s *Store) Rotate(ctx context.Context, c *ent.Client, id string, generation int64, t Tokens) (int64, error) {
	if err := t.validate(); err != nil {
		return 0, err
	}
	access, refresh, err := s.seal(id, t)
	if err != nil {
		return 0, err
	}
	n, err := c.QBOConnection.Update().
		Where(qboconnection.ID(id), qboconnection.TokenGeneration(generation),
			qboconnection.StatusEQ(qboconnection.StatusConnected)).
		SetAccessTokenSealed(access).
		SetRefreshTokenSealed(refresh).
		SetAccessExpiresAt(t.AccessExpiresAt.UTC()).
		SetRefreshExpiresAt(t.RefreshExpiresAt.UTC()).
		SetNillableRefreshHardExpiresAt(hardExpiry(t)).
		SetTokenGeneration(generation + 1).
		Save(ctx)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		row, err := s.Get(ctx, c, id)
		if err != nil {
			return 0, err
		}
		return 0, whyNot(row, generation)
	}
	return generation + 1, nil
}

// MarkNeedsReauth records that QuickBooks refused the refresh token of generation (reason,
// e.g. invalid_grant, is kept for people; it must not hold a token). A refusal of tokens that
// have been replaced since changes nothing (CONFLICT): the newer tokens may work. Marking a
// connection that already needs re-authorization is a no-op.
func (s *Store) MarkNeedsReauth(ctx context.Context, c *ent.Client, id string, generation int64, reason string) error {
	n, err := c.QBOConnection.Update().
		Where(qboconnection.ID(id), qboconnection.TokenGeneration(generation),
			qboconnection.StatusEQ(qboconnection.StatusConnected)).
		SetStatus(qboconnection.StatusNeedsReauth).
		SetLastError(cut(reason, 2000)).
		Save(ctx)
	if err != nil || n > 0 {
		return err
	}
	row, err := s.Get(ctx, c, id)
	if err != nil {
		return err
	}
	if row.Status == qboconnection.StatusNeedsReauth && row.TokenGeneration == generation {
		return nil
	}
	return whyNot(row, generation)
}

// Disconnect marks the connection disconnected and clears its tokens, keeping the row (and
// the links that name it) so that connecting the same company again resumes them. It returns
// the tokens it cleared, for the caller to revoke at QuickBooks after its transaction commits
// (they are stored nowhere else); zero Tokens when there were none or they do not open.
// Disconnecting twice is a no-op.
func (s *Store) Disconnect(ctx context.Context, c *ent.Client, id string) (Tokens, error) {
	row, err := s.Get(ctx, c, id)
	if err != nil || row.Status == qboconnection.StatusDisconnected {
		return Tokens{}, err
	}
	// The tokens are only handed back for revocation: one that does not open is cleared all
	// the same.
	cleared, _ := s.open(row)
	n, err := c.QBOConnection.Update().
		Where(qboconnection.ID(id), qboconnection.StatusNEQ(qboconnection.StatusDisconnected)).
		SetStatus(qboconnection.StatusDisconnected).
		ClearAccessTokenSealed().
		ClearRefreshTokenSealed().
		ClearAccessExpiresAt().
		ClearRefreshExpiresAt().
		ClearRefreshHardExpiresAt().
		AddTokenGeneration(1).
		SetDisconnectedAt(now()).
		Save(ctx)
	if err != nil || n == 0 {
		// n == 0: disconnected in between by someone else, who revokes.
		return Tokens{}, err
	}
	return cleared, nil
}

// whyNot explains, from the row as it is now, why a compare-and-swap on it changed nothing.
func whyNot(row *ent.QBOConnection, generation int64) error {
	if err := usable(row); err != nil {
		return err
	}
	return apperr.New(apperr.Conflict, "the tokens of QuickBooks connection %s changed since generation %d "+
		"(now %d); read them again", row.ID, generation, row.TokenGeneration)
}

func usable(row *ent.QBOConnection) error {
	switch row.Status {
	case qboconnection.StatusConnected:
		return nil
	case qboconnection.StatusNeedsReauth:
		return apperr.New(apperr.QBONotConnected, "QuickBooks refused the connection of legal entity %s; "+
			"connect the company again", row.EntityID)
	}
	return apperr.New(apperr.QBONotConnected, "legal entity %s's QuickBooks connection %s is disconnected",
		row.EntityID, row.ID)
}

func (s *Store) seal(id string, t Tokens) (access, refresh string, err error) {
	if access, err = s.box.Seal([]byte(t.Access), aad(id, accessColumn)); err != nil {
		return "", "", err
	}
	if refresh, err = s.box.Seal([]byte(t.Refresh), aad(id, refreshColumn)); err != nil {
		return "", "", err
	}
	return access, refresh, nil
}

func (s *Store) open(row *ent.QBOConnection) (Tokens, error) {
	if row.AccessTokenSealed == nil || row.RefreshTokenSealed == nil {
		return Tokens{}, fmt.Errorf("QuickBooks connection %s holds no tokens", row.ID)
	}
	access, err := s.box.Open(*row.AccessTokenSealed, aad(row.ID, accessColumn))
	if err != nil {
		return Tokens{}, fmt.Errorf("QuickBooks connection %s: access token: %w", row.ID, err)
	}
	refresh, err := s.box.Open(*row.RefreshTokenSealed, aad(row.ID, refreshColumn))
	if err != nil {
		return Tokens{}, fmt.Errorf("QuickBooks connection %s: refresh token: %w", row.ID, err)
	}
	t := Tokens{Access: string(access), Refresh: string(refresh)}
	if row.AccessExpiresAt != nil {
		t.AccessExpiresAt = *row.AccessExpiresAt
	}
	if row.RefreshExpiresAt != nil {
		t.RefreshExpiresAt = *row.RefreshExpiresAt
	}
	if row.RefreshHardExpiresAt != nil {
		t.RefreshHardExpiresAt = *row.RefreshHardExpiresAt
	}
	return t, nil
}

func hardExpiry(t Tokens) *time.Time {
	if t.RefreshHardExpiresAt.IsZero() {
		return nil
	}
	u := t.RefreshHardExpiresAt.UTC()
	return &u
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
