package httpapi_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"assistant/server/testutil/pgtest"
)

func apitestAdmin(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), pgtest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}
