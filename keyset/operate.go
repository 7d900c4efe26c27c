package keyset

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNoKeySet is a storage no server has generated keys in yet.
var ErrNoKeySet = errors.New("no signing keys in this storage yet: a server generates them when it first loads a config without private_key")

// List describes the keys of the set kept in storage at now: the ones a
// resource server is offered, with their times.
func List(ctx context.Context, storage Storage, now time.Time, sched Schedule) ([]Key, error) {
	st, err := loadStored(ctx, storage)
	if err != nil {
		return nil, err
	}
	return buildSet(st.keys, now, sched.withKeep(st), nil).Keys(), nil
}

// Rotate publishes a new key and returns it. Normally the key starts signing
// after sched.Lead, when every resource server has seen it, and a next key
// published earlier and not due to sign within half a lead is replaced by
// it; one due sooner is kept, since a clock ahead of this one may already
// sign with it. Retired keys are left to the instances' own pruning, which
// knows how long their tokens live. immediately is for a leaked key: the new
// key signs at once and every other key leaves the set, so the tokens they
// signed stop verifying wherever the set is refetched. Instances pick the
// change up within their refresh interval.
func Rotate(ctx context.Context, storage Storage, now func() time.Time, sched Schedule, immediately bool) (Key, error) {
	var made *scheduledKey
	data, err := changeStored(ctx, storage, now, 0, func(keys []scheduledKey, now time.Time) ([]scheduledKey, error) {
		activatesAt := now.Add(sched.Lead)
		var kept []scheduledKey
		if immediately {
			activatesAt = now
		} else {
			for _, k := range keys {
				if !k.activatesAt.After(now.Add(sched.Lead / 2)) {
					kept = append(kept, k)
				}
			}
		}
		var err error
		if made, err = newKey(now, activatesAt); err != nil {
			return nil, err
		}
		return append(kept, *made), nil
	})
	if err != nil {
		return Key{}, err
	}
	st, err := parseStored(data)
	if err != nil {
		return Key{}, err
	}
	for _, k := range buildSet(st.keys, now(), sched.withKeep(st), nil).Keys() {
		if k.ID == made.signer.KeyID() {
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("the new key %s is not in the stored set", made.signer.KeyID())
}
