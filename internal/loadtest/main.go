// Command loadtest measures the endpoints of a real, running Caddy against a
// static route served by the same process, and checks the ratios the project
// targets: a refresh (a real rotation: seal, SQLite transaction, JWT signature)
// and a client_credentials grant must cost a bounded multiple of a static
// answer, introspection is measured for an access and a refresh token, and the
// key set and metadata must serve nearly as fast as the static route.
//
// It starts its own Caddy on 127.0.0.1 with throwaway keys, definitions and
// database in a temporary directory, runs each scenario for a fixed time, kills
// Caddy and exits: non-zero when any request got an answer other than 200.
//
//	go run ./internal/loadtest                       # defaults: 3 rounds of 10 s, 16 connections
//	go run ./internal/loadtest -duration 5s -rounds 1
//	go run ./internal/loadtest -key rsa              # RS256: signing-bound
//	go run ./internal/loadtest -caddy /path/to/caddy # a caddy built with this plugin
//	go run ./internal/loadtest -cpuprofile cpu.prof  # then: go tool pprof -top /path/to/caddy cpu.prof
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// config is what the flags choose.
type config struct {
	caddyBin    string
	duration    time.Duration
	warmup      time.Duration
	connections int
	rounds      int
	keyType     string
	cpuProfile  string
	profileOf   string
	only        string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.caddyBin, "caddy", "", "caddy binary with the oauth2_token plugin (default: build ./cmd/caddy into a temp dir)")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured time of each scenario run")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured time before each scenario run")
	flag.IntVar(&cfg.connections, "c", 16, "concurrent connections (one worker each)")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds; each runs every scenario once, and the median round is reported")
	flag.StringVar(&cfg.keyType, "key", "ec", "signing key: ec (ES256, P-256) or rsa (RS256, 2048 bits)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of Caddy to this file (taken over the first round's run of -profile-scenario; turns Caddy's admin API on, on 127.0.0.1)")
	flag.StringVar(&cfg.profileOf, "profile-scenario", "refresh", "the scenario -cpuprofile profiles: one of "+fmt.Sprint(scenarioNames))
	flag.StringVar(&cfg.only, "scenarios", "", "comma-separated scenarios to run (default: all); static always runs, as the baseline")
	flag.Parse()
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		flag.Usage()
		os.Exit(2)
	}

	// Ctrl-C stops the run early, but still through run's deferred cleanup, so
	// Caddy never outlives the load test.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		if errors.Is(err, errNon200) {
			os.Exit(1)
		}
		os.Exit(2)
	}
}

func (c config) validate() error {
	switch {
	case c.duration <= 0:
		return errors.New("-duration must be positive")
	case c.warmup < 0:
		return errors.New("-warmup must not be negative")
	case c.connections < 1:
		return errors.New("-c must be at least 1")
	case c.rounds < 1:
		return errors.New("-rounds must be at least 1")
	case c.keyType != "ec" && c.keyType != "rsa":
		return fmt.Errorf("-key must be ec or rsa, not %q", c.keyType)
	case !slices.Contains(scenarioNames, c.profileOf):
		return fmt.Errorf("-profile-scenario must be one of %v, not %q", scenarioNames, c.profileOf)
	}
	return nil
}

// scenarioNames are the scenarios, in the order they run.
var scenarioNames = []string{"static", "client_credentials", "refresh", "introspect_access", "introspect_refresh", "jwks", "metadata"}

// errNon200 marks a run that completed but saw failed requests.
var errNon200 = errors.New("some requests were not answered 200")

func run(ctx context.Context, cfg config) error {
	dir, err := os.MkdirTemp("", "caddy-oauth2-loadtest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	if cfg.caddyBin == "" {
		fmt.Println("building ./cmd/caddy ...")
		if cfg.caddyBin, err = buildCaddy(ctx, dir); err != nil {
			return err
		}
	}
	fx, err := writeFixture(dir, cfg.keyType, cfg.cpuProfile != "")
	if err != nil {
		return fmt.Errorf("writing fixture: %w", err)
	}
	srv, err := startCaddy(ctx, cfg.caddyBin, dir, fx)
	if err != nil {
		return err
	}
	defer srv.stop()

	// The temporary directory, and Caddy's log in it, is gone after the run:
	// every failure carries the end of the log.
	withLog := func(err error) error {
		if ctx.Err() != nil {
			return err // interrupted: the log has nothing to say
		}
		return fmt.Errorf("%w\n%s", err, srv.logTail())
	}

	lg := newLoadGen(fx, cfg.connections)
	defer lg.close()
	scenarios := []scenario{
		staticScenario(lg), clientCredentialsScenario(lg), refreshScenario(lg),
		introspectionScenario(lg, "introspect_access", func() string { return lg.inspected.AccessToken }),
		introspectionScenario(lg, "introspect_refresh", func() string { return lg.inspected.RefreshToken }),
		documentScenario(lg, "jwks", jwksPath),
		documentScenario(lg, "metadata", metadataPath),
	}
	if cfg.only != "" {
		wanted := strings.Split(cfg.only, ",")
		scenarios = slices.DeleteFunc(scenarios, func(sc scenario) bool {
			return sc.name != "static" && !slices.Contains(wanted, sc.name)
		})
	}
	if err := lg.prepareTokens(ctx); err != nil {
		return withLog(fmt.Errorf("obtaining refresh tokens: %w", err))
	}

	printHeader(cfg, fx)
	results := map[string][]result{}
	for round := 1; round <= cfg.rounds; round++ {
		for _, sc := range scenarios {
			profile := ""
			if round == 1 && sc.name == cfg.profileOf {
				profile = cfg.cpuProfile
			}
			r, err := lg.measure(ctx, srv, sc, cfg.warmup, cfg.duration, profile)
			if err != nil {
				return withLog(err)
			}
			fmt.Printf("round %d  %s\n", round, r)
			results[sc.name] = append(results[sc.name], r)
		}
	}
	if printSummary(scenarios, results) {
		return withLog(errNon200)
	}
	return nil
}
