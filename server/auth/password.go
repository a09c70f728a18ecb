package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"assistant/gen/api"
	"assistant/server/apierr"
)

// Argon2Params are argon2id's cost parameters. The defaults are OWASP's first recommended
// set (19 MiB, 2 passes, 1 lane).
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// ErrBadHash is a stored hash that cannot be parsed.
var ErrBadHash = errors.New("malformed password hash")

// Passwords hashes and verifies passwords with argon2id. At most `concurrency` hashes run
// at once: each takes MemoryKiB of memory and a core for tens of milliseconds, so a login
// flood queues here instead of exhausting the machine.
type Passwords struct {
	params Argon2Params
	slots  chan struct{}
	// queue bounds the hashes waiting for a slot; one more is ErrBusy at once, so a flood
	// costs neither memory nor minutes of waiting.
	queue   int64
	waiting atomic.Int64
	// dummy is verified against when the email is unknown, so that a login for an unknown
	// email costs the same as one with a wrong password. Made on first use: hashing at
	// start-up would cost every process MemoryKiB of resident memory it may never need.
	dummyOnce sync.Once
	dummy     string
}

// NewPasswords returns a hasher with the parameters.
func NewPasswords(p Argon2Params, concurrency int) *Passwords {
	if p.Threads == 0 {
		p.Threads = 1
	}
	return &Passwords{params: p, slots: make(chan struct{}, concurrency), queue: math.MaxInt64}
}

// WithQueue bounds the hashes that may wait for a slot (0: none may wait).
func (ps *Passwords) WithQueue(n int) *Passwords {
	ps.queue = int64(n)
	return ps
}

// ErrBusy is the answer when every slot is taken and the queue is full.
var ErrBusy = &apierr.Error{Status: http.StatusServiceUnavailable, Code: api.ErrorBodyCodeServiceUnavailable,
	Message: "too many password checks at once; try again shortly", RetryAfter: time.Second}

// Hash returns the PHC-formatted argon2id hash of password.
func (ps *Passwords) Hash(ctx context.Context, password string) (string, error) {
	if err := ps.acquire(ctx); err != nil {
		return "", err
	}
	defer ps.release()
	return ps.hash(password), nil
}

func (ps *Passwords) hash(password string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	p := ps.params
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Verify reports whether password matches the hash. An empty hash (unknown user) is
// checked against a dummy hash with the same cost and always fails.
func (ps *Passwords) Verify(ctx context.Context, hash, password string) (bool, error) {
	unknown := hash == ""
	if unknown {
		ps.dummyOnce.Do(func() { ps.dummy = ps.hash("not a real password, only spent time") })
		hash = ps.dummy
	}
	if err := ps.acquire(ctx); err != nil {
		return false, err
	}
	defer ps.release()
	ok, err := verify(hash, password)
	return ok && !unknown, err
}

func verify(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrBadHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, ErrBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, ErrBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return false, ErrBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func (ps *Passwords) acquire(ctx context.Context) error {
	select {
	case ps.slots <- struct{}{}:
		return nil
	default:
	}
	if ps.waiting.Add(1) > ps.queue {
		ps.waiting.Add(-1)
		return ErrBusy
	}
	defer ps.waiting.Add(-1)
	select {
	case ps.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (ps *Passwords) release() { <-ps.slots }
