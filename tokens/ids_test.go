package tokens

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewID_Is256BitsBase64URL(t *testing.T) {
	id := NewID()
	assert.Len(t, id, 43)
	raw, err := base64.RawURLEncoding.Strict().DecodeString(id)
	require.NoError(t, err)
	assert.Len(t, raw, 32)
}

func TestNewID_IsUnique(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := NewID()
		require.False(t, seen[id], "duplicate id %s", id)
		seen[id] = true
	}
}
