package main

import (
	"fmt"
	"runtime"
	"slices"
	"time"
)

// result is one scenario run.
type result struct {
	name      string
	requests  int
	rps       float64
	serverCPU time.Duration // Caddy's CPU time per request
	clientCPU time.Duration // the load generator's CPU time per request
	p50, p99  time.Duration
	failures  int   // answers other than 200 and transport errors, warm-up included
	firstErr  error // the first of them
}

func newResult(name string, duration time.Duration, latencies [][]time.Duration, serverCPU, clientCPU time.Duration) result {
	all := slices.Concat(latencies...)
	slices.Sort(all)
	r := result{name: name, requests: len(all), rps: float64(len(all)) / duration.Seconds()}
	if len(all) > 0 {
		r.serverCPU = serverCPU / time.Duration(len(all))
		r.clientCPU = clientCPU / time.Duration(len(all))
		r.p50 = percentile(all, 0.50)
		r.p99 = percentile(all, 0.99)
	}
	return r
}

// percentile is the nearest-rank percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (r result) String() string {
	s := fmt.Sprintf("%-18s %9.0f req/s  server %6.0f µs CPU/req  loadgen %6.0f µs CPU/req  p50 %8s  p99 %8s  non-200 %d",
		r.name, r.rps, micros(r.serverCPU), micros(r.clientCPU), round(r.p50), round(r.p99), r.failures)
	if r.firstErr != nil {
		s += fmt.Sprintf("  (first: %.200v)", r.firstErr)
	}
	return s
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func round(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func printHeader(cfg config, fx *fixture) {
	fmt.Printf("caddy-oauth2 load test: %s signing, %d connections (keep-alive, loopback %s), %s measured after %s warm-up, %d round(s)\n",
		fx.algorithm, cfg.connections, fx.addr, cfg.duration, cfg.warmup, cfg.rounds)
	fmt.Printf("NOTE: the load generator runs on the same %d CPU(s) as Caddy and competes with it for them:\n"+
		"      absolute req/s are a lower bound of what Caddy alone would do; the ratios are the figures to compare.\n",
		runtime.NumCPU())
	fmt.Println("server CPU/req = (utime+stime of the caddy process over the measured window) / requests, from /proc at 100 ticks/s")
	fmt.Println()
}

// median is the median of the values xs maps the results to.
func median[T int | float64 | time.Duration](rs []result, f func(result) T) T {
	xs := make([]T, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// printSummary prints the medians over the rounds and the target ratios, and
// reports whether any request failed.
func printSummary(scenarios []scenario, results map[string][]result) (failed bool) {
	fmt.Printf("\nmedian of %d round(s):\n", len(results[scenarios[0].name]))
	medians := map[string]result{}
	for _, sc := range scenarios {
		rs := results[sc.name]
		m := result{
			name:      sc.name,
			rps:       median(rs, func(r result) float64 { return r.rps }),
			serverCPU: median(rs, func(r result) time.Duration { return r.serverCPU }),
			clientCPU: median(rs, func(r result) time.Duration { return r.clientCPU }),
			p50:       median(rs, func(r result) time.Duration { return r.p50 }),
			p99:       median(rs, func(r result) time.Duration { return r.p99 }),
		}
		for _, r := range rs {
			m.failures += r.failures // a total, not a median: every failure counts
		}
		medians[sc.name] = m
		fmt.Printf("  %s\n", m)
		failed = failed || m.failures > 0
	}

	static := medians["static"]
	ran := func(name string) bool { _, ok := medians[name]; return ok }
	fmt.Println("\nratios (project targets):")
	if ran("refresh") {
		refresh := medians["refresh"]
		printRatio("refresh rps / static rps", refresh.rps/static.rps, ">=", 0.35)
		printRatio("refresh CPU/req / static CPU/req", float64(refresh.serverCPU)/float64(static.serverCPU), "<=", 3)
	}
	if ran("client_credentials") {
		printRatio("client_credentials rps / static rps", medians["client_credentials"].rps/static.rps, ">=", 0.45)
	}
	for _, name := range []string{"jwks", "metadata"} {
		if ran(name) {
			printRatio(name+" rps / static rps", medians[name].rps/static.rps, ">=", 0.9)
		}
	}
	for _, name := range slices.DeleteFunc([]string{"introspect_access", "introspect_refresh"}, func(n string) bool { return !ran(n) }) {
		fmt.Printf("  %-38s %6.2f  (CPU/req %.2fx static)\n", name+" rps / static rps",
			medians[name].rps/static.rps, float64(medians[name].serverCPU)/float64(static.serverCPU))
	}

	if failed {
		fmt.Println("\nFAIL: some requests were not answered 200 (count shown as non-200 above)")
	} else {
		fmt.Println("\nall requests answered 200")
	}
	return failed
}

func printRatio(name string, got float64, op string, target float64) {
	verdict := "meets target"
	if (op == ">=" && got < target) || (op == "<=" && got > target) {
		verdict = "MISSES target"
	}
	fmt.Printf("  %-38s %6.2f  (target %s %.2f: %s)\n", name, got, op, target, verdict)
}
