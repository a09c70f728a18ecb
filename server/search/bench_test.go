package search_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"assistant/gen/api"
	"assistant/server/config"
	"assistant/server/testutil/apitest"
)

// BenchmarkSearch searches one user's 100,000 messages (in 1,000 conversations, inserted
// with SQL) through the API: a rare word (100 messages), a word in every message (ranked
// among the newest search.Candidates), a phrase, a Chinese/Japanese substring (1,000
// messages), a word found nowhere, and the second page of the common word. Besides ns/op
// it reports the median and 99th percentile latency of each (p50-ms, p99-ms).
func BenchmarkSearch(b *testing.B) {
	env := apitest.New(b, apitest.WithConfig(func(c *config.Config) { c.LogLevel = 12 }))
	token := env.Register("ada@example.com", "correct horse battery").AccessToken
	ctx := context.Background()
	for _, sql := range []string{
		`INSERT INTO conversations (id, user_id, title)
		 SELECT ('00000000-0000-7000-8001-' || lpad(to_hex(g), 12, '0'))::uuid, u.id, 'conversation ' || g || ' about topic' || (g % 50)
		 FROM generate_series(1, 1000) g, (SELECT id FROM users WHERE email = 'ada@example.com') u`,
		`INSERT INTO messages (id, conversation_id, role, content, status)
		 SELECT ('00000000-0000-7000-8002-' || lpad(to_hex(g), 12, '0'))::uuid,
		        ('00000000-0000-7000-8001-' || lpad(to_hex(1 + g % 1000), 12, '0'))::uuid,
		        (CASE WHEN g % 2 = 0 THEN 'user' ELSE 'assistant' END)::message_role,
		        'message ' || g || ' mentions word' || (g % 1000) || ' and common filler text about the weather and the sea, '
		        || CASE WHEN g % 100 = 0 THEN '昨日は東京タワーに行きました、' ELSE '' END
		        || 'number ' || (g % 97) || ' with some more words to make it a realistic paragraph of some length',
		        'complete'
		 FROM generate_series(1, 100000) g`,
		`ANALYZE conversations`,
		`ANALYZE messages`,
	} {
		if _, err := env.Pool.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	first := env.As(token, http.MethodGet, "/api/v1/search?q=weather", nil)
	var page api.SearchResults
	first.JSON(b, &page)
	if page.NextCursor == nil {
		b.Fatal("no second page of weather")
	}
	for _, c := range []struct{ name, query string }{
		{"rare", "q=word7"},
		{"common", "q=weather"},
		{"phrase", "q=" + url.QueryEscape(`"the weather"`)},
		{"cjk", "q=" + url.QueryEscape("東京")},
		{"none", "q=xylophone"},
		{"common-page2", "q=weather&cursor=" + url.QueryEscape(*page.NextCursor)},
	} {
		b.Run("messages=100000/"+c.name, func(b *testing.B) {
			var times []time.Duration
			for b.Loop() {
				start := time.Now()
				if r := env.As(token, http.MethodGet, "/api/v1/search?"+c.query, nil); r.StatusCode != http.StatusOK {
					b.Fatalf("status %d: %s", r.StatusCode, r.Body)
				}
				times = append(times, time.Since(start))
			}
			slices.Sort(times)
			ms := func(q float64) float64 { return float64(times[int(q*float64(len(times)-1))]) / 1e6 }
			b.ReportMetric(ms(0.5), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
		})
	}
}
