package throttle

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var alice = Account{Kind: 1, ID: "alice"}

func TestLimiter_LocksAPairAfterItsFailures(t *testing.T) {
	l := New(Config{Failures: 3, IPFailures: 100, Window: time.Minute, Lock: 5 * time.Minute})
	for i := range 2 {
		assert.False(t, l.Failed(alice, "10.0.0.1", t0.Add(time.Duration(i)*time.Second)))
	}
	_, locked := l.Locked(alice, "10.0.0.1", t0)
	assert.False(t, locked)
	assert.True(t, l.Failed(alice, "10.0.0.1", t0.Add(2*time.Second)), "the third failure locks")

	retry, locked := l.Locked(alice, "10.0.0.1", t0.Add(3*time.Second))
	assert.True(t, locked)
	assert.Equal(t, 5*time.Minute-time.Second, retry)
	_, locked = l.Locked(alice, "10.0.0.2", t0.Add(3*time.Second))
	assert.False(t, locked, "the same account from another address is not locked")
	_, locked = l.Locked(Account{Kind: 0, ID: "alice"}, "10.0.0.1", t0.Add(3*time.Second))
	assert.False(t, locked, "nor a client of the same name")
	_, locked = l.Locked(alice, "10.0.0.1", t0.Add(2*time.Second+5*time.Minute))
	assert.False(t, locked, "the lock ends")
}

func TestLimiter_FailuresOutsideTheWindowDoNotAddUp(t *testing.T) {
	l := New(Config{Failures: 3, Window: time.Minute})
	for i := range 10 {
		assert.False(t, l.Failed(alice, "10.0.0.1", t0.Add(time.Duration(i)*40*time.Second)))
	}
}

func TestLimiter_LocksAnAddressGuessingManyAccounts(t *testing.T) {
	l := New(Config{Failures: 3, IPFailures: 10})
	for i := range 9 {
		l.Failed(Account{Kind: 1, ID: fmt.Sprint("user", i)}, "10.0.0.9", t0)
	}
	_, locked := l.LockedIP("10.0.0.9", t0)
	assert.False(t, locked)
	assert.True(t, l.FailedIP("10.0.0.9", t0), "unknown ids count for the address")
	_, locked = l.Locked(Account{Kind: 1, ID: "anyone"}, "10.0.0.9", t0)
	assert.True(t, locked, "a locked address is locked for every account")
}

func TestLimiter_SuccessForgetsThePair(t *testing.T) {
	l := New(Config{Failures: 3})
	l.Failed(alice, "10.0.0.1", t0)
	l.Failed(alice, "10.0.0.1", t0)
	l.Succeeded(alice, "10.0.0.1")
	assert.False(t, l.Failed(alice, "10.0.0.1", t0))
	assert.False(t, l.Failed(alice, "10.0.0.1", t0))
}

func TestLimiter_BoundedMemory(t *testing.T) {
	l := New(Config{MaxEntries: 1000})
	for i := range 20_000 {
		l.Failed(Account{Kind: 1, ID: fmt.Sprint("u", i)}, fmt.Sprint("10.", i/256%256, ".", i%256, ".1"), t0)
	}
	require.LessOrEqual(t, l.Len(), 1000)
}

func TestLimiter_LongIDsCostWhatShortOnesDo(t *testing.T) {
	l := New(Config{})
	long := Account{Kind: 1, ID: string(make([]byte, 64<<10))}
	l.Failed(long, "10.0.0.1", t0)
	for k := range l.entries {
		assert.Less(t, len(k.ip), 16)
	}
}
