package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"books/ent"
	"books/ent/journalentry"
	"books/ent/journalline"
	"books/ent/ledgerseal"
	"books/ent/legalentity"
	"books/internal/apperr"
	"books/internal/ids"
	"books/internal/tenant"
)

// Sealing makes tampering with posted entries detectable. Each legal entity has one hash
// chain in ledger_seals: link seq n seals one posted (or since reversed) journal entry with
//
//	hash_n = hex(SHA-256(SealContent(hash_{n-1}, entry, lines)))
//
// where hash_0 is "". The database only appends to the chain (updates, deletes and
// truncation are refused, and so is a link whose prev_hash is not its predecessor's hash),
// and internal/integrity recomputes it. Posting never touches the chain, so it does not
// serialize posting: SealPending appends what was posted since, shortly after commit.
//
// # Canonical encoding, version 1
//
// SealContent is a sequence of netstrings (len ":" bytes ","; len in decimal ASCII), so
// no field can run into the next. A NULL column is the two bytes "~,", which no netstring
// can be (they start with a digit), so NULL and "" differ. In order:
//
//	"books-ledger-seal/v1"  the version; a new encoding gets a new tag
//	prev_hash               hex, "" for seq 1
//	entry fields            id, organization_id, entity_id, date (YYYY-MM-DD),
//	                        document_date (date or NULL), description, currency,
//	                        source_system, source_ref, total (decimal integer of
//	                        1/10,000 units), posted_at (UTC, 2006-01-02T15:04:05.000000Z,
//	                        or NULL), reversal_of_id, created_by, created_via, request_id,
//	                        document_type, document_id
//	line count              decimal
//	each line by line_no    id, line_no, account_id, class_id, customer_id, vendor_id,
//	                        debit units, credit units, description
//
// status and updated_at are left out on purpose: a posted entry legitimately becomes
// reversed. Integers are decimal ASCII, text is the stored UTF-8 bytes.

// SealVersion tags the canonical encoding; it is the first field hashed.
const SealVersion = "books-ledger-seal/v1"

// postedAtLayout fixes posted_at to microseconds, the precision PostgreSQL stores.
const postedAtLayout = "2006-01-02T15:04:05.000000Z"

// sealBatch bounds the entries sealed per transaction, so a large backlog neither holds
// locks for long nor builds one huge transaction.
const sealBatch = 500

// sealRetries bounds how often SealPending starts over after losing a race with another
// sealer; each lost race means the other sealer made progress.
const sealRetries = 30

// SealContent returns the canonical bytes hashed for the link sealing e (see the encoding
// above). lines must be all of e's lines; their order does not matter.
func SealContent(prevHash string, e *ent.JournalEntry, lines []*ent.JournalLine) []byte {
	var b []byte
	str := func(s string) {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
		b = append(b, ',')
	}
	opt := func(s *string) {
		if s == nil {
			b = append(b, '~', ',')
			return
		}
		str(*s)
	}
	num := func(n int64) { str(strconv.FormatInt(n, 10)) }

	str(SealVersion)
	str(prevHash)
	str(e.ID)
	str(e.OrganizationID)
	str(e.EntityID)
	str(e.Date.String())
	if e.DocumentDate != nil {
		str(e.DocumentDate.String())
	} else {
		opt(nil)
	}
	str(e.Description)
	str(e.Currency)
	str(string(e.SourceSystem))
	str(e.SourceRef)
	num(e.Total.Units())
	if e.PostedAt != nil {
		str(e.PostedAt.UTC().Truncate(time.Microsecond).Format(postedAtLayout))
	} else {
		opt(nil)
	}
	opt(e.ReversalOfID)
	str(e.CreatedBy)
	str(e.CreatedVia)
	str(e.RequestID)
	opt(e.DocumentType)
	opt(e.DocumentID)

	sorted := slices.Clone(lines)
	slices.SortFunc(sorted, func(x, y *ent.JournalLine) int { return x.LineNo - y.LineNo })
	num(int64(len(sorted)))
	for _, l := range sorted {
		str(l.ID)
		num(int64(l.LineNo))
		str(l.AccountID)
		opt(l.ClassID)
		opt(l.CustomerID)
		opt(l.VendorID)
		num(l.Debit.Units())
		num(l.Credit.Units())
		str(l.Description)
	}
	return b
}

// SealHash returns the hex SHA-256 of SealContent: the hash of the link sealing e after a
// link whose hash is prevHash.
func SealHash(prevHash string, e *ent.JournalEntry, lines []*ent.JournalLine) string {
	sum := sha256.Sum256(SealContent(prevHash, e, lines))
	return hex.EncodeToString(sum[:])
}

// Sealable is the condition on journal entries that may be sealed: posted or reversed.
func Sealable() []journalentry.Status {
	return []journalentry.Status{journalentry.StatusPosted, journalentry.StatusReversed}
}

// Unsealed narrows a journal entry query to entries without a seal.
func Unsealed() func(*entsql.Selector) {
	return func(s *entsql.Selector) {
		seals := entsql.Table(ledgerseal.Table)
		s.Where(entsql.NotExists(entsql.Select(seals.C(ledgerseal.FieldID)).From(seals).
			Where(entsql.ColumnsEQ(seals.C(ledgerseal.FieldEntryID), s.C(journalentry.FieldID)))))
	}
}

// SealPending appends every posted or reversed entry of entityID that has no seal yet to
// the entity's chain, ordered by (posted_at, id), and returns how many it sealed. It works
// in transactions of at most 500 entries. When another sealer appends at the same time,
// the chain's unique indexes refuse the loser's links; the loser starts over from the new
// head, so the chain never forks.
func SealPending(ctx context.Context, client *ent.Client, entityID string) (int, error) {
	if err := entityExists(ctx, client, entityID); err != nil {
		return 0, err
	}
	return sealPending(ctx, client, entityID, 0)
}

// SealRecent is SealPending for entries posted at most window before the chain's last seal
// was written. It finds them through the (entity, posted_at) index, so a sealer running every
// few seconds reads only the recent end of the ledger, however long it grows. An entry whose
// transaction stayed open longer than window before committing is left to the next
// SealPending, which the sealing job runs periodically (see integrity.SealFullEvery).
func SealRecent(ctx context.Context, client *ent.Client, entityID string, window time.Duration) (int, error) {
	if err := entityExists(ctx, client, entityID); err != nil {
		return 0, err
	}
	return sealPending(ctx, client, entityID, window)
}

func entityExists(ctx context.Context, client *ent.Client, entityID string) error {
	_, err := client.LegalEntity.Query().Where(legalentity.ID(entityID)).OnlyID(ctx)
	if ent.IsNotFound(err) {
		return apperr.New(apperr.NotFound, "legal entity %q not found", entityID)
	}
	return err
}

// sealPending is SealPending (window 0) or SealRecent for an entity known to exist.
func sealPending(ctx context.Context, client *ent.Client, entityID string, window time.Duration) (int, error) {
	total, races := 0, 0
	for {
		var n int
		head, err := chainHead(ctx, client, entityID)
		if err == nil {
			err = WithTx(ctx, client, func(c *ent.Client) error {
				var err error
				n, err = sealBatchOf(ctx, c, entityID, head, window)
				return err
			})
		}
		if err != nil {
			if races < sealRetries && lostRace(ctx, client, entityID, head, err) {
				races++
				// Sealers that lost to each other would meet again at once: a random pause
				// lets one of them go first, so none loses every round.
				if err := pause(ctx, time.Duration(rand.Int64N(int64(races)*int64(5*time.Millisecond)))); err != nil {
					return total, err
				}
				continue
			}
			return total, fmt.Errorf("seal entries of %s: %w", entityID, err)
		}
		total += n
		if n < sealBatch {
			return total, nil
		}
	}
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// link is the head of a chain: its seq and hash, zero for an empty chain, and when it was
// sealed.
type link struct {
	seq      int64
	hash     string
	sealedAt time.Time
}

// same reports whether l and o are the same link.
func (l link) same(o link) bool { return l.seq == o.seq && l.hash == o.hash }

func chainHead(ctx context.Context, c *ent.Client, entityID string) (link, error) {
	s, err := c.LedgerSeal.Query().Where(ledgerseal.EntityID(entityID)).
		Order(ent.Desc(ledgerseal.FieldSeq)).First(ctx)
	if ent.IsNotFound(err) {
		return link{}, nil
	}
	if err != nil {
		return link{}, err
	}
	return link{seq: s.Seq, hash: s.Hash, sealedAt: s.SealedAt}, nil
}

// lostRace reports whether err is another sealer having appended first: a unique index
// refused a link, or the head moved since it was read (the database's chain trigger may
// have refused the link before the index did).
func lostRace(ctx context.Context, c *ent.Client, entityID string, head link, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if ent.IsConstraintError(err) {
		return true
	}
	now, herr := chainHead(ctx, c, entityID)
	return herr == nil && !now.same(head)
}

// sealBatchOf seals up to sealBatch pending entries after head, in c's transaction; with a
// window, only those posted at most window before head was sealed.
func sealBatchOf(ctx context.Context, c *ent.Client, entityID string, head link, window time.Duration) (int, error) {
	// Re-read the head inside the transaction: the caller's read may predate a commit.
	cur, err := chainHead(ctx, c, entityID)
	if err != nil {
		return 0, err
	}
	if !cur.same(head) {
		return 0, errHeadMoved
	}
	q := c.JournalEntry.Query().
		Where(journalentry.EntityID(entityID), journalentry.StatusIn(Sealable()...))
	if window > 0 && head.seq > 0 {
		q.Where(journalentry.PostedAtGTE(head.sealedAt.Add(-window)))
	}
	entries, err := q.Where(Unsealed()).
		Order(journalentry.ByPostedAt(), journalentry.ByID()).
		Limit(sealBatch).
		WithLines(func(q *ent.JournalLineQuery) { q.Order(journalline.ByLineNo()) }).
		All(ctx)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	now := time.Now().UTC()
	creates := make([]*ent.LedgerSealCreate, len(entries))
	prev := head
	for i, e := range entries {
		next := link{seq: prev.seq + 1, hash: SealHash(prev.hash, e, e.Edges.Lines)}
		creates[i] = c.LedgerSeal.Create().
			SetID(ids.New(ids.LedgerSeal)).
			SetOrganizationID(e.OrganizationID).
			SetEntityID(entityID).
			SetSeq(next.seq).
			SetEntryID(e.ID).
			SetPrevHash(prev.hash).
			SetHash(next.hash).
			SetSealedAt(now)
		prev = next
	}
	// One statement for the batch: the chain trigger runs for each row in order and sees the
	// rows before it in the same statement (both databases), and the sealer costs the
	// database one round trip per batch rather than one per entry.
	if err := c.LedgerSeal.CreateBulk(creates...).Exec(ctx); err != nil {
		return 0, err
	}
	return len(entries), nil
}

var errHeadMoved = errors.New("another sealer moved the chain head")

// SealAll seals the pending entries of every legal entity of every organization and
// returns how many it sealed. It runs in the system tenant context; an entity that fails
// does not stop the others, and its error is returned joined with the rest.
func SealAll(ctx context.Context, client *ent.Client) (int, error) {
	return SealAllRecent(ctx, client, 0)
}

// SealAllRecent is SealAll with SealRecent's window; a window of 0 seals everything pending.
func SealAllRecent(ctx context.Context, client *ent.Client, window time.Duration) (int, error) {
	ctx = tenant.System(ctx)
	entities, err := client.LegalEntity.Query().Order(legalentity.ByID()).IDs(ctx)
	if err != nil {
		return 0, fmt.Errorf("list legal entities: %w", err)
	}
	total := 0
	var errs []error
	for _, id := range entities {
		if ctx.Err() != nil {
			return total, errors.Join(append(errs, ctx.Err())...)
		}
		n, err := sealPending(ctx, client, id, window)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}
