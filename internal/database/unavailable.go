package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"strings"
)

// IsUnavailable reports whether err, returned by a database call, means the database could
// not be reached or is going away: the pool is closed, a connection could not be made or
// broke, or PostgreSQL refused the connection or is shutting down. Such a request may well
// succeed later, so the APIs answer "unavailable, retry" (apperr.Unavailable) instead of an
// internal error. An answer from a working database is never an outage, however unwelcome:
// a lock or statement timeout, SQLITE_BUSY after the busy timeout, a refused constraint.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	// lib/pq passes on the dialer's error (connection refused, no route, DNS) and the
	// socket's when a connection breaks mid-statement.
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		return unavailableState(pg.SQLState())
	}
	return errors.Is(err, errPoolClosed)
}

// errPoolClosed is the error database/sql returns from a closed pool, which it does not
// export; taken from a pool closed for the purpose, so that no message text is matched.
var errPoolClosed = func() error {
	db := sql.OpenDB(noConnector{})
	_ = db.Close()
	_, err := db.Conn(context.Background())
	return err
}()

type noConnector struct{}

func (noConnector) Connect(context.Context) (driver.Conn, error) { return nil, driver.ErrBadConn }
func (noConnector) Driver() driver.Driver                        { return nil }

// unavailableState reports whether a PostgreSQL SQLSTATE means the server cannot serve
// the connection: class 08 (connection exception), 57P01–57P03 (admin or crash shutdown,
// cannot connect now) and 53300 (too many connections), which a moment later may pass.
func unavailableState(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", "53300":
		return true
	}
	return strings.HasPrefix(code, "08")
}
