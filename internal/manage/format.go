package manage

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
)

// table writes aligned columns, as `caddy list-modules` and most CLIs do.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

// row writes one row; each value is made safe for a terminal first.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = printable(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// printable replaces control characters, which would break the columns or,
// as escape sequences, drive the terminal, with U+FFFD. Names and
// descriptions are free text that anyone with write access to the repository
// chose.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

// describeList renders a list of grants or scopes for people: nil, which
// means "no restriction", as unrestricted; an empty list, which allows
// nothing, as "(none)".
func describeList(l []string, unrestricted string) string {
	switch {
	case l == nil:
		return unrestricted
	case len(l) == 0:
		return "(none)"
	}
	return strings.Join(l, ",")
}

// plural returns word with an s when n is not 1.
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
