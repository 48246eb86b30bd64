package lists

import (
	"context"
	"fmt"
	"time"

	"books/ent"
	"books/ent/qbolink"
	"books/ent/qbolistentry"
	"books/internal/apperr"
	"books/internal/ledger"
)

// QBOAccountType is the qbo_type of an account mapping's link.
const QBOAccountType = "Account"

// MapAccount maps the Books account accountID (of the connection's entity) to the QuickBooks
// account qboAccountID (an active account of the fetched list), or remaps it. The mapping is
// a QBOLink of record type account, synced: there is nothing to push. Refused: an account of
// another entity (VALIDATION), an unknown account (NOT_FOUND), a QuickBooks account not in the
// fetched list (NOT_FOUND) or inactive (VALIDATION), and, while qbo_links' index demands it, a
// QuickBooks account another Books account is mapped to (CONFLICT; see the package doc).
func MapAccount(ctx context.Context, c *ent.Client, connectionID, accountID, qboAccountID string) (*ent.QBOLink, error) {
	var out *ent.QBOLink
	err := ledger.WithTx(ctx, c, func(c *ent.Client) error {
		conn, err := connection(ctx, c, connectionID)
		if err != nil {
			return err
		}
		acct, err := booksAccount(ctx, c, conn, accountID)
		if err != nil {
			return err
		}
		entry, err := c.QBOListEntry.Query().Where(qbolistentry.ConnectionID(conn.ID),
			qbolistentry.ListEQ(qbolistentry.ListAccount), qbolistentry.QboID(qboAccountID)).Only(ctx)
		switch {
		case ent.IsNotFound(err):
			msg := "QuickBooks account %q is not in the fetched accounts of the company; run Update lists"
			return apperr.New(apperr.NotFound, msg, qboAccountID).WithField("qboAccountId")
		case err != nil:
			return err
		case !entry.Active:
			return apperr.New(apperr.Validation, "QuickBooks account %s (%s) is inactive", entry.Name, entry.QboID).
				WithField("qboAccountId")
		}
		link, err := accountLink(ctx, c, conn.ID, acct.ID)
		if err != nil {
			return err
		}
		if link == nil {
			if err := createLink(ctx, c, conn, acct.ID, entry, now()); err != nil {
				return err
			}
			out, err = accountLink(ctx, c, conn.ID, acct.ID)
			return err
		}
		if link.QboID != nil && *link.QboID == entry.QboID && link.Status == qbolink.StatusSynced {
			out = link
			return nil
		}
		out, err = c.QBOLink.UpdateOne(link).
			SetQboID(entry.QboID).SetDocNumber(cut(entry.Name, 40)).SetStatus(qbolink.StatusSynced).
			SetGeneration(link.Generation + 1).SetSyncedGeneration(link.Generation + 1).
			SetAttempts(0).SetLastErrorCode("").SetLastError("").SetSyncedAt(now()).
			Save(ctx)
		return err
	})
	return out, err
}

// UnmapAccount removes the Books account's mapping; unmapping an account that has none is a
// no-op. The account must be of the connection's entity.
func UnmapAccount(ctx context.Context, c *ent.Client, connectionID, accountID string) error {
	return ledger.WithTx(ctx, c, func(c *ent.Client) error {
		conn, err := connection(ctx, c, connectionID)
		if err != nil {
			return err
		}
		if _, err := booksAccount(ctx, c, conn, accountID); err != nil {
			return err
		}
		_, err = c.QBOLink.Delete().Where(qbolink.ConnectionID(conn.ID),
			qbolink.RecordTypeEQ(qbolink.RecordTypeAccount), qbolink.RecordID(accountID)).Exec(ctx)
		return err
	})
}

// AccountFor returns the id of the QuickBooks account the Books account is mapped to;
// QBO_UNMAPPED, naming the account, when it has no mapping.
func AccountFor(ctx context.Context, c *ent.Client, connectionID, accountID string) (string, error) {
	conn, err := connection(ctx, c, connectionID)
	if err != nil {
		return "", err
	}
	acct, err := booksAccount(ctx, c, conn, accountID)
	if err != nil {
		return "", err
	}
	link, err := accountLink(ctx, c, conn.ID, acct.ID)
	if err != nil {
		return "", err
	}
	if link == nil || link.QboID == nil {
		return "", apperr.New(apperr.QBOUnmapped, "Books account %s %s is not mapped to a QuickBooks account; "+
			"map it in the QuickBooks settings", acct.Code, acct.Name)
	}
	return *link.QboID, nil
}

// AccountMappings returns the connection's account mappings.
func AccountMappings(ctx context.Context, c *ent.Client, connectionID string) ([]*ent.QBOLink, error) {
	if _, err := connection(ctx, c, connectionID); err != nil {
		return nil, err
	}
	return c.QBOLink.Query().Where(qbolink.ConnectionID(connectionID),
		qbolink.RecordTypeEQ(qbolink.RecordTypeAccount)).Order(qbolink.ByRecordID()).All(ctx)
}

// booksAccount returns the Books account, which must belong to the connection's entity.
func booksAccount(ctx context.Context, c *ent.Client, conn *ent.QBOConnection, id string) (*ent.Account, error) {
	a, err := c.Account.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, apperr.New(apperr.NotFound, "account %q not found", id).WithField("accountId")
	}
	if err != nil {
		return nil, err
	}
	if a.EntityID != conn.EntityID {
		return nil, apperr.New(apperr.Validation, "account %s %s belongs to another legal entity than the "+
			"QuickBooks connection", a.Code, a.Name).WithField("accountId")
	}
	return a, nil
}

func accountLink(ctx context.Context, c *ent.Client, connectionID, accountID string) (*ent.QBOLink, error) {
	l, err := c.QBOLink.Query().Where(qbolink.ConnectionID(connectionID),
		qbolink.RecordTypeEQ(qbolink.RecordTypeAccount), qbolink.RecordID(accountID), qbolink.Part(0)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return l, err
}

// createLink stores a new account mapping, synced at generation 1.
func createLink(ctx context.Context, c *ent.Client, conn *ent.QBOConnection, accountID string, entry *ent.QBOListEntry, at time.Time) error {
	return c.QBOLink.Create().
		SetConnectionID(conn.ID).SetEntityID(conn.EntityID).
		SetRecordType(qbolink.RecordTypeAccount).SetRecordID(accountID).
		SetQboType(QBOAccountType).SetQboID(entry.QboID).SetDocNumber(cut(entry.Name, 40)).
		SetStatus(qbolink.StatusSynced).SetGeneration(1).SetSyncedGeneration(1).SetSyncedAt(at).
		Exec(ctx)
}

// describe names a Books account for a message: code and name, or the id when unreadable.
func describe(ctx context.Context, c *ent.Client, id string) string {
	a, err := c.Account.Get(ctx, id)
	if err != nil {
		return id
	}
	return fmt.Sprintf("%s %s", a.Code, a.Name)
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
