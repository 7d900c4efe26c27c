package manage

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"golang.org/x/term"
)

// readPassword reads a password (or a key's passphrase) from in. When in is
// a terminal, it prompts on prompt, reads without echo and asks a second time
// to catch typing mistakes, as `caddy hash-password` does. Otherwise it reads
// one line, without its line ending, so that scripts and tests can pipe the
// password in without it showing in the process list or the shell history,
// as a flag's value would. The result is never empty.
func readPassword(in io.Reader, prompt io.Writer, what string) ([]byte, error) {
	if fd, ok := terminal(in); ok {
		return readFromTerminal(fd, prompt, what)
	}
	line, err := bufio.NewReader(in).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading the %s: %w", what, err)
	}
	if trimmed, ok := bytes.CutSuffix(line, []byte("\n")); ok {
		line = bytes.TrimSuffix(trimmed, []byte("\r"))
	}
	if len(line) == 0 {
		return nil, fmt.Errorf("no %s on the standard input", what)
	}
	return line, nil
}

// terminal returns the file descriptor of in if it is a terminal.
func terminal(in io.Reader) (int, bool) {
	f, ok := in.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// readFromTerminal prompts twice for a password on the terminal fd. Ctrl-C
// while echo is off restores the terminal before the process exits.
func readFromTerminal(fd int, prompt io.Writer, what string) ([]byte, error) {
	if state, err := term.GetState(fd); err == nil {
		interrupt := make(chan os.Signal, 1)
		signal.Notify(interrupt, os.Interrupt)
		done := make(chan struct{})
		defer func() {
			signal.Stop(interrupt)
			close(done)
		}()
		go func() {
			select {
			case <-interrupt:
				_ = term.Restore(fd, state)
				fmt.Fprintln(prompt)
				os.Exit(1)
			case <-done:
			}
		}()
	}

	read := func(label string) ([]byte, error) {
		fmt.Fprintf(prompt, "%s: ", label)
		p, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, fmt.Errorf("reading the %s: %w", what, err)
		}
		return p, nil
	}
	first, err := read("Enter " + what)
	if err != nil {
		return nil, err
	}
	if len(first) == 0 {
		return nil, fmt.Errorf("the %s is empty", what)
	}
	second, err := read("Repeat " + what)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(first, second) != 1 {
		return nil, fmt.Errorf("the two %ss differ", what)
	}
	return first, nil
}
