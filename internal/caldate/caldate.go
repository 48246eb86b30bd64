// Package caldate is a calendar date without a time of day or zone: the date of a journal
// entry or a period boundary. Accounting dates are civil dates in the entity's time zone;
// carrying them as time.Time invites off-by-one-day errors at midnight UTC.
package caldate

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

const layout = "2006-01-02"

// Date is a calendar date. The zero value is not a valid date.
type Date struct {
	t time.Time // midnight UTC of the date
}

// ErrInvalid reports a string that is not a YYYY-MM-DD date.
var ErrInvalid = errors.New("invalid date")

// Parse reads a YYYY-MM-DD date.
func Parse(s string) (Date, error) {
	t, err := time.Parse(layout, s)
	if err != nil {
		return Date{}, fmt.Errorf("%w: %q (want YYYY-MM-DD)", ErrInvalid, s)
	}
	return Date{t: t}, nil
}

// MustParse is Parse for constants and tests.
func MustParse(s string) Date {
	d, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return d
}

// New returns the date year-month-day, normalizing overflow like time.Date.
func New(year int, month time.Month, day int) Date {
	return Date{t: time.Date(year, month, day, 0, 0, 0, 0, time.UTC)}
}

// Of returns the calendar date of t in loc.
func Of(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return New(y, m, d)
}

// Today returns today's date in loc.
func Today(loc *time.Location) Date { return Of(time.Now(), loc) }

func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.t.Format(layout)
}

// IsZero reports whether d is the zero value.
func (d Date) IsZero() bool { return d.t.IsZero() }

// Year, Month and Day return the parts of d.
func (d Date) Year() int          { return d.t.Year() }
func (d Date) Month() time.Month  { return d.t.Month() }
func (d Date) Day() int           { return d.t.Day() }
func (d Date) AddDays(n int) Date { return Date{t: d.t.AddDate(0, 0, n)} }

// AddMonths adds n calendar months, normalizing like time.AddDate.
func (d Date) AddMonths(n int) Date { return Date{t: d.t.AddDate(0, n, 0)} }

// Before, After and Equal compare dates.
func (d Date) Before(o Date) bool { return d.t.Before(o.t) }
func (d Date) After(o Date) bool  { return d.t.After(o.t) }
func (d Date) Equal(o Date) bool  { return d.t.Equal(o.t) }

// Compare returns -1, 0 or +1.
func (d Date) Compare(o Date) int { return d.t.Compare(o.t) }

// FirstOfMonth returns the first day of d's month.
func (d Date) FirstOfMonth() Date { return New(d.Year(), d.Month(), 1) }

// LastOfMonth returns the last day of d's month.
func (d Date) LastOfMonth() Date { return New(d.Year(), d.Month()+1, 0) }

// Value stores the date as YYYY-MM-DD text, which PostgreSQL casts into a date column and
// SQLite keeps as sortable text.
func (d Date) Value() (driver.Value, error) {
	if d.IsZero() {
		return nil, errors.New("caldate: zero date")
	}
	return d.String(), nil
}

// Scan reads a date from a date column (time.Time) or text.
func (d *Date) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		y, m, dd := v.Date()
		*d = New(y, m, dd)
		return nil
	case string:
		return d.scanText(v)
	case []byte:
		return d.scanText(string(v))
	case nil:
		return errors.New("caldate: NULL date")
	}
	return fmt.Errorf("caldate: cannot scan %T", src)
}

func (d *Date) scanText(s string) error {
	if len(s) > len(layout) {
		s = s[:len(layout)] // tolerate "2026-11-21T00:00:00Z" from drivers that add a time
	}
	p, err := Parse(s)
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// MarshalGQL writes the date as a GraphQL string.
func (d Date) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(d.String())) }

// UnmarshalGQL reads a YYYY-MM-DD string.
func (d *Date) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%w: must be a YYYY-MM-DD string", ErrInvalid)
	}
	p, err := Parse(s)
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// EncodeMsgpack writes the date as its YYYY-MM-DD string, which is how pagination cursors
// (msgpack-encoded by entgql) carry it; decoded into an interface the cursor value is then a
// string that both databases compare with a date column correctly.
func (d Date) EncodeMsgpack(enc *msgpack.Encoder) error { return enc.EncodeString(d.String()) }

// DecodeMsgpack reads what EncodeMsgpack wrote.
func (d *Date) DecodeMsgpack(dec *msgpack.Decoder) error {
	s, err := dec.DecodeString()
	if err != nil {
		return err
	}
	p, err := Parse(s)
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// MarshalJSON writes the date as a JSON string.
func (d Date) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a YYYY-MM-DD JSON string.
func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: must be a YYYY-MM-DD string", ErrInvalid)
	}
	p, err := Parse(s)
	if err != nil {
		return err
	}
	*d = p
	return nil
}
