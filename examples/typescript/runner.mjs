// A TypeScript-style agent runner that uses tether over HTTP, with Node's own fetch and nothing else.
// Plain ES module with JSDoc types for editors and `tsc --checkJs` (not run here: no npm packages); `node runner.mjs`.
//
//   TETHER_API_URL    default http://127.0.0.1:8787
//   TETHER_API_TOKEN  one of the server's api.tokens (omit when the server has none)
//   TETHER_CHANNEL    default console;  TETHER_PARENT: the conversation the sub-agent's thread goes under
//
// What it does, as a runner does when it spawns a sub-agent:
//   1. bind the sub-agent's session to a new child conversation (a thread) under the parent, idempotently;
//   2. when the sub-agent completes, enqueue its completion event;
//   3. poll GET /v1/events/{eventId} until the delivery is delivered (or dead), and print the outcome as JSON.

import { randomUUID } from "node:crypto";

/**
 * @typedef {{channel: string, accountId?: string, conversationId?: string | null,
 *            parentConversationId?: string | null}} ConversationRef
 * @typedef {{bindingId: string, targetSessionKey: string, conversation: ConversationRef, status: string,
 *            expiresAt: number | null}} SessionBindingRecord
 * @typedef {{eventId: string, kind: "task_completion", targetSessionKey: string, requester: ConversationRef,
 *            content: {text: string}, identity?: {username?: string, avatarUrl?: string | null},
 *            createdAt?: number}} CompletionEvent
 * @typedef {{deliveryId: string, status: string | null, messageIds?: string[], lastError?: string | null}} Delivery
 * @typedef {{eventId: string, known: boolean, decision: {mode: string, reason: string} | null,
 *            deliveries: Delivery[], deadLetters: {reason: string}[]}} Explanation
 * @typedef {{error: string, message: string, field: string | null}} ApiError
 */

const base = (process.env.TETHER_API_URL ?? "http://127.0.0.1:8787").replace(/\/$/, "");
const token = process.env.TETHER_API_TOKEN;
const channel = process.env.TETHER_CHANNEL ?? "console";
const parent = process.env.TETHER_PARENT ?? "main";

class ApiFailure extends Error {
  /** @param {number} status @param {ApiError | null} body */
  constructor(status, body) {
    super(`HTTP ${status}: ${body ? `${body.error}: ${body.field ? body.field + ": " : ""}${body.message}` : ""}`);
    this.status = status;
    this.body = body;
  }
}

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One call, retried on what tether says is worth retrying: 409 (the same Idempotency-Key still running),
 * 503 (Redis away), and a lost connection or timeout — safe for binds because of the Idempotency-Key.
 * @param {string} method @param {string} path @param {unknown} [body] @param {Record<string, string>} [headers]
 * @returns {Promise<{status: number, body: any, headers: Headers}>}
 */
async function call(method, path, body, headers = {}) {
  for (let attempt = 1; ; attempt++) {
    let response;
    try {
      response = await fetch(base + path, {
        method,
        headers: {
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      if (attempt >= 8) throw err;
      await sleep(200 * attempt);
      continue;
    }
    const text = await response.text();
    const parsed = text ? JSON.parse(text) : null;
    if ((response.status === 409 || response.status === 503) && attempt < 8) {
      await sleep(1000 * Number(response.headers.get("retry-after") ?? "1"));
      continue;
    }
    if (response.status >= 400 && response.status !== 404) throw new ApiFailure(response.status, parsed);
    return { status: response.status, body: parsed, headers: response.headers };
  }
}

/**
 * Spawn: bind the sub-agent's session to a new thread under the parent conversation.
 * @param {string} sessionKey @param {string} label @returns {Promise<SessionBindingRecord>}
 */
export async function bindChild(sessionKey, label) {
  const idempotencyKey = `spawn:${sessionKey}`; // the same key on every retry of this spawn
  const { body } = await call("POST", "/v1/bindings", {
    targetSessionKey: sessionKey, targetKind: "subagent", placement: "child", label,
    conversation: { channel, parentConversationId: parent },
  }, { "Idempotency-Key": idempotencyKey });
  return body;
}

/** @param {CompletionEvent} event @returns {Promise<string[]>} the job ids */
export async function enqueue(event) {
  const { body } = await call("POST", "/v1/events", event);
  return body.jobIds;
}

/**
 * @param {string} eventId @param {number} timeoutMs
 * @returns {Promise<Explanation>} once every delivery is delivered or dead
 */
export async function waitForDelivery(eventId, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, body } = await call("GET", `/v1/events/${encodeURIComponent(eventId)}`);
    /** @type {Explanation | null} */
    const found = status === 200 ? body : null;
    if (found && found.deadLetters.length > 0) return found;
    if (found && found.deliveries.length > 0 &&
        found.deliveries.every((d) => d.status === "delivered" || d.status === "dead")) return found;
    if (Date.now() > deadline) throw new Error(`event ${eventId} not delivered within ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function main() {
  const run = randomUUID().slice(0, 8);
  const sessionKey = `agent:main:subagent:${run}`;
  const binding = await bindChild(sessionKey, `research ${run}`);
  /** @type {CompletionEvent} */
  const event = {
    eventId: `v1:${sessionKey}:run-1`, kind: "task_completion", targetSessionKey: sessionKey,
    requester: { channel, conversationId: parent },
    content: { text: `Task complete: research ${run} is done.` },
    identity: { username: "research-agent" }, createdAt: Date.now(),
  };
  const jobIds = await enqueue(event);
  const explained = await waitForDelivery(event.eventId);
  console.log(JSON.stringify({
    sessionKey, bindingId: binding.bindingId, thread: binding.conversation.conversationId, jobIds,
    decision: explained.decision, deliveries: explained.deliveries.map((d) => ({
      deliveryId: d.deliveryId, status: d.status, messageIds: d.messageIds ?? [] })),
    deadLetters: explained.deadLetters.map((l) => l.reason),
  }));
  const delivered = explained.deliveries.length > 0 && explained.deliveries.every((d) => d.status === "delivered");
  process.exitCode = delivered ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(String(err));
    process.exitCode = 1;
  });
}
