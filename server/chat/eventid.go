package chat

// lastEventID parses a Last-Event-ID header: 1 to 12 decimal digits, the spec's pattern
// (the validator has checked it; this does not rely on that), naming the byte count of the
// last event the client received. Signs, spaces and anything else are not an event id.
func lastEventID(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 12 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
