package manage

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestManagePassword_FromAPipe(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"line", "wonderland\n", "wonderland"},
		{"CRLF", "wonderland\r\n", "wonderland"},
		{"no line ending", "wonderland", "wonderland"},
		{"only the first line", "first\nsecond\n", "first"},
		{"spaces are kept", "  two words \n", "  two words "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prompt bytes.Buffer
			got, err := readPassword(strings.NewReader(tt.input), &prompt, "password")
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
			assert.Empty(t, prompt.String(), "no prompt when nobody is typing")
		})
	}
}

func TestManagePassword_Empty(t *testing.T) {
	for _, input := range []string{"", "\n", "\r\n"} {
		_, err := readPassword(strings.NewReader(input), new(bytes.Buffer), "passphrase")
		assert.EqualError(t, err, "no passphrase on the standard input")
	}
}

// TestManagePassword_FromAFile: a regular file is an *os.File but not a
// terminal, so it is read like a pipe.
func TestManagePassword_FromAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(path, []byte("s3cret\n"), 0o600))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	got, err := readPassword(f, new(bytes.Buffer), "password")
	require.NoError(t, err)
	assert.Equal(t, "s3cret", string(got))
}
