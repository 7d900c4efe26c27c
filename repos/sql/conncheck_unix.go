//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd || solaris || illumos

package sql

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// serverHasSpoken reports whether an idle connection has heard from the
// server since its last answer: the server closed it (end of file), reset
// it, or sent something unasked, as PostgreSQL's "terminating connection"
// on a restart. Such a connection is dead; a statement sent on it would fail
// after it was written, too late for database/sql to retry on another one.
// It costs one non-blocking read, a microsecond, which is why it can run on
// every checkout where a ping could not.
func serverHasSpoken(conn net.Conn) bool {
	if tlsConn, ok := conn.(*tls.Conn); ok {
		conn = tlsConn.NetConn()
	}
	sysConn, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sysConn.SyscallConn()
	if err != nil {
		return true
	}
	spoke := false
	err = raw.Read(func(fd uintptr) bool {
		var buf [1]byte
		n, err := syscall.Read(int(fd), buf[:])
		spoke = n > 0 || (n == 0 && err == nil) ||
			(err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EWOULDBLOCK))
		return true // never wait for the socket to become readable
	})
	return spoke || err != nil
}
