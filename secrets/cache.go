package secrets

import (
	"crypto/sha256"
	"math/rand/v2"
	"sync"
)

// Cache is the bounded set of verified (hash, secret) digests, with one
// budget per Kind. When a kind's budget is full it evicts a random entry of
// that kind: cheap, and good enough for a working set of active clients, as
// Caddy's basic_auth cache argues. It holds digests, never a secret, and a
// changed hash or secret is another digest, so one Cache may outlive config
// reloads: the clients that authenticated before a reload pay no hash after
// it. It is safe for concurrent use.
type Cache struct {
	budgets [kinds]*budget
}

// NewCache returns a cache of size pairs per kind; size at least one.
func NewCache(size int) *Cache {
	c := &Cache{}
	for k := range c.budgets {
		c.budgets[k] = newBudget(max(size, 1))
	}
	return c
}

// Size returns the pairs kept per kind.
func (c *Cache) Size() int { return c.budgets[Client].size }

// Len returns the pairs kept of kind.
func (c *Cache) Len(kind Kind) int { return c.budgets[kind].len() }

func (c *Cache) contains(kind Kind, k [sha256.Size]byte) bool { return c.budgets[kind].contains(k) }
func (c *Cache) add(kind Kind, k [sha256.Size]byte)           { c.budgets[kind].add(k) }

// budget is one kind's share. Keys are kept in a slice as well as a map so
// that a random victim is found in O(1) instead of by walking the map.
type budget struct {
	mu    sync.RWMutex
	size  int
	index map[[sha256.Size]byte]int // key -> position in keys
	keys  [][sha256.Size]byte
}

func newBudget(size int) *budget {
	return &budget{
		size:  size,
		index: make(map[[sha256.Size]byte]int, min(size, 1024)),
		keys:  make([][sha256.Size]byte, 0, min(size, 1024)),
	}
}

func (b *budget) contains(k [sha256.Size]byte) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	_, ok := b.index[k]
	return ok
}

func (b *budget) add(k [sha256.Size]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.index[k]; ok {
		return
	}
	if len(b.keys) >= b.size {
		b.evict(rand.IntN(len(b.keys))) //nolint:gosec // eviction needs no unpredictability
	}
	b.index[k] = len(b.keys)
	b.keys = append(b.keys, k)
}

// evict removes the entry at position i by moving the last entry into its place.
// It must be called with b.mu held.
func (b *budget) evict(i int) {
	last := len(b.keys) - 1
	delete(b.index, b.keys[i])
	if i != last {
		b.keys[i] = b.keys[last]
		b.index[b.keys[i]] = i
	}
	b.keys = b.keys[:last]
}

func (b *budget) len() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.keys)
}
