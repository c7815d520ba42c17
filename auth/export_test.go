package auth

import "context"

// HoldHashSlot takes one of s's hashing slots until release is called (tests).
func HoldHashSlot(s *Service) (release func()) {
	r, err := s.hashSlot(context.Background())
	if err != nil {
		panic(err)
	}
	return r
}
