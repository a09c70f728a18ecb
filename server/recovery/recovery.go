// Package recovery turns a panic in work started on behalf of a request or a reply into an
// error, logged once with its stack and the request id. A goroutine without it takes the
// whole process down with it: every user, every open stream, every running reply.
package recovery

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
)

// PanicError is a recovered panic.
type PanicError struct {
	What  string // the work that panicked, e.g. "render pdf export"
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("%s: panic: %v", e.What, e.Value) }

// Do runs fn and returns its error, or a *PanicError when it panics. The panic is logged
// at ERROR with its stack; ctx supplies the request id (and user id) for the line.
func Do(ctx context.Context, log *slog.Logger, what string, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			pe := &PanicError{What: what, Value: v, Stack: debug.Stack()}
			log.ErrorContext(ctx, "panic recovered", slog.String("in", what),
				slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(pe.Stack)))
			err = pe
		}
	}()
	return fn()
}

// Go runs fn in a new goroutine through Do; done, when not nil, gets its result.
func Go(ctx context.Context, log *slog.Logger, what string, fn func() error, done func(error)) {
	go func() {
		err := Do(ctx, log, what, fn)
		if done != nil {
			done(err)
		}
	}()
}
