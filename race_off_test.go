//go:build !race

package caddyoauth2

// raceDetector reports that the tests run under the race detector.
const raceDetector = false
