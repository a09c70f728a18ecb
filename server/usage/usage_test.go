package usage_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"assistant/gen/api"
	"assistant/gen/db"
	"assistant/server/config"
	"assistant/server/testutil/apitest"
)

func today() time.Time { return time.Now().UTC().Truncate(24 * time.Hour) }

// add records usage for the user on the day, as a reply's end does.
func add(t *testing.T, env *apitest.Env, user uuid.UUID, day time.Time, model string, prompt, completion int64) {
	t.Helper()
	err := db.New().AddTokenUsage(context.Background(), env.Pool, db.AddTokenUsageParams{
		UserID: user, Day: pgtype.Date{Time: day, Valid: true}, Model: model, PromptTokens: prompt, CompletionTokens: completion})
	if err != nil {
		t.Fatal(err)
	}
}

func report(t *testing.T, env *apitest.Env, token, query string) api.UsageReport {
	t.Helper()
	r := env.As(token, http.MethodGet, "/api/v1/users/me/usage"+query, nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("usage%s: %d %s", query, r.StatusCode, r.Body)
	}
	var u api.UsageReport
	r.JSON(t, &u)
	return u
}

func days(u api.UsageReport) []string {
	var out []string
	for _, it := range u.Items {
		out = append(out, it.Day.String()+" "+it.Model)
	}
	return out
}

// The report: one row per day and model, oldest first, the last 30 days by default, the
// budget null when there is none, and only the caller's own usage.
func TestUsageReport(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	s := env.Register("ada@example.com", "correct horse battery")
	other := env.Register("bob@example.com", "correct horse battery")

	u := report(t, env, s.AccessToken, "")
	if len(u.Items) != 0 || u.Items == nil || u.Budget.DailyTokens != nil || u.Budget.UsedToday != 0 ||
		!u.Budget.ResetsAt.Equal(today().AddDate(0, 0, 1)) && time.Now().UTC().Hour() != 0 {
		t.Fatalf("empty report: %+v", u)
	}

	d := today()
	add(t, env, s.User.Id, d, "echo", 10, 5)
	add(t, env, s.User.Id, d, "echo", 1, 1) // a second reply the same day and model
	add(t, env, s.User.Id, d, "big", 100, 50)
	add(t, env, s.User.Id, d.AddDate(0, 0, -29), "echo", 3, 3)
	add(t, env, s.User.Id, d.AddDate(0, 0, -30), "echo", 7, 7)
	add(t, env, s.User.Id, d.AddDate(0, 0, -400), "echo", 9, 9)
	add(t, env, other.User.Id, d, "echo", 1000, 1000)

	u = report(t, env, s.AccessToken, "")
	if got := days(u); len(got) != 3 || got[0] != d.AddDate(0, 0, -29).Format(time.DateOnly)+" echo" ||
		got[1] != d.Format(time.DateOnly)+" big" || got[2] != d.Format(time.DateOnly)+" echo" {
		t.Fatalf("default range: %v", got)
	}
	if e := u.Items[2]; e.PromptTokens != 11 || e.CompletionTokens != 6 || e.Replies != 2 || u.Budget.UsedToday != 167 {
		t.Fatalf("today: %+v, used %d", e, u.Budget.UsedToday)
	}

	// Explicit ranges, both ends included; to alone goes 30 days back from it.
	q := "?from=" + d.AddDate(0, 0, -365).Format(time.DateOnly) + "&to=" + d.Format(time.DateOnly)
	if got := days(report(t, env, s.AccessToken, q)); len(got) != 4 {
		t.Fatalf("366 days: %v", got)
	}
	q = "?to=" + d.AddDate(0, 0, -1).Format(time.DateOnly)
	if got := days(report(t, env, s.AccessToken, q)); len(got) != 2 || got[0] != d.AddDate(0, 0, -30).Format(time.DateOnly)+" echo" {
		t.Fatalf("to alone: %v", got)
	}
	q = "?from=" + d.AddDate(0, 0, -400).Format(time.DateOnly) + "&to=" + d.AddDate(0, 0, -400).Format(time.DateOnly)
	if got := days(report(t, env, s.AccessToken, q)); len(got) != 1 {
		t.Fatalf("one day: %v", got)
	}
	q = "?from=" + d.Format(time.DateOnly)
	if got := days(report(t, env, s.AccessToken, q)); len(got) != 2 {
		t.Fatalf("from today: %v", got)
	}
	if u := report(t, env, other.AccessToken, ""); len(u.Items) != 1 || u.Budget.UsedToday != 2000 {
		t.Fatalf("the other user's report: %+v", u)
	}
}

// The budget is reported when set.
func TestUsageReportBudget(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.WithConfig(func(c *config.Config) { c.UserDailyTokenBudget = 5000 }))
	s := env.Register("ada@example.com", "correct horse battery")
	add(t, env, s.User.Id, today(), "echo", 40, 2)
	u := report(t, env, s.AccessToken, "")
	if u.Budget.DailyTokens == nil || *u.Budget.DailyTokens != 5000 || u.Budget.UsedToday != 42 {
		t.Fatalf("budget: %+v", u.Budget)
	}
}

// Bad ranges are a 422 naming query.from; hostile dates are a 422, never a 500; no token
// is a 401.
func TestUsageReportBadInput(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	s := env.Register("ada@example.com", "correct horse battery")
	d := today()
	for _, q := range []string{
		"?from=" + d.AddDate(0, 0, 1).Format(time.DateOnly),                                       // after today, the default to
		"?from=2026-03-02&to=2026-03-01",                                                          // after to
		"?from=" + d.AddDate(0, 0, -366).Format(time.DateOnly) + "&to=" + d.Format(time.DateOnly), // 367 days
		"?from=0001-01-01&to=9999-12-31",                                                          // the widest
		"?from=9999-12-31",                                                                        // far future
		"?from=0001-01-01&to=" + d.Format(time.DateOnly),                                          // far past
	} {
		r := env.As(s.AccessToken, http.MethodGet, "/api/v1/users/me/usage"+q, nil)
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s", q, r.StatusCode, r.Body)
			continue
		}
		if e := r.Envelope(t); e.Details == nil || (*e.Details)[0].Field != "query.from" {
			t.Errorf("%s: %s", q, r.Body)
		}
	}
	// Not dates at all: the validator's 422.
	for _, q := range []string{"?from=2026-02-30", "?to=yesterday", "?from=%F0%9F%93%85", "?to=%E4%BB%8A%E5%A4%A9", "?from=2026-01-01%00", "?from=%ff"} {
		if r := env.As(s.AccessToken, http.MethodGet, "/api/v1/users/me/usage"+q, nil); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s", q, r.StatusCode, r.Body)
		}
	}
	// The oldest and newest days the range allows on their own are fine.
	for _, q := range []string{"?to=0001-01-31", "?from=0001-01-01&to=0001-01-01", "?from=9999-12-31&to=9999-12-31"} {
		if r := env.As(s.AccessToken, http.MethodGet, "/api/v1/users/me/usage"+q, nil); r.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %s", q, r.StatusCode, r.Body)
		}
	}
	if r := env.Call(http.MethodGet, "/api/v1/users/me/usage", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d", r.StatusCode)
	}
}
