// What the SDK does with answers the real server does not give on its own: broken and
// hostile wire input, built here as web-standard Responses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError, ReplyStream } from "../dist/index.js";

const sse = (text, init = {}) => new Response(text, { status: 200, headers: { "Content-Type": "text/event-stream" }, ...init });
const message = 'id: 0\nevent: message\ndata: {"user_message":{},"assistant_message_id":"m1"}\n\n';
const never = () => assert.fail("re-attached");

async function collect(stream) {
  const out = [];
  for await (const e of stream) out.push(e);
  return out;
}

test("event data that is not JSON is an ApiError, not a crash or a resume", async () => {
  const s = new ReplyStream(async () => sse(message + "id: 3\nevent: delta\ndata: {not json\n\n"), never);
  await assert.rejects(collect(s), (e) => e instanceof ApiError && e.code === "invalid_response");
});

test("a stream that ends before the reply's id is known cannot be resumed", async () => {
  const s = new ReplyStream(async () => sse(": ping\n\n"), never);
  await assert.rejects(collect(s), (e) => e instanceof ApiError && /before the reply's id/.test(e.message));
});

test("a connection that keeps dropping is given up after maxResumes", async () => {
  const asked = [];
  const s = new ReplyStream(
    async () => sse(message),
    async (id, last) => {
      asked.push([id, last]);
      return sse("");
    },
    { maxResumes: 3, resumeDelayMs: 0 },
  );
  await assert.rejects(collect(s), (e) => e instanceof ApiError && /dropped 4 times/.test(e.message));
  assert.deepEqual(asked, [["m1", 0], ["m1", 0], ["m1", 0]]);
  assert.equal(s.resumes, 3);
});

test("unknown events are skipped; an error event ends the stream and reply() throws it", async () => {
  const body =
    message +
    'id: 2\nevent: delta\ndata: {"content":"hé"}\n\n' +
    "event: future\ndata: {}\n\n" +
    'id: 3\nevent: error\ndata: {"error":{"code":"upstream_error","message":"the AI provider failed","request_id":"r-1"}}\n\n' +
    'event: delta\ndata: {"content":"after the end"}\n\n';
  const events = await collect(new ReplyStream(async () => sse(body), never));
  assert.deepEqual(events.map((e) => e.type), ["message", "delta", "error"]);
  await assert.rejects(new ReplyStream(async () => sse(body), never).reply(), (e) => {
    assert.ok(e instanceof ApiError);
    assert.deepEqual([e.status, e.code, e.requestId], [502, "upstream_error", "r-1"]);
    return true;
  });
});

test("a refused stream, an error page from a proxy and Retry-After become ApiErrors", async () => {
  const envelope = { error: { code: "rate_limited", message: "too many", request_id: "r-2" } };
  const limited = new Response(JSON.stringify(envelope), { status: 429, headers: { "Retry-After": "7" } });
  await assert.rejects(collect(new ReplyStream(async () => limited, never)), (e) => {
    assert.deepEqual([e.status, e.code, e.requestId, e.retryAfter, e.details], [429, "rate_limited", "r-2", 7, []]);
    return true;
  });
  const page = new Response("<html>502 Bad Gateway</html>", { status: 502, headers: { "X-Request-ID": "r-3" } });
  const e = await ApiError.fromResponse(page);
  assert.deepEqual([e.status, e.code, e.requestId], [502, "invalid_response", "r-3"]);
  // An envelope with fields of the wrong type is not taken for one.
  const odd = await ApiError.fromResponse(new Response('{"error":{"code":1,"message":"x","request_id":"y"}}', { status: 400 }));
  assert.equal(odd.code, "invalid_response");
});

test("aborting stops reading without re-attaching", async () => {
  const ctl = new AbortController();
  let push;
  const body = new ReadableStream({
    start(c) {
      push = c;
      c.enqueue(new TextEncoder().encode(message));
    },
  });
  const s = new ReplyStream(async () => sse(body), never, { signal: ctl.signal, resumeDelayMs: 0 });
  const it = s[Symbol.asyncIterator]();
  assert.equal((await it.next()).value.type, "message");
  const pending = it.next();
  ctl.abort();
  push.error(new DOMException("aborted", "AbortError"));
  await assert.rejects(pending, (e) => e.name === "AbortError");
  assert.equal(s.resumes, 0);
});

test("with a relative base URL (a page's own server), sign-in calls carry no token and their 401 is no expiry", async () => {
  globalThis.location = { href: "http://page.example/app/" };
  try {
    const { createAssistantClient } = await import("../dist/index.js");
    const seen = [];
    const stub = async (req) => {
      seen.push([new URL(req.url).pathname, req.headers.get("Authorization")]);
      const body = { error: { code: "invalid_credentials", message: "the email or password is wrong", request_id: "r-4" } };
      return new Response(JSON.stringify(body), { status: 401, headers: { "Content-Type": "application/json" } });
    };
    const session = { access_token: "a", refresh_token: "r", token_type: "Bearer", expires_in: 900, user: {} };
    const client = createAssistantClient({ session, fetch: stub });
    await assert.rejects(client.login("ada@example.com", "wrong"), (e) => e.code === "invalid_credentials");
    assert.deepEqual(seen, [["/api/v1/auth/login", null]]);
    assert.equal(client.credentials.session, session, "the session is left as it was");
  } finally {
    delete globalThis.location;
  }
});
