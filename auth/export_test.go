package auth

import (
	"context"
	"time"
)

// HoldHashSlot takes one of s's hashing slots until release is called (tests).
// A slot must be free.
func HoldHashSlot(s *Service) (release func()) {
	if _, err := s.hashing.acquire(context.Background()); err != nil {
		panic(err)
	}
	return func() { s.hashing.release(time.Time{}) }
}

// WaitingLogins reports how many logins wait for a hashing turn (tests).
func WaitingLogins(s *Service) int { return s.hashing.waitingLen() }
