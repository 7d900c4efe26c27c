//go:build race

package caddyoauth2

// raceDetector reports that the tests run under the race detector, which
// slows hashing tenfold and every goroutine unevenly: timings mean nothing.
const raceDetector = true
