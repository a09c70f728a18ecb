package auth_test

import (
	"context"
	"strings"
	"testing"

	"assistant/server/auth"
)

var cheap = auth.Argon2Params{MemoryKiB: 8192, Time: 1}

func TestPasswordHashing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ps := auth.NewPasswords(cheap, 2)
	for _, pw := range []string{"correct horse battery", strings.Repeat("😀", 128), "é"} {
		h, err := ps.Hash(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h, "$argon2id$v=19$m=8192,t=1,p=1$") {
			t.Errorf("hash %q", h)
		}
		if ok, err := ps.Verify(ctx, h, pw); !ok || err != nil {
			t.Errorf("right password rejected: %v", err)
		}
		if ok, _ := ps.Verify(ctx, h, pw+"x"); ok {
			t.Error("wrong password accepted")
		}
	}
	// Hashes keep their own parameters: a hasher with other costs still verifies them.
	h, _ := ps.Hash(ctx, "correct horse battery")
	if ok, _ := auth.NewPasswords(auth.Argon2Params{MemoryKiB: 19456, Time: 2}, 1).Verify(ctx, h, "correct horse battery"); !ok {
		t.Error("a hash made with other parameters was rejected")
	}
	if ok, err := ps.Verify(ctx, "", "anything"); ok || err != nil {
		t.Errorf("unknown user: ok=%v err=%v", ok, err)
	}
	if _, err := ps.Verify(ctx, "$argon2id$nonsense", "x"); err == nil {
		t.Error("malformed hash accepted")
	}
}
