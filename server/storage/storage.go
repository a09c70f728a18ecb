// Package storage keeps blobs (uploaded files, exports) behind a small interface: on the
// local disk (Local: every path is resolved inside the root with os.Root, so a key can never
// reach outside it), or in an S3-compatible bucket (S3) when replicas span machines.
package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
)

// Store keeps blobs under keys made by the server ("<owner>/<id>").
// A store over the network needs the caller's context for every call: a Blob keeps the one
// it was created with for its writes and Commit (Abort works on after it is cancelled), a
// File the one it was opened with for its reads.
type Store interface {
	// Create starts a blob; nothing is visible under key until Commit.
	Create(ctx context.Context, key string) (Blob, error)
	// Open returns the blob for reading, with its size and modification time; a missing
	// blob is an error satisfying errors.Is(err, fs.ErrNotExist).
	Open(ctx context.Context, key string) (File, error)
	// Delete removes the blob; a missing one is not an error.
	Delete(ctx context.Context, key string) error
	// DeletePrefix removes every blob whose key starts with prefix + "/".
	DeletePrefix(ctx context.Context, prefix string) error
	// Walk calls fn with the key of every committed blob.
	Walk(ctx context.Context, fn func(key string) error) error
	// CleanUnfinished removes blobs that were never committed (a crash mid-write) and are
	// older than age.
	CleanUnfinished(ctx context.Context, age time.Duration) (int, error)
	// Check reports whether the store answers (the readiness probe).
	Check(ctx context.Context) error
}

// Blob is a blob being written.
type Blob interface {
	io.Writer
	// Commit makes the blob visible under its key.
	Commit() error
	// Abort discards it; after Commit it does nothing.
	Abort()
}

// File is a stored blob open for reading.
type File interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}

// Local stores blobs in a directory.
type Local struct {
	root *os.Root
	dir  string
}

// tmpPrefix marks unfinished blobs.
const tmpPrefix = ".tmp-"

// NewLocal opens (creating it when missing) the directory.
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create storage directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open storage directory: %w", err)
	}
	return &Local{root: root, dir: dir}, nil
}

// validKey accepts only keys the server makes: two plain segments.
func validKey(key string) error {
	parts := strings.Split(key, "/")
	if len(parts) != 2 {
		return fmt.Errorf("bad storage key %q", key)
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || strings.HasPrefix(p, ".") {
			return fmt.Errorf("bad storage key %q", key)
		}
	}
	return nil
}

type blob struct {
	root      *os.Root
	f         *os.File
	tmp, key  string
	committed bool
}

func (l *Local) Create(_ context.Context, key string) (Blob, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	dir := path.Dir(key)
	if err := l.root.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	tmp := dir + "/" + tmpPrefix + hex.EncodeToString(b)
	f, err := l.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	return &blob{root: l.root, f: f, tmp: tmp, key: key}, nil
}

func (b *blob) Write(p []byte) (int, error) { return b.f.Write(p) }

func (b *blob) Commit() error {
	if err := b.f.Sync(); err != nil {
		b.Abort()
		return fmt.Errorf("sync blob: %w", err)
	}
	if err := b.f.Close(); err != nil {
		b.Abort()
		return fmt.Errorf("close blob: %w", err)
	}
	if err := b.root.Rename(b.tmp, b.key); err != nil {
		_ = b.root.Remove(b.tmp)
		return fmt.Errorf("commit blob: %w", err)
	}
	b.committed = true
	return nil
}

func (b *blob) Abort() {
	if b.committed {
		return
	}
	_ = b.f.Close()
	_ = b.root.Remove(b.tmp)
}

type file struct {
	*os.File
	info fs.FileInfo
}

func (f file) Size() int64        { return f.info.Size() }
func (f file) ModTime() time.Time { return f.info.ModTime() }

func (l *Local) Open(_ context.Context, key string) (File, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	f, err := l.root.Open(key)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return file{File: f, info: info}, nil
}

func (l *Local) Delete(_ context.Context, key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	if err := l.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (l *Local) DeletePrefix(_ context.Context, prefix string) error {
	if err := validPrefix(prefix); err != nil {
		return err
	}
	return l.root.RemoveAll(prefix)
}

func (l *Local) Walk(ctx context.Context, fn func(key string) error) error {
	return fs.WalkDir(l.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(path.Base(p), tmpPrefix) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(p)
	})
}

func (l *Local) CleanUnfinished(_ context.Context, age time.Duration) (int, error) {
	n := 0
	err := fs.WalkDir(l.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasPrefix(path.Base(p), tmpPrefix) {
			return err
		}
		info, err := d.Info()
		if err != nil || time.Since(info.ModTime()) < age {
			return nil
		}
		if err := l.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// Check stats the directory by its name and through the open root: a directory removed or
// replaced (a volume unmounted) is reported, though the root would still read the old one.
func (l *Local) Check(context.Context) error {
	open, err := l.root.Stat(".")
	if err != nil {
		return err
	}
	named, err := os.Stat(l.dir)
	if err != nil {
		return err
	}
	if !os.SameFile(open, named) {
		return fmt.Errorf("storage directory %s was replaced since start-up", l.dir)
	}
	return nil
}

// validPrefix accepts only what DeletePrefix is given: a user id, one plain segment.
func validPrefix(prefix string) error {
	if prefix == "" || strings.ContainsAny(prefix, "/.") {
		return fmt.Errorf("bad storage prefix %q", prefix)
	}
	return nil
}

// SweepOrphans deletes committed blobs that have no row (hasRow false) and are older than
// minAge (younger ones may belong to an upload committing right now on another replica),
// and unfinished blobs older than an hour. It returns how many it removed.
func SweepOrphans(ctx context.Context, s Store, hasRow func(ctx context.Context, key string) (bool, error), minAge time.Duration) (int, error) {
	removed, err := s.CleanUnfinished(ctx, time.Hour)
	if err != nil {
		return removed, err
	}
	err = s.Walk(ctx, func(key string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ok, err := hasRow(ctx, key)
		if err != nil || ok {
			return err
		}
		f, err := s.Open(ctx, key)
		if err != nil {
			return nil
		}
		old := time.Since(f.ModTime()) >= minAge
		f.Close()
		if !old {
			return nil
		}
		if err := s.Delete(ctx, key); err != nil {
			return err
		}
		removed++
		return nil
	})
	return removed, err
}
