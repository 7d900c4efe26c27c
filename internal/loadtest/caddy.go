package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// startTimeout bounds how long Caddy may take to open its port: provisioning
// opens SQLite and runs migrations, a matter of milliseconds.
const startTimeout = 60 * time.Second

// clockTicksPerSecond is the unit of utime and stime in /proc/<pid>/stat.
// sysconf(_SC_CLK_TCK) is 100 on every Linux architecture Go supports (USER_HZ
// is fixed by the kernel ABI), and reading it would need cgo.
const clockTicksPerSecond = 100

// buildCaddy builds ./cmd/caddy of the module the load test belongs to.
func buildCaddy(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(dir, "caddy")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/caddy")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building ./cmd/caddy: %w", err)
	}
	return bin, nil
}

// caddyProcess is the server under test.
type caddyProcess struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done is closed
	logPath string
}

// startCaddy runs `caddy run` with a private HOME and XDG directories inside
// dir, so nothing is read from or written to the user's Caddy data, and waits
// until it accepts connections.
func startCaddy(ctx context.Context, bin, dir string, fx *fixture) (*caddyProcess, error) {
	logPath := filepath.Join(dir, "caddy.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor

	cmd := exec.Command(bin, "run", "--config", fx.caddyfile, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(),
		"HOME="+filepath.Join(dir, "home"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting caddy: %w", err)
	}
	p := &caddyProcess{cmd: cmd, done: make(chan struct{}), logPath: logPath}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := p.waitForPort(ctx, fx.addr); err != nil {
		p.stop()
		return nil, fmt.Errorf("%w\n%s", err, p.logTail())
	}
	return p, nil
}

func (p *caddyProcess) waitForPort(ctx context.Context, addr string) error {
	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		if err := p.alive(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("caddy did not listen on %s within %s", addr, startTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// alive reports an error if Caddy has exited.
func (p *caddyProcess) alive() error {
	select {
	case <-p.done:
		return fmt.Errorf("caddy exited: %v", p.waitErr)
	default:
		return nil
	}
}

// stop kills Caddy and waits for it to be gone. Safe to call more than once.
func (p *caddyProcess) stop() {
	if p.alive() == nil {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// cpuTime returns the user plus system CPU time Caddy has used so far.
func (p *caddyProcess) cpuTime() (time.Duration, error) {
	return processCPUTime(p.cmd.Process.Pid)
}

// processCPUTime reads utime and stime (fields 14 and 15) of /proc/<pid>/stat.
// The command name (field 2) is in parentheses and may hold spaces, so the
// fields are counted after its closing parenthesis.
func processCPUTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading CPU time (Linux only): %w", err)
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state), so field n is fields[n-3].
	if len(fields) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc stat format: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicksPerSecond, nil
}

// logTail is the end of Caddy's log, for error messages.
func (p *caddyProcess) logTail() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "caddy log (last lines):\n" + strings.Join(lines, "\n")
}
