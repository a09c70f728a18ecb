package database_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/uuid"

	"assistant/server/database"
)

// A child's id is above its parent's even when the parent was made by a clock ahead of this
// one; it stays a UUIDv7, and two children of one parent differ.
func TestNewIDAfter(t *testing.T) {
	t.Parallel()
	ahead := database.NewID()
	// A parent stamped an hour ahead.
	ms := uint64(time.Now().Add(time.Hour).UnixMilli())
	for i := range 6 {
		ahead[i] = byte(ms >> (40 - 8*i))
	}
	seen := map[uuid.UUID]bool{}
	for range 1000 {
		id := database.NewIDAfter(ahead)
		if bytes.Compare(id[:], ahead[:]) <= 0 || id.Version() != 7 || id.Variant() != uuid.RFC4122 || seen[id] {
			t.Fatalf("NewIDAfter(%s) = %s", ahead, id)
		}
		seen[id] = true
	}
	behind := database.NewID()
	if id := database.NewIDAfter(behind); bytes.Compare(id[:], behind[:]) <= 0 {
		t.Fatalf("NewIDAfter(%s) = %s", behind, id)
	}
}
