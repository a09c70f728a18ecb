// The SDK's whole journey against the real server (scripts/sdk-ts.sh starts it, with the
// echo provider, and passes its address as ASSISTANT_URL): every call goes over the
// network to bin/assistant and its PostgreSQL.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError, createAssistantClient, isApiError, unwrap } from "../dist/index.js";

const baseUrl = process.env.ASSISTANT_URL;
if (!baseUrl) throw new Error("ASSISTANT_URL is not set: run scripts/sdk-ts.sh (make sdk-ts)");

// The echo provider answers with this text (server/llm/echo.go).
const echo = (message) => "This is the echo provider (no AI model is configured). You said: " + message;
const words = (n) => Array.from({ length: n }, (_, i) => `w${i}`).join(" ");
const email = () => `sdk-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
const password = "correct horse battery";

// A fetch that records each exchange, so tests can see what went over the wire.
function recording() {
  const log = [];
  const f = async (input, init) => {
    const req = new Request(input, init);
    const entry = { method: req.method, url: req.url, headers: req.headers };
    log.push(entry);
    const res = await fetch(req);
    entry.status = res.status;
    entry.requestId = res.headers.get("X-Request-ID");
    return res;
  };
  return { fetch: f, log, count: (path) => log.filter((e) => new URL(e.url).pathname.endsWith(path)).length };
}

async function rejects(promise, want) {
  try {
    await promise;
  } catch (err) {
    assert.ok(isApiError(err), `want an ApiError, got ${err}`);
    assert.ok(err instanceof ApiError);
    for (const [k, v] of Object.entries(want)) assert.deepEqual(err[k], v, `ApiError.${k}`);
    assert.match(err.requestId, /^[0-9a-f-]{36}$/, "a request id");
    return err;
  }
  assert.fail("the call succeeded; want an ApiError");
}

async function signedUp(options = {}) {
  const client = createAssistantClient({ baseUrl, ...options });
  const address = email();
  await client.register({ email: address, password, display_name: "SDK" });
  return { client, address };
}

test("register, refresh, and a session that renews itself once on 401", async () => {
  const changes = [];
  const rec = recording();
  const { client, address } = await signedUp({ fetch: rec.fetch, onSessionChange: (s) => changes.push(s) });
  const me = await unwrap(client.api.GET("/users/me"));
  assert.equal(me.email, address);
  assert.equal(changes.length, 1, "register sets the session");

  const first = client.credentials.session;
  const renewed = await client.refresh();
  assert.notEqual(renewed.refresh_token, first.refresh_token);
  assert.equal(client.credentials.session, renewed);

  // An access token the server refuses (as an expired one is): the next calls refresh
  // once between them, and each is sent again with the new token.
  client.credentials.useSession({ ...renewed, access_token: renewed.access_token + "x" });
  const before = rec.count("/auth/refresh");
  const results = await Promise.all([1, 2, 3].map(() => unwrap(client.api.GET("/users/me"))));
  assert.deepEqual(results.map((u) => u.email), [address, address, address]);
  assert.equal(rec.count("/auth/refresh") - before, 1, "one refresh for three refused calls");
  assert.notEqual(client.credentials.session.refresh_token, renewed.refresh_token);

  // A refresh token used twice ends the session: the second client is refused, and the
  // first one's next refusal ends its session instead of looping.
  const spent = renewed.refresh_token;
  const thief = createAssistantClient({ baseUrl, session: { ...renewed, refresh_token: spent } });
  await rejects(thief.refresh(), { status: 401, code: "unauthorized" });
  client.credentials.useSession({ ...client.credentials.session, access_token: "not-a-token" });
  const refreshesBefore = rec.count("/auth/refresh");
  await rejects(unwrap(client.api.GET("/users/me")), { status: 401, code: "unauthorized" });
  assert.equal(rec.count("/auth/refresh") - refreshesBefore, 1, "one refresh attempt, then the 401 stands");
  assert.equal(client.credentials.session, undefined, "the session ended");
  assert.equal(changes.at(-1), undefined);

  // A wrong password is an answer, not an expired session: no refresh.
  await rejects(client.login(address, "wrong password!"), { status: 401, code: "invalid_credentials" });
  await client.login(address, password);
  await client.logout();
  assert.equal(client.credentials.session, undefined);
});

test("an API key signs requests, is refused on account operations, and stops when revoked", async () => {
  const { client } = await signedUp();
  const key = await unwrap(
    client.api.POST("/users/me/api-keys", { body: { name: "sdk journey", current_password: password } }),
  );
  assert.match(key.key, /.{20,}/);

  const rec = recording();
  const script = createAssistantClient({ baseUrl, apiKey: key.key, fetch: rec.fetch });
  const conv = await unwrap(script.api.POST("/conversations", { body: { title: "from a key" } }));
  assert.equal(conv.title, "from a key");
  await rejects(unwrap(script.api.GET("/users/me/api-keys")), { status: 403, code: "forbidden" });

  const keys = await unwrap(client.api.GET("/users/me/api-keys"));
  assert.deepEqual(keys.items.map((k) => k.id), [key.id]);
  await unwrap(client.api.DELETE("/users/me/api-keys/{key_id}", { params: { path: { key_id: key.id } } }));
  await rejects(unwrap(script.api.GET("/conversations")), { status: 401, code: "unauthorized" });
  assert.equal(rec.count("/auth/refresh"), 0, "an API key is never refreshed");
});

test("conversations: create, list, get, rename, delete", async () => {
  const { client } = await signedUp();
  const a = await unwrap(client.api.POST("/conversations", { body: { title: "Trip to Lisbon" } }));
  const b = await unwrap(client.api.POST("/conversations", { body: {} }));
  const list = await unwrap(client.api.GET("/conversations", { params: { query: { limit: 10 } } }));
  assert.deepEqual(new Set(list.items.map((c) => c.id)), new Set([a.id, b.id]));
  const renamed = await unwrap(
    client.api.PATCH("/conversations/{conversation_id}", {
      params: { path: { conversation_id: a.id } },
      body: { title: "Lisbon, May" },
    }),
  );
  assert.equal(renamed.title, "Lisbon, May");
  const got = await unwrap(client.api.GET("/conversations/{conversation_id}", { params: { path: { conversation_id: a.id } } }));
  assert.equal(got.title, "Lisbon, May");
  await unwrap(client.api.DELETE("/conversations/{conversation_id}", { params: { path: { conversation_id: b.id } } }));
  await rejects(
    unwrap(client.api.GET("/conversations/{conversation_id}", { params: { path: { conversation_id: b.id } } })),
    { status: 404, code: "not_found" },
  );
});

test("a streamed reply cut off mid-way resumes with Last-Event-ID and loses nothing", async () => {
  // The first stream's connection is cut after its third delta, as a dropped network
  // would; the SDK must re-attach to the same reply and go on from the bytes it had.
  const seen = [];
  let cut = false;
  const flaky = async (input, init) => {
    const req = new Request(input, init);
    seen.push({ url: req.url, lastEventId: req.headers.get("Last-Event-ID") });
    const res = await fetch(req);
    if (cut || !req.url.endsWith("/messages/stream")) return res;
    cut = true;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let drop = false;
    const body = new ReadableStream({
      async pull(c) {
        if (drop) {
          // Only once the reader has taken the last chunk: erroring drops queued chunks.
          await reader.cancel(); // closes the connection
          return c.error(new TypeError("network connection lost"));
        }
        const { done, value } = await reader.read();
        if (done) return c.close();
        c.enqueue(value);
        text += decoder.decode(value, { stream: true });
        drop = (text.match(/event: delta\n/g) ?? []).length >= 3 && text.endsWith("\n\n");
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
  const { client } = await signedUp({ fetch: flaky });
  const conv = await unwrap(client.api.POST("/conversations", { body: {} }));
  const content = words(40);
  const stream = client.streamMessage(conv.id, { content });

  const events = [];
  for await (const e of stream) events.push(e);
  const types = events.map((e) => e.type);
  assert.equal(types[0], "message");
  assert.equal(types.at(-1), "done");
  const done = events.at(-1).data;
  assert.equal(done.status, "complete");
  assert.equal(done.content, echo(content));
  assert.equal(done.id, stream.assistantMessageId);
  const text = events.filter((e) => e.type === "delta").map((e) => e.data.content).join("");
  assert.equal(text, done.content, "the deltas add up to the stored reply, nothing twice, nothing missed");

  assert.equal(stream.resumes, 1);
  const reattach = seen.filter((s) => s.url.endsWith(`/messages/${done.id}/events`));
  assert.equal(reattach.length, 1);
  const third = events.filter((e) => e.type === "delta")[2];
  assert.equal(reattach[0].lastEventId, String(third.id), "re-attached after the last delta received");
  assert.ok(third.id < new TextEncoder().encode(done.content).length, "cut off before the end");

  // Re-attaching to the ended reply (a reload) from the third delta: the server sends only
  // the final event, and the SDK yields the text past that point as one delta before it.
  const later = [];
  for await (const e of client.followReply(conv.id, done.id, third.id)) later.push(e);
  const tail = new TextDecoder().decode(new TextEncoder().encode(done.content).slice(third.id));
  assert.deepEqual(
    later.map((e) => [e.type, e.type === "delta" ? e.data.content : e.data.status]),
    [["delta", tail], ["done", "complete"]],
  );
});

test("regenerating a reply streams a new sibling of it", async () => {
  const { client } = await signedUp();
  const conv = await unwrap(client.api.POST("/conversations", { body: {} }));
  const first = await client.streamMessage(conv.id, { content: "Once more" }).reply();
  const stream = client.streamRegenerate(conv.id, first.id);
  const events = [];
  for await (const e of stream) events.push(e);
  const [message, done] = [events[0], events.at(-1)];
  assert.equal(message.type, "message");
  assert.equal(message.data.user_message.id, first.parent_id);
  assert.equal(done.type, "done");
  assert.notEqual(done.data.id, first.id);
  assert.equal(done.data.content, echo("Once more"));
  assert.deepEqual(done.data.sibling_ids, [first.id, done.data.id]);
});

test("cancel stops a reply being streamed and stores its text so far", async () => {
  const { client } = await signedUp();
  const conv = await unwrap(client.api.POST("/conversations", { body: {} }));
  const content = words(400); // 400 words at ECHO_DELAY each: far longer than the test
  const stream = client.streamMessage(conv.id, { content });
  let cancelled;
  let text = "";
  let done;
  for await (const e of stream) {
    if (e.type === "delta") {
      text += e.data.content;
      cancelled ??= unwrap(
        client.api.POST("/conversations/{conversation_id}/messages/{message_id}/cancel", {
          params: { path: { conversation_id: conv.id, message_id: stream.assistantMessageId } },
        }),
      );
    }
    if (e.type === "done") done = e.data;
  }
  const stored = await cancelled;
  assert.equal(done.status, "cancelled");
  assert.equal(stored.status, "cancelled");
  assert.equal(done.content, text);
  assert.ok(echo(content).startsWith(text) && text.length < echo(content).length, "a prefix of the reply");
});

test("upload a file, attach it to a message, download it", async () => {
  const { client } = await signedUp();
  const bytes = "Opening hours: 10:00 to 18:00.\nTickets: 12 €.\n";
  const file = await client.uploadFile(new Blob([bytes], { type: "text/plain" }), "notes — día 1.txt");
  assert.equal(file.filename, "notes — día 1.txt");
  assert.equal(file.size_bytes, new TextEncoder().encode(bytes).length);
  assert.equal(file.content_type.split(";")[0], "text/plain");

  const conv = await unwrap(client.api.POST("/conversations", { body: {} }));
  const exchange = await unwrap(
    client.api.POST("/conversations/{conversation_id}/messages", {
      params: { path: { conversation_id: conv.id } },
      body: { content: "When does it open?", file_ids: [file.id] },
    }),
  );
  assert.deepEqual(exchange.user_message.file_ids, [file.id]);
  assert.equal(exchange.assistant_message.status, "complete");

  const blob = await client.downloadFile(file.id);
  assert.equal(await blob.text(), bytes);

  const listed = await unwrap(client.api.GET("/files"));
  assert.deepEqual(listed.items.map((f) => f.id), [file.id]);
});

test("export a conversation as PDF and Markdown and download both", async () => {
  const { client } = await signedUp();
  const conv = await unwrap(client.api.POST("/conversations", { body: { title: "Exported" } }));
  await client.streamMessage(conv.id, { content: "Lisbon in two days" }).reply();

  const pdf = await unwrap(
    client.api.POST("/conversations/{conversation_id}/exports", {
      params: { path: { conversation_id: conv.id } },
      body: { format: "pdf" },
    }),
  );
  const pdfBytes = new Uint8Array(await (await client.downloadExport(pdf.id)).arrayBuffer());
  assert.equal(pdfBytes.length, pdf.size_bytes);
  assert.equal(new TextDecoder().decode(pdfBytes.slice(0, 5)), "%PDF-");

  const md = await unwrap(
    client.api.POST("/conversations/{conversation_id}/exports", {
      params: { path: { conversation_id: conv.id } },
      body: { format: "markdown" },
    }),
  );
  const text = await (await client.downloadExport(md.id)).text();
  assert.ok(text.includes(echo("Lisbon in two days")), "the reply is in the Markdown export");
});

test("a 404 and a 422 arrive as typed errors from the envelope", async () => {
  const rec = recording();
  const { client } = await signedUp({ fetch: rec.fetch });
  const missing = "0190a3c2-0000-7000-8000-000000000000";

  const notFound = await rejects(
    unwrap(client.api.GET("/conversations/{conversation_id}", { params: { path: { conversation_id: missing } } })),
    { status: 404, code: "not_found", details: [] },
  );
  assert.equal(notFound.requestId, rec.log.at(-1).requestId, "the request id is the X-Request-ID header");

  const invalid = await rejects(unwrap(client.api.POST("/conversations", { body: { title: "" } })), {
    status: 422,
    code: "validation_error",
  });
  assert.deepEqual(invalid.details.map((d) => d.field), ["body.title"]);
  assert.equal(invalid.requestId, rec.log.at(-1).requestId);

  const badLimit = await rejects(unwrap(client.api.GET("/conversations", { params: { query: { limit: 0 } } })), {
    status: 422,
    code: "validation_error",
  });
  assert.deepEqual(badLimit.details.map((d) => d.field), ["query.limit"]);

  // A stream refused before any event throws the same way.
  await rejects(client.streamMessage(missing, { content: "hello" }).reply(), { status: 404, code: "not_found" });
  const conv = await unwrap(client.api.POST("/conversations", { body: {} }));
  await rejects(client.streamMessage(conv.id, { content: "" }).reply(), { status: 422, code: "validation_error" });
  // Text PostgreSQL cannot store is refused by name before anything is written.
  const nul = await rejects(client.streamMessage(conv.id, { content: "before\u0000after" }).reply(), {
    status: 422,
    code: "validation_error",
  });
  assert.deepEqual(nul.details.map((d) => d.field), ["body.content"]);
  const none = await unwrap(client.api.GET("/conversations/{conversation_id}/messages", { params: { path: { conversation_id: conv.id } } }));
  assert.deepEqual(none.items, []);
});
