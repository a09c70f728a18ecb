// The built package in a real browser: headless Chromium (the system's, driven by
// playwright-core) loads test/page/ from its own origin and uses the SDK against the real
// server through CORS: sign in, stream a reply into the page, upload through an expired
// access token, show an error's request id.
// The assertions read the page's DOM.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const apiUrl = process.env.ASSISTANT_URL;
const pagePort = Number(process.env.PAGE_PORT);
if (!apiUrl || !pagePort) throw new Error("ASSISTANT_URL and PAGE_PORT are not set: run scripts/sdk-ts.sh (make sdk-ts)");

const root = fileURLToPath(new URL("..", import.meta.url));
// Only what the page needs is served: the page, the built package, its dependency.
const served = ["/test/page/", "/dist/", "/node_modules/openapi-fetch/dist/"];
const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".map": "application/json" };

let server;
let browser;
const pageErrors = [];

before(async () => {
  server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://page").pathname));
    if (!served.some((p) => path.startsWith(p)) || !types[extname(path)]) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(join(root, path));
      res.writeHead(200, { "Content-Type": types[extname(path)], "Cache-Control": "no-store" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve, reject) => server.listen(pagePort, "127.0.0.1", resolve).once("error", reject));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // A browser of its own is never downloaded; these flags keep the system's Chromium
    // off the network it has no business with (playwright gives it a fresh profile).
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
});

test("a page signs in, streams a reply into itself, renews its session and shows an error's request id", async () => {
  const page = await browser.newPage();
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  const origin = `http://127.0.0.1:${pagePort}`;
  await page.goto(`${origin}/test/page/index.html?api=${encodeURIComponent(apiUrl)}`);
  await page.waitForSelector("body[data-ready=true]");

  const email = `page-${Date.now()}@example.com`;
  await page.fill("#email", email);
  await page.fill("#password", "correct horse battery");
  await page.click("#signup");
  await page.waitForFunction(() => document.getElementById("who").textContent || document.getElementById("error-code").textContent);
  assert.equal(await page.textContent("#error-code"), "", await page.textContent("#error-message"));
  assert.equal(await page.textContent("#who"), email);

  const message = "What should I see in Lisbon in two days?";
  await page.fill("#message", message);
  await page.click("#send");
  await page.waitForFunction(() => ["complete", "cancelled", "failed"].includes(document.getElementById("status").textContent));
  assert.equal(await page.textContent("#error-code"), "", await page.textContent("#error-message"));
  assert.equal(await page.textContent("#status"), "complete");
  const reply = "This is the echo provider (no AI model is configured). You said: " + message;
  assert.equal(await page.textContent("#reply"), reply);
  // The echo provider sends a word at a time: the page got each as its own delta.
  assert.equal(await page.getAttribute("#reply", "data-deltas"), String(reply.split(" ").length));

  // The access token expires: an upload (a multipart body, sent twice) renews the session
  // once and goes through.
  const refreshes = [];
  page.on("response", (r) => r.url().endsWith("/auth/refresh") && refreshes.push(r.status()));
  await page.evaluate(() => {
    const c = window.assistantClient;
    c.credentials.useSession({ ...c.credentials.session, access_token: "expired" });
  });
  await page.setInputFiles("#file", { name: "día 1.md", mimeType: "text/markdown", buffer: Buffer.from("# Lisbon\n\nBelém, Alfama.\n") });
  await page.click("#upload");
  await page.waitForFunction(() => document.getElementById("uploaded").textContent || document.getElementById("error-code").textContent);
  assert.equal(await page.textContent("#error-code"), "", await page.textContent("#error-message"));
  assert.equal(await page.textContent("#uploaded"), `día 1.md ${Buffer.byteLength("# Lisbon\n\nBelém, Alfama.\n")}`);
  assert.deepEqual(refreshes, [200]);

  const answered = page.waitForResponse((r) => r.url().includes("/conversations/0190a3c2-"));
  await page.click("#missing");
  const response = await answered;
  assert.equal(response.status(), 404);
  await page.waitForFunction(() => document.getElementById("error-request-id").textContent);
  assert.equal(await page.textContent("#error-code"), "not_found");
  // The id the page shows (from the envelope) is the one the server sent as X-Request-ID.
  assert.equal(await page.textContent("#error-request-id"), response.headers()["x-request-id"]);
  assert.match(await page.textContent("#error-request-id"), /^[0-9a-f-]{36}$/);

  assert.deepEqual(pageErrors, []);
  await page.close();
});
