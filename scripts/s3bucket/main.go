// Command s3bucket makes the bucket of an S3 URL (http://KEY:SECRET@host:port/BUCKET) when it
// is missing, and exits 0 once the server has answered that the bucket exists: scripts/s3.sh
// waits for a test server with it.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"assistant/server/storage"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: s3bucket http://KEY:SECRET@host:port/BUCKET")
		os.Exit(2)
	}
	cfg, err := storage.ParseS3URL(os.Args[1])
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
