package tokens

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewID_IsTimePrefixAnd208RandomBits(t *testing.T) {
	id := NewID()
	require.Len(t, id, IDLength)
	_, err := hex.DecodeString(id[:12])
	require.NoError(t, err, "the prefix is hex milliseconds")
	raw, err := base64.RawURLEncoding.Strict().DecodeString(id[12:])
	require.NoError(t, err)
	assert.Len(t, raw, 26)
}

func TestNewID_IsUnique(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := NewID()
		require.False(t, seen[id], "duplicate id %s", id)
		seen[id] = true
	}
}

// Ids made later sort after earlier ones, byte for byte, which is what lets a
// database append them at the right edge of an index.
func TestNewID_SortsByCreation(t *testing.T) {
	first := NewID()
	time.Sleep(2 * time.Millisecond)
	second := NewID()
	assert.Less(t, first, second)
}
