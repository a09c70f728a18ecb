package config_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"assistant/server/config"
)

func TestStorageBackend(t *testing.T) {
	t.Parallel()
	base := map[string]string{"DATABASE_URL": "postgres://u@localhost/db"}
	c, err := config.Load(env(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.StorageBackend != "local" {
		t.Errorf("default backend %q, want local", c.StorageBackend)
	}
	good := maps.Clone(base)
	maps.Copy(good, map[string]string{"STORAGE_BACKEND": "s3", "S3_ENDPOINT": "http://seaweedfs:8333", "S3_BUCKET": "assistant-files",
		"S3_PREFIX": "prod", "S3_ACCESS_KEY_ID": "AKIAEXAMPLE", "S3_SECRET_ACCESS_KEY": "wJalrXUtnFEMI", "S3_FORCE_PATH_STYLE": "true"})
	c, err = config.Load(env(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"s3", "http://seaweedfs:8333", "us-east-1", "assistant-files", "prod", "AKIAEXAMPLE", "wJalrXUtnFEMI", true}
	got := []any{c.StorageBackend, c.S3Endpoint, c.S3Region, c.S3Bucket, c.S3Prefix, c.S3AccessKeyID, c.S3SecretAccessKey, c.S3ForcePathStyle}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("s3 settings (-want +got):\n%s", diff)
	}
	// The secret never reaches the start-up log line.
	var line strings.Builder
	line.WriteString(c.LogValue().String())
	if strings.Contains(line.String(), "wJalrXUtnFEMI") || strings.Contains(line.String(), "AKIAEXAMPLE") {
		t.Errorf("the log line shows S3 credentials: %s", line.String())
	}

	for name, tc := range map[string]struct {
		set      map[string]string
		complain string
	}{
		"unknown backend":      {map[string]string{"STORAGE_BACKEND": "gcs"}, "STORAGE_BACKEND"},
		"no bucket":            {map[string]string{"S3_BUCKET": ""}, "S3_BUCKET"},
		"bucket with capitals": {map[string]string{"S3_BUCKET": "Assistant"}, "S3_BUCKET"},
		"bucket too short":     {map[string]string{"S3_BUCKET": "ab"}, "S3_BUCKET"},
		"no access key":        {map[string]string{"S3_ACCESS_KEY_ID": ""}, "S3_ACCESS_KEY_ID"},
		"no secret":            {map[string]string{"S3_SECRET_ACCESS_KEY": ""}, "S3_SECRET_ACCESS_KEY"},
		"endpoint no scheme":   {map[string]string{"S3_ENDPOINT": "seaweedfs:8333"}, "S3_ENDPOINT"},
		"endpoint with path":   {map[string]string{"S3_ENDPOINT": "http://seaweedfs:8333/bucket"}, "S3_ENDPOINT"},
		"endpoint with user":   {map[string]string{"S3_ENDPOINT": "http://key:secret@seaweedfs:8333"}, "S3_ENDPOINT"},
		"prefix climbing":      {map[string]string{"S3_PREFIX": "../other"}, "S3_PREFIX"},
		"path style not bool":  {map[string]string{"S3_FORCE_PATH_STYLE": "yes please"}, "S3_FORCE_PATH_STYLE"},
		"nul in bucket":        {map[string]string{"S3_BUCKET": "a\x00b"}, "S3_BUCKET"},
	} {
		m := maps.Clone(good)
		maps.Copy(m, tc.set)
		_, err := config.Load(env(m))
		if err == nil || !strings.Contains(err.Error(), tc.complain) {
			t.Errorf("%s: %v, want a complaint about %s", name, err, tc.complain)
		}
	}
	// With the local backend the S3 settings are not required.
	local := maps.Clone(good)
	local["STORAGE_BACKEND"], local["S3_BUCKET"], local["S3_SECRET_ACCESS_KEY"] = "local", "", ""
	if _, err := config.Load(env(local)); err != nil {
		t.Errorf("local with partial S3 settings: %v", err)
	}
}
