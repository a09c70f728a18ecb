package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"assistant/server/recovery"
)

// S3Config says where an S3-compatible bucket is.
type S3Config struct {
	// Endpoint is the server's URL (https://s3.eu-west-1.amazonaws.com,
	// http://seaweedfs:8333); its scheme decides TLS.
	Endpoint        string
	Region          string
	Bucket          string
	Prefix          string
	AccessKeyID     string
	SecretAccessKey string
	// ForcePathStyle addresses the bucket as a path (host/bucket/key), as most servers
	// other than AWS need, instead of as a host name (bucket.host/key).
	ForcePathStyle bool
	// PartSize is the size of a multipart upload's parts, and so what one blob being written
	// holds in memory (twice: one part filling while the previous one is sent). 0 is
	// DefaultPartSize; S3 refuses parts under 5 MiB but the last.
	PartSize int64
}

// DefaultPartSize keeps a blob being written under 16 MiB of memory and a 1 GiB upload at
// 128 parts (S3 allows 10,000: files up to 80 GiB).
const DefaultPartSize = 8 << 20

// minPartSize is S3's smallest part but the last.
const minPartSize = 5 << 20

// S3 stores blobs as objects named Prefix + key in a bucket. An object exists only once it
// is complete: a blob is written as a multipart upload (or one PUT when it fits in a part)
// that Commit completes and Abort aborts, so nothing is visible under its key before, and
// CleanUnfinished aborts the uploads a crash left.
type S3 struct {
	core     minio.Core
	region   string
	bucket   string
	prefix   string
	partSize int64
}

// cleanupTimeout bounds what is done on a context of its own (aborting an upload, deleting an
// object) when the caller's has ended: a client that went away still leaves nothing behind.
const cleanupTimeout = 30 * time.Second

// NewS3 makes a client for the bucket; it does not contact the server (Check does).
func NewS3(cfg S3Config) (*S3, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("S3 endpoint %q is not an http(s) URL", cfg.Endpoint)
	}
	if cfg.Bucket == "" {
		return nil, errors.New("S3 bucket is not set")
	}
	lookup := minio.BucketLookupDNS
	if cfg.ForcePathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Secure:       u.Scheme == "https",
		Region:       cfg.Region,
		BucketLookup: lookup,
		// Failed requests are not retried by the client: a part is sent from a buffer of
		// ours, and a retry loop inside the client would hide an outage from the caller.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 client: %w", err)
	}
	part := cfg.PartSize
	if part == 0 {
		part = DefaultPartSize
	}
	if part < minPartSize {
		return nil, fmt.Errorf("S3 part size %d is under S3's minimum of %d bytes", part, minPartSize)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{core: minio.Core{Client: client}, region: cfg.Region, bucket: cfg.Bucket, prefix: prefix, partSize: part}, nil
}

// Sub is a store over the same bucket whose keys live under name/ (uploads and exports
// share a bucket without ever seeing each other's objects).
func (s *S3) Sub(name string) *S3 {
	c := *s
	c.prefix += name + "/"
	return &c
}

func (s *S3) object(key string) string { return s.prefix + key }

// Check asks whether the bucket exists: one HEAD request.
func (s *S3) Check(ctx context.Context) error {
	ok, err := s.core.BucketExists(ctx, s.bucket)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("S3 bucket %q does not exist", s.bucket)
	}
	return nil
}

// notFound turns S3's answers for a missing object into fs.ErrNotExist.
func notFound(err error) error {
	if err == nil {
		return nil
	}
	r := minio.ToErrorResponse(err)
	if r.StatusCode == http.StatusNotFound || r.Code == minio.NoSuchKey {
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return err
}

func (s *S3) Create(ctx context.Context, key string) (Blob, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	return &s3Blob{s: s, ctx: ctx, name: s.object(key), buf: make([]byte, 0, s.partSize)}, nil
}

// s3Blob buffers one part at a time. The multipart upload starts with the first full part,
// so a blob that fits in one part is a single PUT at Commit. Parts are sent one at a time in
// the background while the next one fills, so writing and sending overlap and memory stays
// at two parts.
type s3Blob struct {
	s    *S3
	ctx  context.Context
	name string

	buf      []byte
	spare    []byte // the buffer of the part in flight, reused once it is sent
	uploadID string
	parts    []minio.CompletePart
	inflight chan error // the result of the part being sent; nil when none is
	err      error
	done     bool // committed or aborted
}

func (b *s3Blob) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.done {
		return 0, errors.New("write to a finished blob")
	}
	n := 0
	for len(p) > 0 {
		room := cap(b.buf) - len(b.buf)
		k := min(room, len(p))
		b.buf = append(b.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(b.buf) == cap(b.buf) {
			if err := b.sendPart(); err != nil {
				b.err = err
				return n, err
			}
		}
	}
	return n, nil
}

// wait collects the part in flight.
func (b *s3Blob) wait() error {
	if b.inflight == nil {
		return nil
	}
	err := <-b.inflight
	b.inflight = nil
	return err
}

// sendPart starts sending the full buffer as the next part, after the previous one is sent.
func (b *s3Blob) sendPart() error {
	if err := b.wait(); err != nil {
		return err
	}
	if b.uploadID == "" {
		id, err := b.s.core.NewMultipartUpload(b.ctx, b.s.bucket, b.name, minio.PutObjectOptions{})
		if err != nil {
			return fmt.Errorf("start S3 upload: %w", err)
		}
		b.uploadID = id
	}
	number := len(b.parts) + 1
	b.parts = append(b.parts, minio.CompletePart{PartNumber: number})
	data := b.buf
	if b.spare == nil {
		b.spare = make([]byte, 0, cap(b.buf))
	}
	b.buf, b.spare = b.spare[:0], data
	done := make(chan error, 1)
	b.inflight = done
	// A panic in the client becomes this part's error, which the upload's Commit returns:
	// the upload fails and is aborted, the process goes on. The store has no logger of its
	// own; the request that gets the error logs it with its context.
	recovery.Go(b.ctx, slog.Default(), "send S3 part", func() error {
		part, err := b.s.core.PutObjectPart(b.ctx, b.s.bucket, b.name, b.uploadID, number,
			bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{})
		if err != nil {
			return fmt.Errorf("send S3 part %d: %w", number, err)
		}
		// Only this goroutine writes this element until wait returns.
		b.parts[number-1].ETag = part.ETag
		return nil
	}, func(err error) { done <- err })
	return nil
}

func (b *s3Blob) Commit() error {
	if b.done {
		return errors.New("commit of a finished blob")
	}
	if b.err != nil {
		b.Abort()
		return b.err
	}
	if b.uploadID == "" {
		_, err := b.s.core.PutObject(b.ctx, b.s.bucket, b.name, bytes.NewReader(b.buf), int64(len(b.buf)), "", "", minio.PutObjectOptions{})
		if err != nil {
			b.Abort()
			return fmt.Errorf("store S3 object: %w", err)
		}
		b.done, b.buf = true, nil
		return nil
	}
	if len(b.buf) > 0 {
		if err := b.sendPart(); err != nil {
			b.Abort()
			return err
		}
	}
	if err := b.wait(); err != nil {
		b.Abort()
		return err
	}
	if _, err := b.s.core.CompleteMultipartUpload(b.ctx, b.s.bucket, b.name, b.uploadID, b.parts, minio.PutObjectOptions{}); err != nil {
		b.Abort()
		return fmt.Errorf("complete S3 upload: %w", err)
	}
	b.done, b.buf, b.spare = true, nil, nil
	return nil
}

// Abort aborts the multipart upload (its parts are deleted with it), on a context of its
// own: an upload whose client went away is aborted all the same.
func (b *s3Blob) Abort() {
	if b.done {
		return
	}
	b.done = true
	_ = b.wait()
	b.buf, b.spare = nil, nil
	if b.uploadID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), cleanupTimeout)
	defer cancel()
	// A failure leaves an incomplete upload that CleanUnfinished aborts later.
	_ = b.s.core.AbortMultipartUpload(ctx, b.s.bucket, b.name, b.uploadID)
}

func (s *S3) Open(ctx context.Context, key string) (File, error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	info, err := s.core.StatObject(ctx, s.bucket, s.object(key), minio.StatObjectOptions{})
	if err != nil {
		return nil, notFound(err)
	}
	return &s3File{s: s, ctx: ctx, name: s.object(key), size: info.Size, mod: info.LastModified, etag: info.ETag}, nil
}

// s3File reads an object with ranged GETs: Read streams from the current offset to the end
// (a Seek elsewhere closes that stream and the next Read opens another), and ReadAt reads
// blocks that it caches a few of, for the PDF reader's many small reads at offsets. Nothing
// reads a whole object into memory. Every request is conditional on the ETag seen at Open.
type s3File struct {
	s    *S3
	ctx  context.Context
	name string
	size int64
	mod  time.Time
	etag string

	off     int64
	body    io.ReadCloser
	bodyOff int64 // where body is; valid while body is open

	mu     sync.Mutex
	blocks []cachedBlock // most recently used last
}

type cachedBlock struct {
	off  int64
	data []byte
}

const (
	readAtBlock  = 64 << 10
	readAtBlocks = 16
)

func (f *s3File) Size() int64        { return f.size }
func (f *s3File) ModTime() time.Time { return f.mod }

// get opens a ranged GET of [start, end] (end < 0: to the end of the object).
func (f *s3File) get(start, end int64) (io.ReadCloser, error) {
	opts := minio.GetObjectOptions{}
	if err := opts.SetMatchETag(f.etag); err != nil {
		return nil, err
	}
	var err error
	if end < 0 {
		// bytes=0- is "the whole object", which SetRange spells as no range at all.
		if start > 0 {
			err = opts.SetRange(start, 0)
		}
	} else {
		err = opts.SetRange(start, end)
	}
	if err != nil {
		return nil, err
	}
	body, _, _, err := f.s.core.GetObject(f.ctx, f.s.bucket, f.name, opts)
	if err != nil {
		return nil, notFound(err)
	}
	return body, nil
}

func (f *s3File) Read(p []byte) (int, error) {
	if f.off >= f.size {
		return 0, io.EOF
	}
	if f.body != nil && f.bodyOff != f.off {
		f.body.Close()
		f.body = nil
	}
	if f.body == nil {
		body, err := f.get(f.off, -1)
		if err != nil {
			return 0, err
		}
		f.body, f.bodyOff = body, f.off
	}
	p = p[:min(int64(len(p)), f.size-f.off)]
	n, err := f.body.Read(p)
	f.off += int64(n)
	f.bodyOff = f.off
	if err == io.EOF {
		f.body.Close()
		f.body = nil
		if f.off < f.size {
			return n, io.ErrUnexpectedEOF
		}
		if n > 0 {
			err = nil
		}
	}
	return n, err
}

func (f *s3File) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.size
	default:
		return 0, errors.New("seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	// The open stream, if any, is kept: Read reopens only when it is read from elsewhere.
	f.off = offset
	return offset, nil
}

// ReadAt reads through the block cache; it is safe for concurrent use, as io.ReaderAt must
// be.
func (f *s3File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("read at a negative offset")
	}
	n := 0
	for len(p) > 0 {
		if off >= f.size {
			return n, io.EOF
		}
		start := off - off%readAtBlock
		data, err := f.block(start)
		if err != nil {
			return n, err
		}
		k := copy(p, data[off-start:])
		p, n, off = p[k:], n+k, off+int64(k)
	}
	return n, nil
}

func (f *s3File) block(start int64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, b := range f.blocks {
		if b.off == start {
			f.blocks = append(append(f.blocks[:i:i], f.blocks[i+1:]...), b)
			return b.data, nil
		}
	}
	end := min(start+readAtBlock, f.size) - 1
	body, err := f.get(start, end)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data := make([]byte, end-start+1)
	if _, err := io.ReadFull(body, data); err != nil {
		return nil, fmt.Errorf("read S3 object: %w", err)
	}
	if len(f.blocks) == readAtBlocks {
		f.blocks = f.blocks[1:]
	}
	f.blocks = append(f.blocks, cachedBlock{off: start, data: data})
	return data, nil
}

func (f *s3File) Close() error {
	f.mu.Lock()
	f.blocks = nil
	f.mu.Unlock()
	if f.body != nil {
		err := f.body.Close()
		f.body = nil
		return err
	}
	return nil
}

// Delete removes the object, on a context of its own if the caller's has ended: deleting is
// what cleans up after a failure.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	// S3 answers a missing key with success.
	return s.core.RemoveObject(ctx, s.bucket, s.object(key), minio.RemoveObjectOptions{})
}

// DeletePrefix deletes the objects under prefix/ in batches (one request per 1,000), then
// aborts any upload still running there.
func (s *S3) DeletePrefix(ctx context.Context, prefix string) error {
	if err := validPrefix(prefix); err != nil {
		return err
	}
	full := s.prefix + prefix + "/"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objects := s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true})
	var errs []error
	for r := range s.core.RemoveObjectsWithResult(ctx, s.bucket, objects, minio.RemoveObjectsOptions{}) {
		if r.Err != nil && len(errs) < 5 {
			errs = append(errs, fmt.Errorf("delete %s: %w", r.ObjectName, r.Err))
		}
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	if _, err := s.abortUploads(ctx, full, 0); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Walk lists the objects under the store's prefix. Only keys of the server's shape are
// given to fn: anything else in the bucket is not the server's to judge.
func (s *S3) Walk(ctx context.Context, fn func(key string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the listing goroutine when fn stops early
	for obj := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("list S3 objects: %w", obj.Err)
		}
		key := strings.TrimPrefix(obj.Key, s.prefix)
		if validKey(key) != nil {
			continue
		}
		if err := fn(key); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// CleanUnfinished aborts multipart uploads under the store's prefix started more than age
// ago: what a process that died mid-upload left.
func (s *S3) CleanUnfinished(ctx context.Context, age time.Duration) (int, error) {
	return s.abortUploads(ctx, s.prefix, age)
}

func (s *S3) abortUploads(ctx context.Context, prefix string, age time.Duration) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := 0
	for u := range s.core.ListIncompleteUploads(ctx, s.bucket, prefix, true) {
		if u.Err != nil {
			return n, fmt.Errorf("list S3 uploads: %w", u.Err)
		}
		if age > 0 && time.Since(u.Initiated) < age {
			continue
		}
		if err := s.core.AbortMultipartUpload(ctx, s.bucket, u.Key, u.UploadID); err != nil {
			if minio.ToErrorResponse(err).Code == minio.NoSuchUpload {
				continue // finished or aborted meanwhile
			}
			return n, fmt.Errorf("abort S3 upload of %s: %w", u.Key, err)
		}
		n++
	}
	return n, nil
}

// Incomplete lists the multipart uploads under the store's prefix that were neither
// completed nor aborted, by object key.
func (s *S3) Incomplete(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var keys []string
	for u := range s.core.ListIncompleteUploads(ctx, s.bucket, s.prefix, true) {
		if u.Err != nil {
			return nil, u.Err
		}
		keys = append(keys, strings.TrimPrefix(u.Key, s.prefix))
	}
	return keys, nil
}

// MakeBucket creates the bucket when it is missing (for tests and first runs against a
// server of one's own; a production bucket is made by its operator, with its policies).
func (s *S3) MakeBucket(ctx context.Context) error {
	ok, err := s.core.BucketExists(ctx, s.bucket)
	if err != nil || ok {
		return err
	}
	err = s.core.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: s.region})
	if r := minio.ToErrorResponse(err); r.Code == "BucketAlreadyOwnedByYou" || r.Code == "BucketAlreadyExists" {
		return nil
	}
	return err
}

// ParseS3URL reads the test servers' form, http://KEY:SECRET@host:port/BUCKET[/PREFIX], as a
// path-style configuration (region us-east-1).
func ParseS3URL(raw string) (S3Config, error) {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || u.Host == "" {
		return S3Config{}, fmt.Errorf("%q is not an S3 URL such as http://KEY:SECRET@127.0.0.1:8333/bucket", raw)
	}
	secret, _ := u.User.Password()
	bucket, prefix, _ := strings.Cut(strings.Trim(u.Path, "/"), "/")
	if bucket == "" {
		return S3Config{}, fmt.Errorf("S3 URL %q names no bucket", raw)
	}
	return S3Config{Endpoint: u.Scheme + "://" + u.Host, Region: "us-east-1", Bucket: bucket, Prefix: prefix,
		AccessKeyID: u.User.Username(), SecretAccessKey: secret, ForcePathStyle: true}, nil
}

// Empty deletes every object under the store's prefix, whatever its name.
func (s *S3) Empty(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objects := s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true})
	for r := range s.core.RemoveObjectsWithResult(ctx, s.bucket, objects, minio.RemoveObjectsOptions{}) {
		if r.Err != nil {
			return r.Err
		}
	}
	return ctx.Err()
}
