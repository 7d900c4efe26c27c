package secrets

// CacheLen exposes the number of cached pairs to the black-box tests.
func CacheLen(v *Verifier) int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}
