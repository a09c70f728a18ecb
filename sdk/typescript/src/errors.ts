import type { components } from "./generated/api.js";

/** The stable codes of the error envelope, as the spec lists them. */
export type ErrorCode = components["schemas"]["ErrorBody"]["code"];
/** One problem with one field of a request (`body.email`, `query.limit`, ...). */
export type FieldError = components["schemas"]["FieldError"];
/** The one shape of every error response. */
export type ErrorEnvelope = components["schemas"]["Error"];

/**
 * An error response of the API, read from its envelope. `code` is stable and meant for
 * programs; `message` is for people; `requestId` is what the server logged the failure
 * under (quote it when reporting a problem).
 *
 * A response that is not an envelope (a proxy's own page, a cut connection) still becomes an
 * ApiError, with the code `invalid_response`, so callers handle one type.
 */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly status: number;
  readonly code: ErrorCode | "invalid_response";
  readonly requestId: string;
  readonly details: FieldError[];
  /** Seconds to wait before trying again, when the answer says (429, 503). */
  readonly retryAfter: number | undefined;

  constructor(init: {
    status: number;
    code: ErrorCode | "invalid_response";
    message: string;
    requestId: string;
    details?: FieldError[];
    retryAfter?: number | undefined;
  }) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.details = init.details ?? [];
    this.retryAfter = init.retryAfter;
  }

  /**
   * The error a failed response stands for. `body` is the response's body already read
   * (parsed JSON or text); without it the body is read here.
   */
  static async fromResponse(response: Response, body?: unknown): Promise<ApiError> {
    if (body === undefined) {
      const text = await response.text().catch(() => "");
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    return ApiError.fromBody(response.status, body, response.headers);
  }

  /** The error of an envelope received as data, such as a stream's `error` event. */
  static fromBody(status: number, body: unknown, headers?: Headers): ApiError {
    const retry = headers?.get("Retry-After");
    const retryAfter = retry != null && /^[0-9]+$/.test(retry) ? Number(retry) : undefined;
    if (isEnvelope(body)) {
      const e = body.error;
      return new ApiError({
        status,
        code: e.code,
        message: e.message,
        requestId: e.request_id,
        details: e.details ?? [],
        retryAfter,
      });
    }
    return new ApiError({
      status,
      code: "invalid_response",
      message: `HTTP ${status} without an error envelope`,
      requestId: headers?.get("X-Request-ID") ?? "",
      retryAfter,
    });
  }
}

/** Whether a value is an ApiError, also across copies of this package. */
export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError || (e instanceof Error && e.name === "ApiError" && "requestId" in e);
}

function isEnvelope(body: unknown): body is ErrorEnvelope {
  if (typeof body !== "object" || body === null || !("error" in body)) return false;
  const e = (body as { error: unknown }).error;
  return (
    typeof e === "object" &&
    e !== null &&
    typeof (e as Record<string, unknown>).code === "string" &&
    typeof (e as Record<string, unknown>).message === "string" &&
    typeof (e as Record<string, unknown>).request_id === "string"
  );
}

/** What an openapi-fetch call resolves to, success or failure. */
interface FetchResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/**
 * The data of a successful call, or its ApiError thrown:
 *
 *     const conversation = await unwrap(api.POST("/conversations", { body: {} }));
 */
export async function unwrap<R extends FetchResult>(call: Promise<R> | R): Promise<Exclude<R["data"], undefined>> {
  const r = await call;
  if (!r.response.ok) {
    throw await ApiError.fromResponse(r.response, r.error ?? "");
  }
  return r.data as Exclude<R["data"], undefined>;
}
