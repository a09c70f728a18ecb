// Package s3test gives a test a store of its own on the S3 server of TEST_S3_URL: a
// fresh prefix of the test bucket, emptied when the test ends, where no multipart upload may
// be left incomplete (an aborted upload must abort its multipart upload).
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"assistant/server/config"
	"assistant/server/storage"
	"assistant/server/testutil/testenv"
)

// Config is the S3 configuration of a prefix of the test's own. When the test ends, the
// prefix is emptied; an incomplete multipart upload left in it fails the test.
func Config(t testing.TB) storage.S3Config {
	t.Helper()
	cfg, err := storage.ParseS3URL(testenv.URL(t, testenv.S3))
	if err != nil {
		t.Fatalf("%s: %v", testenv.S3, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	cfg.Prefix = strings.Trim(cfg.Prefix+"/"+name+"-"+hex.EncodeToString(b), "/")
	root, err := storage.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := root.MakeBucket(ctx); err != nil {
		t.Fatalf("S3 server at %s: %v (is it running? scripts/s3.sh start)", cfg.Endpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		left, err := root.Incomplete(ctx)
		if err != nil {
			t.Errorf("list incomplete S3 uploads: %v", err)
		}
		if len(left) > 0 {
			t.Errorf("incomplete S3 uploads left behind: %v", left)
			_, _ = root.CleanUnfinished(ctx, 0)
		}
		if err := root.Empty(ctx); err != nil {
			t.Errorf("empty the test's S3 prefix: %v", err)
		}
	})
	return cfg
}

// Store is a store on a prefix of the test's own (see Config).
func Store(t testing.TB) *storage.S3 {
	t.Helper()
	s, err := storage.NewS3(Config(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Use points a server's configuration at the S3 prefix of cfg (STORAGE_BACKEND=s3).
func Use(cfg storage.S3Config) func(*config.Config) {
	return func(c *config.Config) {
		c.StorageBackend = "s3"
		c.S3Endpoint, c.S3Region, c.S3Bucket, c.S3Prefix = cfg.Endpoint, cfg.Region, cfg.Bucket, cfg.Prefix
		c.S3AccessKeyID, c.S3SecretAccessKey, c.S3ForcePathStyle = cfg.AccessKeyID, cfg.SecretAccessKey, cfg.ForcePathStyle
	}
}

// Keys lists the committed objects of a store of the server's (Sub("uploads") or
// Sub("exports") of the prefix), sorted.
func Keys(t testing.TB, s storage.Store) []string {
	t.Helper()
	var out []string
	if err := s.Walk(t.Context(), func(key string) error { out = append(out, key); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
