package secrets

import (
	"crypto/sha256"
	"math/rand/v2"
	"sync"
)

// cache is a bounded set of verified (hash, secret) digests. When full it evicts
// a random entry: cheap, and good enough for a working set of active clients, as
// Caddy's basic_auth cache argues. Keys are kept in a slice as well as a map so
// that a random victim is found in O(1) instead of by walking the map.
type cache struct {
	mu    sync.RWMutex
	size  int
	index map[[sha256.Size]byte]int // key -> position in keys
	keys  [][sha256.Size]byte
}

func newCache(size int) *cache {
	return &cache{
		size:  size,
		index: make(map[[sha256.Size]byte]int, size),
		keys:  make([][sha256.Size]byte, 0, size),
	}
}

func (c *cache) contains(k [sha256.Size]byte) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.index[k]
	return ok
}

func (c *cache) add(k [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.index[k]; ok {
		return
	}
	if len(c.keys) >= c.size {
		c.evict(rand.IntN(len(c.keys))) //nolint:gosec // eviction needs no unpredictability
	}
	c.index[k] = len(c.keys)
	c.keys = append(c.keys, k)
}

// evict removes the entry at position i by moving the last entry into its place.
// It must be called with c.mu held.
func (c *cache) evict(i int) {
	last := len(c.keys) - 1
	delete(c.index, c.keys[i])
	if i != last {
		c.keys[i] = c.keys[last]
		c.index[c.keys[i]] = i
	}
	c.keys = c.keys[:last]
}

func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.keys)
}
