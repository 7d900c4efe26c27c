//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd || solaris || illumos)

package sql

import "net"

// serverHasSpoken cannot look at the socket here; pgx's ping of a
// connection idle for over a second is the only check.
func serverHasSpoken(net.Conn) bool { return false }
