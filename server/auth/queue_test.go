package auth

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

// With every hashing slot taken and the queue full, one more hash is refused at once (a
// 503 with Retry-After) instead of waiting without bound; those already queued go on.
func TestPasswordQueueIsBounded(t *testing.T) {
	t.Parallel()
	ps := NewPasswords(Argon2Params{MemoryKiB: 8192, Time: 1}, 1).WithQueue(1)
	ps.slots <- struct{}{} // the one slot is busy
	queued := make(chan error, 1)
	go func() {
		_, err := ps.Hash(context.Background(), "correct horse battery")
		queued <- err
	}()
	for ps.waiting.Load() != 1 {
		runtime.Gosched()
	}
	_, err := ps.Hash(context.Background(), "correct horse battery")
	if !errors.Is(err, ErrBusy) || ErrBusy.Status != 503 || ErrBusy.RetryAfter <= 0 {
		t.Fatalf("hash beyond the queue: %v, want ErrBusy (503 with Retry-After)", err)
	}
	if ok, err := ps.Verify(context.Background(), "", "x"); ok || !errors.Is(err, ErrBusy) {
		t.Fatalf("verify beyond the queue: %v %v", ok, err)
	}
	<-ps.slots // the slot frees up
	if err := <-queued; err != nil {
		t.Fatalf("the queued hash: %v", err)
	}
	if ps.waiting.Load() != 0 {
		t.Errorf("%d still counted as waiting", ps.waiting.Load())
	}
}
