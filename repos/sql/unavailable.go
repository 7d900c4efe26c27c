package sql

import (
	"context"
	dbsql "database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/caddy-oauth2/caddy-oauth2/repos"
)

// unavailable marks err as repos.ErrUnavailable when it says the database
// could not answer rather than that the request was wrong: a deadline or
// cancellation, a connection refused, reset or gone stale, or what the
// dialect knows as a busy or shutting-down server. Other errors are left as
// they are: they are bugs, answered 500.
func (d *dialect) unavailable(err error) error {
	if err == nil || errors.Is(err, repos.ErrUnavailable) || !d.isUnavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", repos.ErrUnavailable, err)
}

// isUnavailable is unavailable's test.
func (d *dialect) isUnavailable(err error) bool {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, dbsql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &netErr):
		return true
	}
	return d.isServerUnavailable != nil && d.isServerUnavailable(err)
}
