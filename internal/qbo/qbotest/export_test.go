package qbotest

// InFlight reports how many requests to realm hold a concurrency slot.
func (s *Server) InFlight(realm string) int { return s.limiter.inFlight(realm) }
