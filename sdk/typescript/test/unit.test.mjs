// The offline core without a server: storage adapters, ids, backoff.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { IDBFactory, IDBKeyRange } from "fake-indexeddb";

import { backoffDelay, crc32c, crc32cBase64, IndexedDBStorage, md5, md5Base64, MemoryStorage, parseRetryAfter, uuidv7 } from "../dist/index.js";

const pkg = fileURLToPath(new URL("..", import.meta.url));

async function exerciseStorage(s) {
  await s.set("outbox/0000000000000002", { mutation: { mutation_id: "b" } });
  await s.set("outbox/0000000000000001", { mutation: { mutation_id: "a" }, bytes: new Uint8Array([1, 2, 3]) });
  await s.set("rec/inspections/x", { id: "x", version: 3 });
  assert.deepEqual(await s.keys("outbox/"), ["outbox/0000000000000001", "outbox/0000000000000002"]);
  assert.deepEqual((await s.get("outbox/0000000000000001")).bytes, new Uint8Array([1, 2, 3]));
  assert.equal(await s.get("missing"), undefined);
  await s.delete("outbox/0000000000000001");
  await s.delete("never-there");
  assert.deepEqual(await s.keys("outbox/"), ["outbox/0000000000000002"]);
  assert.deepEqual(await s.keys("rec/"), ["rec/inspections/x"]);
}

test("MemoryStorage keeps values, lists keys in order, and copies what it stores", async () => {
  const s = new MemoryStorage();
  await exerciseStorage(s);
  const v = { a: 1 };
  await s.set("k", v);
  v.a = 2;
  assert.deepEqual(await s.get("k"), { a: 1 });
});

test("IndexedDBStorage keeps values across a reopen of the database", async () => {
  const indexedDB = new IDBFactory();
  const s = new IndexedDBStorage({ indexedDB, keyRange: IDBKeyRange, databaseName: "t" });
  await exerciseStorage(s);
  await s.close();
  const again = new IndexedDBStorage({ indexedDB, keyRange: IDBKeyRange, databaseName: "t" });
  assert.deepEqual(await again.get("rec/inspections/x"), { id: "x", version: 3 });
  assert.deepEqual(await again.keys("outbox/"), ["outbox/0000000000000002"]);
  await again.close();
});

test("uuidv7 is a version-7 UUID ordered by time", () => {
  const a = uuidv7(1_700_000_000_000);
  const b = uuidv7(1_700_000_000_001);
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.ok(a < b);
  assert.notEqual(uuidv7(), uuidv7());
});

test("backoff has full jitter under a doubling cap and honours Retry-After", () => {
  const o = { attempts: 6, baseDelayMs: 100, maxDelayMs: 1000 };
  assert.equal(backoffDelay(0, o, () => 0.999), 99.9);
  assert.equal(backoffDelay(3, o, () => 0.5), 400);
  assert.equal(backoffDelay(10, o, () => 1), 1000);
  assert.equal(backoffDelay(0, o, () => 0, 700), 700);
  assert.equal(backoffDelay(0, o, () => 0, 5000), 1000);
  assert.equal(parseRetryAfter("3"), 3000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(parseRetryAfter(null), undefined);
});

test("src/schema.ts is generated from the current openapi/openapi.yaml", () => {
  const dir = mkdtempSync(join(tmpdir(), "fieldsync-types-"));
  try {
    const out = join(dir, "schema.ts");
    execFileSync(process.execPath, [join(pkg, "node_modules", "openapi-typescript", "bin", "cli.js"), join(pkg, "..", "..", "openapi", "openapi.yaml"), "-o", out], { stdio: "ignore" });
    assert.ok(readFileSync(out, "utf8") === readFileSync(join(pkg, "src", "schema.ts"), "utf8"), "src/schema.ts is stale: run `npm run generate` in sdk/typescript");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("live() syncs on ready and changed events and reconnects after the stream ends", async () => {
  const { FieldsyncClient } = await import("../dist/index.js");
  const calls = { events: 0, pulls: 0 };
  const json = (v) => new Response(JSON.stringify(v), { status: 200, headers: { "Content-Type": "application/json" } });
  const user = { id: "u", tenant: "demo", username: "cs.a1", name: "CS", role: "cs_agent", site_ids: ["s"], active: true };
  const fakeFetch = async (url) => {
    const path = new URL(url).pathname;
    if (path === "/v1/auth/login") {
      return json({ access_token: "a", token_type: "Bearer", expires_in: 900, refresh_token: "r", refresh_expires_at: "2027-01-01T00:00:00Z", device_id: "d", user });
    }
    if (path === "/v1/sync/config") return json({ max_mutations: 500, max_push_bytes: 4194304 });
    if (path === "/v1/sync/bootstrap") return new Response('{"cursor":"c0","server_time":"2026-12-06T00:00:00Z"}\n', { status: 200 });
    if (path === "/v1/sync/pull") {
      calls.pulls++;
      return json({ changes: [], cursor: "c" + calls.pulls, has_more: false, server_time: new Date().toISOString() });
    }
    if (path === "/v1/sync/events") {
      calls.events++;
      const body = calls.events === 1 ? "retry: 20\nevent: ready\ndata: {}\n\n" : ": heartbeat\n\nevent: changed\ndata: {}\n\n";
      return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
    }
    return new Response("{}", { status: 404 });
  };
  const c = await FieldsyncClient.open({ baseUrl: "http://fieldsync.test", storage: new MemoryStorage(), fetch: fakeFetch });
  await c.login("cs.a1", "x");
  const stop = c.live();
  const deadline = Date.now() + 5000;
  while ((calls.events < 3 || calls.pulls < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  stop();
  assert.ok(calls.events >= 3, `reconnected ${calls.events - 1} times`);
  assert.ok(calls.pulls >= 2, `pulled ${calls.pulls} times`);
});

test("crc32c matches the RFC 3720 (B.4) and check vectors", () => {
  const ramp = Uint8Array.from({ length: 32 }, (_, i) => i);
  const cases = [
    [new Uint8Array(32), 0x8a9136aa],
    [new Uint8Array(32).fill(0xff), 0x62a8ab43],
    [ramp, 0x46dd794e],
    [ramp.slice().reverse(), 0x113fdb5c],
    [new TextEncoder().encode("123456789"), 0xe3069283],
    [new Uint8Array(0), 0],
  ];
  for (const [input, want] of cases) assert.equal(crc32c(input), want, `${input.length} bytes`);
  assert.equal(crc32cBase64(new TextEncoder().encode("123456789")), Buffer.from("e3069283", "hex").toString("base64"));
});

test("crc32c equals a bit-at-a-time CRC-32C on random buffers (every tail length, views, a 5 MiB part)", () => {
  const slow = (b) => {
    let c = ~0;
    for (const x of b) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    return ~c >>> 0;
  };
  for (const n of [...Array.from({ length: 40 }, (_, i) => i), 1000, 4097, 5 << 20]) {
    const big = randomBytes(n + 7);
    const view = new Uint8Array(big.buffer, big.byteOffset + 3, n);
    assert.equal(crc32c(view), slow(view), `view of length ${n}`);
  }
});

test("md5 matches the RFC 1321 test suite", () => {
  const suite = {
    "": "d41d8cd98f00b204e9800998ecf8427e",
    a: "0cc175b9c0f1b6a831c399e269772661",
    abc: "900150983cd24fb0d6963f7d28e17f72",
    "message digest": "f96b697d7cb7938d525a2f31aaf161d0",
    abcdefghijklmnopqrstuvwxyz: "c3fcd3d76192e4007dfb496cca67e13b",
    ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789: "d174ab98d277d9f5a5611c2c9f419d9f",
    "12345678901234567890123456789012345678901234567890123456789012345678901234567890": "57edf4a22be3c955ac49da2e2107b67a",
  };
  for (const [input, want] of Object.entries(suite)) {
    assert.equal(Buffer.from(md5(new TextEncoder().encode(input))).toString("hex"), want, JSON.stringify(input));
  }
});

test("md5Base64 equals node's crypto MD5 on random buffers (every padding case, and a 5 MiB part)", () => {
  const lengths = [...Array.from({ length: 200 }, (_, i) => i), 511, 512, 513, 1000, 4095, 4096, 65537, 5 << 20];
  for (const n of lengths) {
    const b = randomBytes(n);
    assert.equal(md5Base64(b), createHash("md5").update(b).digest("base64"), `length ${n}`);
    // a view into a larger buffer hashes only its own bytes
    const big = randomBytes(n + 7);
    const view = new Uint8Array(big.buffer, big.byteOffset + 3, n);
    assert.equal(md5Base64(view), createHash("md5").update(view).digest("base64"), `view of length ${n}`);
  }
});
