import type { components } from "./generated/api.js";
import { ApiError } from "./errors.js";
import { readServerSentEvents } from "./sse.js";

type Schemas = components["schemas"];
/** `message` of sendMessageStream: the stored user message and the reply's id. */
export type MessageEvent = Schemas["MessageEvent"];
/** `message` of regenerateMessageStream: the user message answered and the new reply's id. */
export type RegenerateEvent = Schemas["RegenerateEvent"];
/** `delta`: the next piece of the reply's text. */
export type DeltaEvent = Schemas["DeltaEvent"];
/** `done`: the reply as stored (complete or cancelled). */
export type DoneEvent = Schemas["DoneEvent"];
/** `error`: the error envelope; the partial reply is stored as failed. */
export type ErrorEvent = Schemas["ErrorEvent"];

/**
 * One event of a reply's stream, typed by its name. `id` counts the bytes of reply text sent
 * so far (`message` is 0; the final event one more than the text's length).
 */
export type ReplyEvent<M = MessageEvent> =
  | { type: "message"; id: number; data: M }
  | { type: "delta"; id: number; data: DeltaEvent }
  | { type: "done"; id: number; data: DoneEvent }
  | { type: "error"; id: number; data: ErrorEvent };

export interface ReplyStreamOptions {
  /** Stops reading (the reply itself goes on: cancel it with the cancel operation). */
  signal?: AbortSignal;
  /** How many times to re-attach after the connection drops (default 5). */
  maxResumes?: number;
  /** The wait before the first re-attachment, doubled for each next one (default 250 ms). */
  resumeDelayMs?: number;
}

/** Opens the stream that a ReplyStream starts from. */
export type OpenStream = (signal: AbortSignal | undefined) => Promise<Response>;
/** Re-attaches to a reply's events after `lastEventId` (all of them when undefined). */
export type Reattach = (messageId: string, lastEventId: number | undefined, signal: AbortSignal | undefined) => Promise<Response>;

/**
 * The events of one reply, read over fetch. When the connection drops before the final
 * event, it re-attaches to the reply with `Last-Event-ID` and goes on where it stopped, so
 * the `delta` events it yields always add up to the stored reply: when the reply ended
 * while the connection was down (the server then sends only the final event), the text
 * missed comes as one more `delta` before `done`. It ends after `done` or `error`.
 */
export class ReplyStream<M extends { assistant_message_id: string } = MessageEvent> implements AsyncIterable<ReplyEvent<M>> {
  /** The reply's id, known from the `message` event on (or given when re-attaching). */
  assistantMessageId: string | undefined;
  /** The id of the last event received. */
  lastEventId: number | undefined;
  /** How many times the stream re-attached after the connection dropped. */
  resumes = 0;

  readonly #open: OpenStream;
  readonly #reattach: Reattach;
  readonly #options: ReplyStreamOptions;
  #started = false;

  constructor(open: OpenStream, reattach: Reattach, options: ReplyStreamOptions = {}, messageId?: string) {
    this.#open = open;
    this.#reattach = reattach;
    this.#options = options;
    this.assistantMessageId = messageId;
  }

  [Symbol.asyncIterator](): AsyncIterator<ReplyEvent<M>> {
    if (this.#started) throw new Error("a ReplyStream can be read once");
    this.#started = true;
    return this.#run();
  }

  /**
   * Reads the stream to its end and answers with the stored reply; an `error` event is
   * thrown as an ApiError. `onDelta` sees each piece of text as it arrives.
   */
  async reply(onDelta?: (text: string) => void): Promise<DoneEvent> {
    for await (const e of this) {
      if (e.type === "delta") onDelta?.(e.data.content);
      else if (e.type === "done") return e.data;
      else if (e.type === "error") throw ApiError.fromBody(statusOf(e.data.error.code), e.data);
    }
    throw new ApiError({ status: 0, code: "invalid_response", message: "the stream ended without a final event", requestId: "" });
  }

  async *#run(): AsyncGenerator<ReplyEvent<M>> {
    const { signal } = this.#options;
    const maxResumes = this.#options.maxResumes ?? 5;
    let delay = this.#options.resumeDelayMs ?? 250;
    // Bytes of reply text received: the id of the last delta.
    let received = this.lastEventId ?? 0;
    let response: Response | undefined =
      this.assistantMessageId === undefined ? await this.#open(signal) : await this.#reattach(this.assistantMessageId, this.lastEventId, signal);

    for (;;) {
      if (response) {
        if (!response.ok) throw await ApiError.fromResponse(response);
        if (!response.body) throw new ApiError({ status: response.status, code: "invalid_response", message: "the stream has no body", requestId: "" });
        try {
          for await (const raw of readServerSentEvents(response.body)) {
            const id = raw.id !== undefined && /^[0-9]+$/.test(raw.id) ? Number(raw.id) : undefined;
            if (id !== undefined) this.lastEventId = id;
            const data = parse(raw.data, response);
            switch (raw.event) {
              case "message":
                this.assistantMessageId = (data as M).assistant_message_id;
                yield { type: "message", id: id ?? 0, data: data as M };
                break;
              case "delta":
                received = id ?? received + utf8Length((data as DeltaEvent).content);
                yield { type: "delta", id: received, data: data as DeltaEvent };
                break;
              case "done": {
                const done = data as DoneEvent;
                const text = new TextEncoder().encode(done.content);
                if (text.length > received) {
                  // The reply ended while the connection was down: the server sends the
                  // final event alone, so the text missed is the stored text past what came.
                  yield { type: "delta", id: text.length, data: { content: new TextDecoder().decode(text.subarray(received)) } };
                }
                yield { type: "done", id: id ?? text.length + 1, data: done };
                return;
              }
              case "error":
                yield { type: "error", id: id ?? received + 1, data: data as ErrorEvent };
                return;
              default:
              // An event this version does not know: skipped, so newer servers stay readable.
            }
          }
        } catch (err) {
          if (signal?.aborted || err instanceof ApiError) throw err;
          // Otherwise the connection broke: re-attach below.
        }
      }
      // The stream ended before its final event: the connection dropped (a proxy's timeout,
      // a network change). The reply goes on in the server; follow it from where we are.
      if (signal?.aborted) throw signal.reason;
      if (this.assistantMessageId === undefined) {
        throw new ApiError({ status: 0, code: "invalid_response", message: "the stream ended before the reply's id was known", requestId: "" });
      }
      if (this.resumes >= maxResumes) {
        throw new ApiError({ status: 0, code: "invalid_response", message: `the stream dropped ${this.resumes + 1} times`, requestId: "" });
      }
      this.resumes++;
      await sleep(delay, signal);
      delay *= 2;
      try {
        response = await this.#reattach(this.assistantMessageId, this.lastEventId, signal);
        if (response.status === 503 || response.status === 429) {
          await response.body?.cancel().catch(() => undefined);
          response = undefined; // busy for now: try again after the next wait
        }
      } catch (err) {
        if (signal?.aborted) throw err;
        response = undefined; // still no connection: try again after the next wait
      }
    }
  }
}

function parse(data: string, response: Response): unknown {
  try {
    return JSON.parse(data);
  } catch {
    throw new ApiError({
      status: response.status,
      code: "invalid_response",
      message: "an event's data is not JSON",
      requestId: response.headers.get("X-Request-ID") ?? "",
    });
  }
}

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** The status a stream's error code has when it answers a plain request. */
function statusOf(code: string): number {
  switch (code) {
    case "upstream_error":
      return 502;
    case "service_unavailable":
      return 503;
    default:
      return 500;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
