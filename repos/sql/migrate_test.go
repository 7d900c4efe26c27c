package sql

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMigrations_NumberedFromOne(t *testing.T) {
	for name := range dialects {
		ms, err := migrations(name)
		require.NoError(t, err, name)
		require.NotEmpty(t, ms, name)
		for i, m := range ms {
			assert.Equal(t, i+1, m.version, m.name)
			assert.NotEmpty(t, m.statements, m.name)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	script := `-- a comment; with a semicolon
CREATE TABLE a (
    id TEXT -- trailing comments stay; SQL ignores them
);

CREATE INDEX a_id ON a (id);
CREATE TABLE b (id TEXT)`
	assert.Equal(t, []string{
		"CREATE TABLE a (\n    id TEXT -- trailing comments stay; SQL ignores them\n)",
		"CREATE INDEX a_id ON a (id)",
		"CREATE TABLE b (id TEXT)",
	}, splitStatements(script))
}
