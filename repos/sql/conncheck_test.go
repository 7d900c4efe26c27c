//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd || solaris || illumos

package sql

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestServerHasSpoken(t *testing.T) {
	// eventually: what the server sent or did takes a moment to arrive.
	eventually := func(t *testing.T, client net.Conn) {
		assert.Eventually(t, func() bool { return serverHasSpoken(client) }, time.Second, 5*time.Millisecond)
	}
	t.Run("silent server", func(t *testing.T) {
		client, _ := tcpPair(t)
		assert.False(t, serverHasSpoken(client))
		assert.False(t, serverHasSpoken(client), "the check does not change the connection")
	})
	t.Run("server closed the connection", func(t *testing.T) {
		client, server := tcpPair(t)
		require.NoError(t, server.Close())
		eventually(t, client)
	})
	t.Run("server sent something unasked", func(t *testing.T) {
		client, server := tcpPair(t)
		_, err := server.Write([]byte("E terminating connection due to administrator command"))
		require.NoError(t, err)
		eventually(t, client)
	})
	t.Run("not a socket", func(t *testing.T) {
		client, _ := net.Pipe()
		defer client.Close()
		assert.False(t, serverHasSpoken(client), "without a socket to look at, pgx's own ping is the check")
	})
}

// BenchmarkServerHasSpoken is what the check adds to each checkout of a
// PostgreSQL connection.
func BenchmarkServerHasSpoken(b *testing.B) {
	client, _ := tcpPair(b)
	for b.Loop() {
		if serverHasSpoken(client) {
			b.Fatal("a silent server spoke")
		}
	}
}
