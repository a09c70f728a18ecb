import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./generated/api.js";
import { Credentials, authenticatedFetch, type Session } from "./auth.js";
import { ApiError, unwrap } from "./errors.js";
import { ReplyStream, type ReplyStreamOptions, type RegenerateEvent } from "./stream.js";

type Schemas = components["schemas"];

export interface AssistantClientOptions {
  /** Where the API is, `/api/v1` included (default `/api/v1`, the page's own server). */
  baseUrl?: string;
  /** A session to go on with, e.g. one kept from an earlier sign-in. */
  session?: Session;
  /** An API key to sign requests with, instead of a session. */
  apiKey?: string;
  /** Called whenever the session changes (sign-in, refresh, sign-out, refusal), to keep it. */
  onSessionChange?: (session: Session | undefined) => void;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

/**
 * A client of the assistant API. `api` makes any call of the spec, typed from it; the
 * methods here are what generation cannot give: signing in with a session that renews
 * itself, uploads, downloads, and reply streams that survive a dropped connection.
 * Failures are ApiError values (`unwrap` turns an `api` call's result into its data or one).
 */
export class AssistantClient {
  readonly api: Client<paths>;
  readonly credentials: Credentials;
  readonly baseUrl: string;

  constructor(options: AssistantClientOptions = {}) {
    this.baseUrl = absolute(options.baseUrl ?? "/api/v1").replace(/\/+$/, "");
    this.credentials = new Credentials({
      ...(options.session ? { session: options.session } : {}),
      ...(options.apiKey ? { apiKey: options.apiKey } : {}),
      ...(options.onSessionChange ? { onSessionChange: options.onSessionChange } : {}),
    });
    // Looked up at each call, so a fetch replaced later (tests, polyfills) is used.
    const base: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.api = createClient<paths>({ baseUrl: this.baseUrl, fetch: authenticatedFetch(base, this.credentials, this.baseUrl) });
  }

  /** Creates an account and signs in with it. */
  async register(body: Schemas["RegisterRequest"]): Promise<Session> {
    const session = await unwrap(this.api.POST("/auth/register", { body }));
    this.credentials.useSession(session);
    return session;
  }

  /** Signs in; requests are signed with the new session from now on. */
  async login(email: string, password: string): Promise<Session> {
    const session = await unwrap(this.api.POST("/auth/login", { body: { email, password } }));
    this.credentials.useSession(session);
    return session;
  }

  /**
   * Renews the session now (requests also do it by themselves when the access token has
   * expired). The refresh token is single-use: the new session replaces it.
   */
  async refresh(): Promise<Session> {
    const current = this.credentials.session;
    if (!current) throw new ApiError({ status: 401, code: "unauthorized", message: "not signed in", requestId: "" });
    const session = await unwrap(this.api.POST("/auth/refresh", { body: { refresh_token: current.refresh_token } }));
    this.credentials.useSession(session);
    return session;
  }

  /** Ends the session on the server and forgets it. */
  async logout(): Promise<void> {
    const current = this.credentials.session;
    this.credentials.useSession(undefined);
    if (current) await unwrap(this.api.POST("/auth/logout", { body: { refresh_token: current.refresh_token } }));
  }

  /** Signs requests with an API key from now on (it has no session to renew). */
  useApiKey(key: string): void {
    this.credentials.useApiKey(key);
  }

  /** Sends a message and streams the reply (sendMessageStream). */
  streamMessage(conversationId: string, body: Schemas["SendMessageRequest"], options: ReplyStreamOptions = {}): ReplyStream {
    return new ReplyStream(
      (signal) =>
        this.#raw(
          this.api.POST("/conversations/{conversation_id}/messages/stream", {
            params: { path: { conversation_id: conversationId } },
            body,
            parseAs: "stream",
            ...(signal ? { signal } : {}),
          }),
        ),
      this.#reattach(conversationId),
      options,
    );
  }

  /** Answers a message again, as a new branch, streamed (regenerateMessageStream). */
  streamRegenerate(conversationId: string, messageId: string, options: ReplyStreamOptions = {}): ReplyStream<RegenerateEvent> {
    return new ReplyStream<RegenerateEvent>(
      (signal) =>
        this.#raw(
          this.api.POST("/conversations/{conversation_id}/messages/{message_id}/regenerate/stream", {
            params: { path: { conversation_id: conversationId, message_id: messageId } },
            parseAs: "stream",
            ...(signal ? { signal } : {}),
          }),
        ),
      this.#reattach(conversationId),
      options,
    );
  }

  /**
   * Follows a reply already under way, e.g. after a page reload: the events after
   * `lastEventId`, or all of them (streamMessageEvents).
   */
  followReply(conversationId: string, messageId: string, lastEventId?: number, options: ReplyStreamOptions = {}): ReplyStream {
    const s = new ReplyStream(() => Promise.reject(new Error("unreachable")), this.#reattach(conversationId), options, messageId);
    s.lastEventId = lastEventId;
    return s;
  }

  /** Uploads a file (a Blob or File) under a name. */
  async uploadFile(file: Blob, filename: string): Promise<Schemas["File"]> {
    return unwrap(
      this.api.POST("/files", {
        // The spec's `format: binary` is typed as a string; the body is multipart.
        body: { file: "" },
        bodySerializer: () => {
          const form = new FormData();
          form.append("file", file, filename);
          return form;
        },
      }),
    );
  }

  /** Downloads a file's bytes. */
  async downloadFile(fileId: string): Promise<Blob> {
    return unwrap(this.api.GET("/files/{file_id}/content", { params: { path: { file_id: fileId } }, parseAs: "blob" }));
  }

  /** Downloads an export's bytes. */
  async downloadExport(exportId: string): Promise<Blob> {
    return unwrap(this.api.GET("/exports/{export_id}/content", { params: { path: { export_id: exportId } }, parseAs: "blob" }));
  }

  #reattach(conversationId: string) {
    return (messageId: string, lastEventId: number | undefined, signal: AbortSignal | undefined) =>
      this.#raw(
        this.api.GET("/conversations/{conversation_id}/messages/{message_id}/events", {
          params: {
            path: { conversation_id: conversationId, message_id: messageId },
            ...(lastEventId !== undefined ? { header: { "Last-Event-ID": String(lastEventId) } } : {}),
          },
          parseAs: "stream",
          ...(signal ? { signal } : {}),
        }),
      );
  }

  /** The response of a stream call; a failure's body is read already, so it is rebuilt. */
  async #raw(call: Promise<{ data?: unknown; error?: unknown; response: Response }>): Promise<Response> {
    const r = await call;
    if (r.response.ok) return r.response;
    throw await ApiError.fromResponse(r.response, r.error ?? "");
  }
}

/** A client of the assistant API (see AssistantClient). */
export function createAssistantClient(options: AssistantClientOptions = {}): AssistantClient {
  return new AssistantClient(options);
}

/**
 * The URL resolved against the page's address, as Request.url spells it, so that a relative
 * base URL (a page's own server) names the same requests everywhere.
 */
function absolute(url: string): string {
  const page = (globalThis as { location?: { href: string } }).location?.href;
  if (!page) return url;
  try {
    return new URL(url, page).href;
  } catch {
    return url;
  }
}
