import type { components } from "./generated/api.js";

/** A signed-in session: access token, refresh token and the account. */
export type Session = components["schemas"]["Session"];

/**
 * What the client signs its requests with: a session (an access token renewed with its
 * refresh token when it expires) or an API key (sent as it is, never refreshed).
 */
export class Credentials {
  #session: Session | undefined;
  #apiKey: string | undefined;
  #onChange: ((session: Session | undefined) => void) | undefined;

  constructor(init: { session?: Session; apiKey?: string; onSessionChange?: (session: Session | undefined) => void } = {}) {
    this.#session = init.session;
    this.#apiKey = init.apiKey;
    this.#onChange = init.onSessionChange;
  }

  /** The current session, if the client signs in with one. */
  get session(): Session | undefined {
    return this.#session;
  }

  /** The API key, if the client uses one. */
  get apiKey(): string | undefined {
    return this.#apiKey;
  }

  /** The bearer token requests carry now. */
  get token(): string | undefined {
    return this.#apiKey ?? this.#session?.access_token;
  }

  /** Sign requests with this session from now on (or with nothing: undefined). */
  useSession(session: Session | undefined): void {
    this.#apiKey = undefined;
    this.#session = session;
    this.#onChange?.(session);
  }

  /** Sign requests with an API key from now on. */
  useApiKey(key: string): void {
    this.#session = undefined;
    this.#apiKey = key;
    this.#onChange?.(undefined);
  }
}

/**
 * A fetch that signs each request with the credentials' bearer token and, when a session's
 * access token is refused (401), renews the session once with its refresh token and sends
 * the request again. Refresh tokens are single-use and reusing one ends the whole session,
 * so concurrent 401s share one refresh, and a request that was sent with a token since
 * replaced is retried with the new one without refreshing again. `baseUrl` is absolute (as
 * Request.url spells it), `/api/v1` included.
 */
export function authenticatedFetch(base: typeof fetch, credentials: Credentials, baseUrl: string): (input: Request) => Promise<Response> {
  let refreshing: Promise<boolean> | undefined;

  const refresh = (): Promise<boolean> => {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      const session = credentials.session;
      if (!session) return false;
      try {
        const r = await base(`${baseUrl}/auth/refresh`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: session.refresh_token }),
        });
        if (!r.ok) {
          // Only a definite refusal ends the session; anything else (a 503, a 429)
          // leaves it for the next attempt.
          if (r.status === 401 && credentials.session === session) credentials.useSession(undefined);
          return false;
        }
        credentials.useSession((await r.json()) as Session);
        return true;
      } catch {
        return false;
      }
    })().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };

  // The sign-in operations take no bearer token, and their 401 (a wrong password, a spent
  // refresh token) is an answer, not an expired session.
  const signIn = `${baseUrl}/auth/`;

  return async (input: Request): Promise<Response> => {
    if (input.url.startsWith(signIn)) return base(input);
    const sentWith = credentials.token;
    // The body can be read only once: keep a copy in case the request is sent again.
    const retry = credentials.session && sentWith ? input.clone() : undefined;
    const first = await base(withBearer(input, sentWith));
    if (first.status !== 401 || !retry) return first;

    // Renew only the session this request was signed with; if another request renewed it
    // meanwhile, the new token is already there.
    if (credentials.session?.access_token === sentWith && !(await refresh())) return first;
    const token = credentials.token;
    if (!token || token === sentWith) return first;
    await first.body?.cancel().catch(() => undefined);
    return base(withBearer(retry, token));
  };
}

function withBearer(request: Request, token: string | undefined): Request {
  if (!token || request.headers.has("Authorization")) return request;
  const headers = new Headers(request.headers);
  headers.set("Authorization", `Bearer ${token}`);
  return new Request(request, { headers });
}
