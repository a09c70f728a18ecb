package assistant

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Client is the generated client with credentials: every call carries the session's access
// token or the API key, and a session whose access token has expired is refreshed once and
// the call repeated.
type Client struct {
	*ClientWithResponses
	base string
	auth *authDoer
}

// Option configures New.
type Option func(*options)

type options struct {
	http      *http.Client
	apiKey    string
	session   *Session
	onSession func(Session)
}

// WithHTTP sends requests through hc instead of http.DefaultClient. Its Timeout must
// be zero (or long) for the message streams, which last as long as a reply.
func WithHTTP(hc *http.Client) Option { return func(o *options) { o.http = hc } }

// WithAPIKey authenticates every call with an API key (`ak_…`). Keys are never refreshed,
// and account and credential operations answer them 403.
func WithAPIKey(key string) Option { return func(o *options) { o.apiKey = key } }

// WithSession resumes a session saved earlier (its access and refresh tokens).
func WithSession(s Session) Option { return func(o *options) { o.session = &s } }

// OnSession is called with every new session: after Login, Register and each refresh. Save
// it there to resume later: a refresh token works once, and the old one is dead.
func OnSession(f func(Session)) Option { return func(o *options) { o.onSession = f } }

// New returns a client of the API at baseURL (the spec's server, ending in /api/v1).
func New(baseURL string, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	hc := o.http
	if hc == nil {
		hc = http.DefaultClient
	}
	base := strings.TrimRight(baseURL, "/")
	// Refreshing goes through a client without credentials, so it cannot recurse.
	plain, err := NewClientWithResponses(base, WithHTTPClient(errorDoer{hc}))
	if err != nil {
		return nil, err
	}
	a := &authDoer{next: hc, plain: plain, apiKey: o.apiKey, onSession: o.onSession}
	if o.session != nil {
		a.session, a.access, a.refresh = *o.session, o.session.AccessToken, o.session.RefreshToken
	}
	cw, err := NewClientWithResponses(base, WithHTTPClient(errorDoer{a}))
	if err != nil {
		return nil, err
	}
	return &Client{ClientWithResponses: cw, base: base, auth: a}, nil
}

// Login signs in and keeps the session for the calls that follow.
func (c *Client) Login(ctx context.Context, email, password string) (*Session, error) {
	r, err := c.LoginWithResponse(ctx, LoginRequest{Email: Email(email), Password: password})
	if err != nil {
		return nil, err
	}
	return c.keep(r.JSON200, r.HTTPResponse)
}

// Register creates an account and keeps its first session for the calls that follow.
func (c *Client) Register(ctx context.Context, req RegisterRequest) (*Session, error) {
	r, err := c.RegisterWithResponse(ctx, req)
	if err != nil {
		return nil, err
	}
	return c.keep(r.JSON201, r.HTTPResponse)
}

// Refresh exchanges the refresh token for a new session now (calls do it by themselves
// when the access token has expired).
func (c *Client) Refresh(ctx context.Context) (*Session, error) {
	if err := c.auth.refreshOnce(ctx, ""); err != nil {
		return nil, err
	}
	s := c.auth.last()
	return &s, nil
}

// Logout ends the session on the server and forgets it here.
func (c *Client) Logout(ctx context.Context) error {
	_, refresh := c.auth.tokens()
	if refresh == "" {
		return errors.New("assistant: no session")
	}
	if _, err := c.LogoutWithResponse(ctx, RefreshRequest{RefreshToken: refresh}); err != nil {
		return err
	}
	c.auth.set(Session{})
	return nil
}

// UseAPIKey switches the client to an API key and forgets the session.
func (c *Client) UseAPIKey(key string) {
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	c.auth.apiKey, c.auth.session, c.auth.access, c.auth.refresh = key, Session{}, "", ""
}

// Session is the current session (empty with an API key or before signing in).
func (c *Client) Session() Session { return c.auth.last() }

func (c *Client) keep(s *Session, resp *http.Response) (*Session, error) {
	if s == nil {
		return nil, fmt.Errorf("assistant: unexpected status %d", resp.StatusCode)
	}
	c.auth.set(*s)
	return s, nil
}

// authDoer adds the credentials to every request and, when a session's access token is
// refused (401), refreshes the session once and sends the request again.
type authDoer struct {
	next  HttpRequestDoer
	plain *ClientWithResponses

	refreshing      sync.Mutex // one refresh at a time
	mu              sync.Mutex // the fields below
	apiKey          string
	access, refresh string
	session         Session
	onSession       func(Session)
}

func (a *authDoer) tokens() (access, refresh string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.access, a.refresh
}

func (a *authDoer) last() Session {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.session
}

func (a *authDoer) set(s Session) {
	a.mu.Lock()
	a.session, a.access, a.refresh = s, s.AccessToken, s.RefreshToken
	if s.AccessToken != "" {
		a.apiKey = ""
	}
	f := a.onSession
	a.mu.Unlock()
	if f != nil && s.AccessToken != "" {
		f(s)
	}
}

func (a *authDoer) Do(req *http.Request) (*http.Response, error) {
	a.mu.Lock()
	token, isKey := a.access, false
	if a.apiKey != "" {
		token, isKey = a.apiKey, true
	}
	a.mu.Unlock()
	if token != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.next.Do(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || isKey || token == "" || signIn(req) {
		return resp, err
	}
	// A body already sent cannot be sent again unless the request can make it anew (the
	// generated JSON calls can; a streamed upload cannot, and its 401 is the answer).
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil
	}
	if err := a.refreshOnce(req.Context(), token); err != nil {
		// The session is over (its refresh token expired, was used or revoked): the
		// original 401 is the answer.
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	again := req.Clone(req.Context())
	if req.GetBody != nil {
		if again.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	access, _ := a.tokens()
	again.Header.Set("Authorization", "Bearer "+access)
	return a.next.Do(again)
}

// refreshOnce refreshes the session unless another call already did since `used` was the
// access token: refresh tokens are single-use, and presenting one twice ends the session.
func (a *authDoer) refreshOnce(ctx context.Context, used string) error {
	// Held across the call so that concurrent 401s wait for this refresh, not start others.
	a.refreshing.Lock()
	defer a.refreshing.Unlock()
	access, refresh := a.tokens()
	if used != "" && access != used {
		return nil
	}
	if refresh == "" {
		return errors.New("assistant: no refresh token")
	}
	r, err := a.plain.RefreshSessionWithResponse(ctx, RefreshRequest{RefreshToken: refresh})
	if err != nil {
		return err
	}
	if r.JSON200 == nil {
		return fmt.Errorf("assistant: refresh answered %d", r.StatusCode())
	}
	a.set(*r.JSON200)
	return nil
}

// signIn tells the requests whose 401 means wrong credentials, never an expired session.
func signIn(req *http.Request) bool {
	p := req.URL.Path
	return strings.HasSuffix(p, "/auth/login") || strings.HasSuffix(p, "/auth/refresh") ||
		strings.HasSuffix(p, "/auth/register") || strings.HasSuffix(p, "/auth/logout")
}
