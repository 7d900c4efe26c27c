package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// requestTimeout bounds one request, so a hung server ends the run instead of
// hanging it.
const requestTimeout = 30 * time.Second

// loadGen sends the requests: one worker per connection, each sending its next
// request as soon as the last one is answered (a closed loop).
type loadGen struct {
	fx          *fixture
	client      *http.Client
	connections int
	tokenURL    string
	staticURL   string
	basicAuth   string   // the Authorization header of client bench
	chains      []string // chains[w] is worker w's current refresh token
	// inspected are the tokens the introspection scenarios ask about: a
	// password grant's, never refreshed, so both stay active.
	inspected tokenPair
}

// tokenPair is a token answer's two tokens.
type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func newLoadGen(fx *fixture, connections int) *loadGen {
	transport := &http.Transport{
		Proxy:               nil, // loopback only, whatever HTTP_PROXY says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        connections,
		MaxIdleConnsPerHost: connections, // every worker keeps its connection alive
		MaxConnsPerHost:     connections,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	req, _ := http.NewRequest(http.MethodPost, "/", nil)
	// RFC 6749 section 2.3.1: id and secret are form-encoded before Basic encoding.
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(fx.clientSecret))
	return &loadGen{
		fx:          fx,
		client:      &http.Client{Transport: transport, Timeout: requestTimeout},
		connections: connections,
		tokenURL:    "http://" + fx.addr + tokenPath,
		staticURL:   "http://" + fx.addr + "/static",
		basicAuth:   req.Header.Get("Authorization"),
		chains:      make([]string, connections),
	}
}

func (lg *loadGen) close() { lg.client.CloseIdleConnections() }

// statusError is an answer other than 200.
type statusError struct {
	status int
	body   string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.status, e.body) }

// scenario is one kind of request.
type scenario struct {
	name string
	// do sends one request as worker w; nil means it was answered 200.
	do func(w int) error
}

func staticScenario(lg *loadGen) scenario {
	return scenario{name: "static", do: func(int) error {
		_, err := lg.send(http.MethodGet, lg.staticURL, "", false)
		return err
	}}
}

func clientCredentialsScenario(lg *loadGen) scenario {
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}.Encode()
	return scenario{name: "client_credentials", do: func(int) error {
		_, err := lg.send(http.MethodPost, lg.tokenURL, body, false)
		return err
	}}
}

// The server's paths: oauth2_server's defaults.
const (
	tokenPath      = "/oauth/token"
	introspectPath = "/oauth/introspect"
	jwksPath       = "/oauth/jwks.json"
	metadataPath   = "/.well-known/oauth-authorization-server"
)

// introspectionScenario asks about one of lg.inspected's tokens: the state
// lookup by jti for an access token, by id for a refresh token.
func introspectionScenario(lg *loadGen, name string, token func() string) scenario {
	target := "http://" + lg.fx.addr + introspectPath
	return scenario{name: name, do: func(int) error {
		_, err := lg.send(http.MethodPost, target, url.Values{"token": {token()}}.Encode(), false)
		return err
	}}
}

// documentScenario fetches a public document: the key set or the metadata,
// which the server builds ahead and serves as a static route serves bytes.
func documentScenario(lg *loadGen, name, path string) scenario {
	target := "http://" + lg.fx.addr + path
	return scenario{name: name, do: func(int) error {
		_, err := lg.send(http.MethodGet, target, "", false)
		return err
	}}
}

// refreshScenario rotates each worker's own refresh-token chain: every request
// presents the token the previous one returned, so each is a real rotation
// (the old token marked used, the successor recorded) and none a replay.
func refreshScenario(lg *loadGen) scenario {
	return scenario{name: "refresh", do: func(w int) error {
		body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {lg.chains[w]}}.Encode()
		next, err := lg.send(http.MethodPost, lg.tokenURL, body, true)
		if err != nil {
			// The chain may be broken (consumed without the successor reaching us):
			// start a new one so the rest of the run still measures rotations.
			if rt, perr := lg.passwordGrant(); perr == nil {
				lg.chains[w] = rt
			}
			return err
		}
		lg.chains[w] = next
		return nil
	}}
}

// prepareTokens starts one refresh-token chain per worker with a password
// grant, and gets the tokens the introspection scenarios ask about.
func (lg *loadGen) prepareTokens(ctx context.Context) error {
	data, err := lg.sendPasswordGrant()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &lg.inspected); err != nil || lg.inspected.RefreshToken == "" {
		return fmt.Errorf("decoding token answer: %v", err)
	}
	for w := range lg.chains {
		if err := ctx.Err(); err != nil {
			return err
		}
		rt, err := lg.passwordGrant()
		if err != nil {
			return err
		}
		lg.chains[w] = rt
	}
	return nil
}

func (lg *loadGen) passwordGrant() (string, error) {
	return lg.send(http.MethodPost, lg.tokenURL, passwordForm(lg.fx), true)
}

// sendPasswordGrant runs a password grant and returns the whole answer.
func (lg *loadGen) sendPasswordGrant() ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, lg.tokenURL, strings.NewReader(passwordForm(lg.fx)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", lg.basicAuth)
	resp, err := lg.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = &statusError{status: resp.StatusCode, body: string(data)}
	}
	return data, err
}

func passwordForm(fx *fixture) string {
	return url.Values{
		"grant_type": {"password"},
		"username":   {username},
		"password":   {fx.password},
		"scope":      {scope},
	}.Encode()
}

// send sends one request and reads the whole answer, so the connection is
// reused. With wantRefreshToken it returns the refresh_token of the answer.
func (lg *loadGen) send(method, target, form string, wantRefreshToken bool) (string, error) {
	var body io.Reader
	if form != "" {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return "", err
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", lg.basicAuth)
	}
	resp, err := lg.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", &statusError{status: resp.StatusCode, body: string(data)}
	}
	if !wantRefreshToken {
		return "", nil
	}
	var answer struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return "", fmt.Errorf("decoding token answer: %w", err)
	}
	if answer.RefreshToken == "" {
		return "", errors.New("token answer without refresh_token")
	}
	return answer.RefreshToken, nil
}

// measure runs sc on every connection for warmup+duration and measures the
// requests sent and answered within the last duration, and the CPU time Caddy
// (and this process) spent meanwhile. With a profile path, it also writes
// Caddy's CPU profile of the measured window there.
func (lg *loadGen) measure(ctx context.Context, srv *caddyProcess, sc scenario, warmup, duration time.Duration, profile string) (result, error) {
	from := time.Now().Add(warmup)
	to := from.Add(duration)

	latencies := make([][]time.Duration, lg.connections)
	failures := make([]int, lg.connections)
	var errMu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for w := range lg.connections {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				if !start.Before(to) {
					return
				}
				err := sc.do(w)
				end := time.Now()
				if err != nil {
					// Failures count in the warm-up too: every request must succeed.
					failures[w]++
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					continue
				}
				if !start.Before(from) && !end.After(to) {
					latencies[w] = append(latencies[w], end.Sub(start))
				}
			}
		})
	}

	profileErr := make(chan error, 1)
	if profile != "" {
		go func() {
			select {
			case <-ctx.Done():
				profileErr <- ctx.Err()
				return
			case <-time.After(time.Until(from)):
			}
			profileErr <- lg.cpuProfile(ctx, profile, duration)
		}()
	} else {
		profileErr <- nil
	}

	var cpu [2]struct{ server, self time.Duration }
	var cpuErr error
	for i, t := range []time.Time{from, to} {
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(t)):
		}
		if cpu[i].server, cpuErr = srv.cpuTime(); cpuErr != nil {
			break
		}
		if cpu[i].self, cpuErr = processCPUTime(os.Getpid()); cpuErr != nil {
			break
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	if err := srv.alive(); err != nil {
		return result{}, err
	}
	if cpuErr != nil {
		return result{}, cpuErr
	}
	if err := <-profileErr; err != nil {
		return result{}, fmt.Errorf("profiling caddy: %w", err)
	}

	r := newResult(sc.name, duration, latencies, cpu[1].server-cpu[0].server, cpu[1].self-cpu[0].self)
	for _, n := range failures {
		r.failures += n
	}
	r.firstErr = firstErr
	return r, nil
}

// cpuProfile fetches a CPU profile of Caddy through its admin API.
func (lg *loadGen) cpuProfile(ctx context.Context, path string, duration time.Duration) error {
	seconds := max(1, int(duration.Round(time.Second)/time.Second))
	target := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", lg.fx.adminAddr, seconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	// Its own client: the load's connections are all busy.
	resp, err := (&http.Client{Timeout: duration + requestTimeout}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &statusError{status: resp.StatusCode, body: string(data)}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
