// Command s3bucket makes the bucket of an S3 URL (http://KEY:SECRET@host:port/BUCKET) when it
// is missing, and exits 0 once the server has answered that the bucket exists: scripts/s3.sh
// waits for a test server with it, and a container's health check can run it. Without
// KEY:SECRET in the URL, the credentials are AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, so
// they need not appear in a command line.
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"assistant/server/storage"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: s3bucket http://KEY:SECRET@host:port/BUCKET")
		os.Exit(2)
	}
	raw := os.Args[1]
	if u, err := url.Parse(raw); err == nil && u.User == nil {
		u.User = url.UserPassword(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"))
		raw = u.String()
	}
	cfg, err := storage.ParseS3URL(raw)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s, err := storage.NewS3(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.MakeBucket(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := s.Check(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
