// The client against a real fieldsync server (built from this repository,
// demo tenant seeded, embedded stores, a free 127.0.0.1 port).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { deflateSync } from "node:zlib";

import { FieldsyncClient, FieldsyncError, MemoryStorage, uuidv7 } from "../dist/index.js";
import { PASSWORD, SITE_A, startServer } from "./server.mjs";

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

const fastRetry = { attempts: 4, baseDelayMs: 20, maxDelayMs: 500 };

/** client opens a client on its own storage (or the one given) and logs who in. */
async function client(who, o = {}) {
  const c = await FieldsyncClient.open({ baseUrl: srv.url, storage: o.storage ?? new MemoryStorage(), retry: fastRetry, ...o });
  if (!c.user) await c.login(who, PASSWORD);
  return c;
}

/** net is a fetch a test can switch off, or make lose the answer of matching requests. */
function net() {
  const n = {
    offline: false,
    drop: [], // predicates: the request reaches the server, its answer is lost
    calls: [],
    fetch: async (url, init) => {
      n.calls.push(`${init?.method ?? "GET"} ${url}`);
      if (n.offline) throw new TypeError("fetch failed: offline");
      const res = await fetch(url, init);
      const i = n.drop.findIndex((p) => p(String(url), init));
      if (i >= 0) {
        n.drop.splice(i, 1);
        await res.arrayBuffer();
        throw new TypeError("fetch failed: connection reset");
      }
      return res;
    },
  };
  return n;
}

async function raw(method, path, token, body) {
  const res = await fetch(srv.url + path, {
    method,
    headers: { ...(token ? { Authorization: "Bearer " + token } : {}), ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function loginRaw(username, device = "raw-" + uuidv7()) {
  const r = await raw("POST", "/v1/auth/login", undefined, { username, password: PASSWORD, device_id: device });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

/** freshSnapshot is what a brand-new device of who holds after its first sync. */
async function freshSnapshot(who, bootstrap = "stream") {
  const c = await client(who, { bootstrap, pullLimit: bootstrap === "pull" ? 7 : undefined });
  await c.sync();
  return c.snapshot();
}

/** assertConverged syncs c until its replica equals a fresh device's (server jobs may write meanwhile). */
async function assertConverged(c, who, bootstrap = "stream") {
  let mine, fresh;
  for (let i = 0; i < 4; i++) {
    await c.sync();
    mine = await c.snapshot();
    fresh = await freshSnapshot(who, bootstrap);
    await c.sync();
    if (JSON.stringify(sortDeep(mine)) === JSON.stringify(sortDeep(fresh)) && JSON.stringify(sortDeep(await c.snapshot())) === JSON.stringify(sortDeep(mine))) return;
  }
  assert.fail(`${who}'s replica differs from a fresh device's: ${diff(mine, fresh)}`);
}

/** diff names the records two snapshots disagree on. */
function diff(a, b) {
  const out = [];
  for (const c of new Set([...Object.keys(a), ...Object.keys(b)])) {
    for (const id of new Set([...Object.keys(a[c] ?? {}), ...Object.keys(b[c] ?? {})])) {
      const x = a[c]?.[id], y = b[c]?.[id];
      if (JSON.stringify(sortDeep(x)) !== JSON.stringify(sortDeep(y))) out.push(`${c}/${id}: ${JSON.stringify(x)?.slice(0, 400)} vs ${JSON.stringify(y)?.slice(0, 400)}`);
    }
  }
  return out.slice(0, 5).join("\n") + (out.length > 5 ? `\n… ${out.length} in all` : "");
}

function sortDeep(v) {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortDeep(v[k])]));
  return v;
}

function inspection(extra = {}) {
  return { site_id: SITE_A, category: "sanitation", severity: "low", description: "bins overflowing " + uuidv7(), ...extra };
}

/** png returns a valid w×h PNG (the server checks the real type from the bytes). */
function png(w = 2, h = 2) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, "ascii");
    data.copy(out, 8);
    out.writeUInt32BE(crc(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = Buffer.alloc(h * (1 + 3 * w), 0x7f);
  for (let y = 0; y < h; y++) rows[y * (1 + 3 * w)] = 0;
  return new Uint8Array(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]));
}

/** movie returns an MP4 of about n bytes (ftyp, a video track's handler, random mdat): evidence of kind video. */
function movie(n) {
  const box = (type, body) => {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(8 + body.length, 0);
    b.write(type, 4, "ascii");
    return Buffer.concat([b, body]);
  };
  const hdlr = box("hdlr", Buffer.concat([Buffer.alloc(8), Buffer.from("vide"), Buffer.alloc(13)]));
  const ftyp = box("ftyp", Buffer.from("isom\x00\x00\x02\x00isomiso2avc1mp41", "latin1"));
  return new Uint8Array(Buffer.concat([ftyp, box("moov", box("trak", box("mdia", hdlr))), box("mdat", randomBytes(n))]));
}

/** partOf returns the part number of a presigned part URL, or undefined for any other request. */
function partOf(url) {
  const p = new URL(String(url)).searchParams.get("partNumber");
  return p === null ? undefined : Number(p);
}

const sha256hex = (b) => createHash("sha256").update(b).digest("hex");

describe("auth", () => {
  test("login, refresh, and a refresh whose answer was lost is retried within the grace window", async () => {
    const n = net();
    const c = await client("guard.a1", { fetch: n.fetch });
    assert.equal(c.user.username, "guard.a1");
    await c.refresh();
    n.drop.push((url) => url.endsWith("/v1/auth/refresh"));
    await c.refresh(); // first answer lost; the retry presents the same token and gets a fresh pair
    assert.equal(n.calls.filter((x) => x.endsWith("/v1/auth/refresh")).length, 3);
    const r = await c.sync();
    assert.ok(r.pulled > 0, "a session refreshed after a lost answer still works");
  });

  test("a reused refresh token revokes the session and the client reports loggedOut", async () => {
    const storage = new MemoryStorage();
    const c = await client("guard.a1", { storage });
    const stolen = (await storage.get("meta/session")).refresh;
    await c.refresh();
    await c.sync(); // the new pair is used: the old token is now plain reuse
    assert.equal((await raw("POST", "/v1/auth/refresh", undefined, { refresh_token: stolen })).status, 401);
    const out = [];
    c.on("loggedOut", (e) => out.push(e));
    await assert.rejects(c.refresh(), (e) => e instanceof FieldsyncError && e.status === 401);
    assert.equal(out.length, 1);
    assert.equal(c.user, undefined);
  });

  test("an expired access token is refreshed transparently", async () => {
    const storage = new MemoryStorage();
    const c = await client("guard.a1", { storage });
    const s = await storage.get("meta/session");
    await storage.set("meta/session", { ...s, access: s.access.slice(0, -4) + "AAAA", accessExpiresAt: Date.now() + 3_600_000 });
    const c2 = await FieldsyncClient.open({ baseUrl: srv.url, storage, retry: fastRetry });
    await c2.sync(); // 401 on the forged token → refresh → retried
    assert.ok(c2.user);
  });
});

describe("outbox", () => {
  test("queued offline, kept with its mutation ids across a restart, replayed once online", async () => {
    const storage = new MemoryStorage();
    const n = net();
    const c = await client("guard.a1", { storage, fetch: n.fetch });
    await c.sync();
    n.offline = true;
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await c.create("inspections", inspection()));
    const before = (await c.pending()).map((m) => m.mutation_id);
    assert.equal(before.length, 3);
    await assert.rejects(c.sync(), (e) => e instanceof FieldsyncError && e.code === "network");

    // The app is killed and started again, still offline at first.
    const c2 = await FieldsyncClient.open({ baseUrl: srv.url, storage, retry: fastRetry, fetch: n.fetch });
    assert.equal(c2.deviceId, c.deviceId);
    assert.deepEqual((await c2.pending()).map((m) => m.mutation_id), before, "mutation ids survive the restart");
    n.offline = false;
    const r = await c2.sync();
    assert.equal(r.applied, 3);
    assert.equal((await c2.pending()).length, 0);
    for (const id of ids) assert.equal((await c2.get("inspections", id))?.version, 1);
  });

  test("a push whose answer was lost is retried and answered duplicate: no double record", async () => {
    const n = net();
    const c = await client("guard.a1", { fetch: n.fetch });
    await c.sync();
    const text = "dropped answer " + uuidv7();
    const id = await c.create("inspections", inspection({ description: text }));
    n.drop.push((url) => url.endsWith("/v1/sync/push"));
    const r = await c.sync();
    assert.equal(r.duplicates, 1, JSON.stringify(r));
    assert.equal(r.applied, 0);
    const cs = await client("cs.a1");
    await cs.sync();
    const same = (await cs.list("inspections")).filter((x) => x.description === text);
    assert.deepEqual(same.map((x) => [x.id, x.version]), [[id, 1]]);
  });

  test("429 and 503 are retried after Retry-After, and batches follow /v1/sync/config", async () => {
    let pushes = 0;
    const sizes = [];
    const f = async (url, init) => {
      if (String(url).endsWith("/v1/sync/config")) {
        const res = await fetch(url, init);
        const cfg = await res.json();
        return new Response(JSON.stringify({ ...cfg, max_mutations: 2 }), { status: 200, headers: { "Content-Type": "application/json" } });
      }
      if (String(url).endsWith("/v1/sync/push")) {
        pushes++;
        if (pushes === 1) return new Response(JSON.stringify({ type: "x", title: "t", status: 429, detail: "slow down", code: "rate_limited" }), { status: 429, headers: { "Retry-After": "1", "Content-Type": "application/problem+json" } });
        if (pushes === 2) return new Response("{}", { status: 503, headers: { "Content-Type": "application/problem+json" } });
        sizes.push(JSON.parse(init.body).mutations.length);
      }
      return fetch(url, init);
    };
    const c = await client("guard.a1", { fetch: f, retry: { attempts: 4, baseDelayMs: 20, maxDelayMs: 5000 } });
    for (let i = 0; i < 5; i++) await c.create("inspections", inspection());
    const t0 = Date.now();
    const r = await c.sync();
    assert.ok(Date.now() - t0 >= 1000, "waited for Retry-After");
    assert.equal(r.applied, 5);
    assert.deepEqual(sizes, [2, 2, 1]);
  });

  test("a refused mutation leaves the outbox and is reported with its code", async () => {
    const c = await client("guard.a1");
    const rejected = [];
    c.on("rejected", (e) => rejected.push(e));
    await c.create("work_orders", { site_id: SITE_A, title: "guards do not raise orders here" });
    await c.create("inspections", inspection());
    const r = await c.sync();
    assert.equal(r.rejected, 1);
    assert.equal(r.applied, 1);
    assert.equal(rejected[0].code, "forbidden");
    assert.equal(rejected[0].collection, "work_orders");
    assert.equal((await c.pending()).length, 0);
  });
});

describe("pull", () => {
  test("a conflict is surfaced with the server's record", async () => {
    const guard = await client("guard.a1");
    const id = await guard.create("inspections", inspection({ description: "leak in B2" }));
    await guard.sync();
    const cs = await client("cs.a1");
    await cs.sync();
    await cs.update("inspections", id, { description: "leak in B2, near the ramp" });
    await cs.sync();
    const conflicts = [];
    guard.on("conflict", (e) => conflicts.push(e));
    await guard.update("inspections", id, { description: "leak in B2 (guard)" }); // base_version 1: stale
    const r = await guard.sync();
    assert.equal(r.conflicts, 1);
    assert.equal(conflicts.length, 1);
    assert.equal(conflicts[0].id, id);
    assert.equal(conflicts[0].serverRecord.description, "leak in B2, near the ramp");
    assert.equal((await guard.get("inspections", id)).description, "leak in B2, near the ramp");
  });

  test("a work order reassigned away arrives as a delete", async () => {
    const admin = await loginRaw("admin");
    const mk = async (name) => {
      const u = { username: name.toLowerCase().replace(" ", "") + "." + uuidv7().slice(-6), password: "tech-pass-2026-x", name, role: "technician", department: "engineering", site_ids: [SITE_A] };
      const r = await raw("POST", "/v1/admin/users", admin.access_token, u);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return { ...u, id: r.body.id };
    };
    const x = await mk("Tech X");
    const y = await mk("Tech Y");
    const cs = await client("cs.a1");
    const order = await cs.create("work_orders", { site_id: SITE_A, title: "Replace lobby light", department: "engineering", priority: "normal", source: "planned" });
    await cs.action("work_orders", order, "assign", { assignee_id: x.id }, 1);
    await cs.sync();
    const tx = await FieldsyncClient.open({ baseUrl: srv.url, storage: new MemoryStorage(), retry: fastRetry });
    await tx.login(x.username, x.password);
    await tx.sync();
    assert.equal((await tx.get("work_orders", order))?.assignee_id, x.id);
    await cs.action("work_orders", order, "assign", { assignee_id: y.id });
    await cs.sync();
    const changes = [];
    tx.on("change", (e) => changes.push(e));
    await tx.sync();
    assert.equal(await tx.get("work_orders", order), undefined);
    assert.ok(changes.some((e) => e.deleted.some((d) => d.id === order)));
  });

  test("bootstrap plus incremental pulls equal a fresh bootstrap (stream and paged)", async () => {
    const cs = await client("cs.a1");
    await cs.sync(); // NDJSON bootstrap
    const guard = await client("guard.a1");
    await guard.sync();
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await guard.create("inspections", inspection()));
    await guard.sync();
    await guard.update("inspections", ids[0], { severity: "high" });
    await guard.delete("inspections", ids[1]);
    await guard.sync();
    await cs.sync(); // incremental
    assert.equal(await cs.get("inspections", ids[1]), undefined);
    assert.equal((await cs.get("inspections", ids[0])).severity, "high");
    await assertConverged(cs, "cs.a1", "stream");
    await assertConverged(cs, "cs.a1", "pull");
  });

  test("a bootstrap stream that breaks off part-way is not started over: the paged pull fills the replica", async () => {
    let streams = 0;
    const cut = async (url, init) => {
      const res = await fetch(url, init);
      if (!String(url).includes("/v1/sync/bootstrap")) return res;
      streams++;
      const whole = new Uint8Array(await res.arrayBuffer());
      const part = whole.slice(0, Math.floor(whole.length / 2)); // ends mid-line, no cursor line
      let sent = false;
      const body = new ReadableStream({
        pull(c) {
          // The part first; the link drops on the next read (an error at once would discard it).
          if (sent) c.error(new TypeError("terminated: other side closed"));
          else c.enqueue(part);
          sent = true;
        },
      });
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const cs = await client("cs.a1", { fetch: cut, pullLimit: 7 });
    await cs.sync();
    assert.equal(streams, 1, "the broken stream was started over");
    await assertConverged(cs, "cs.a1", "pull");
    assert.equal(streams, 1);
  });

  test("an SSE changed event makes the client pull", async () => {
    const cs = await client("cs.a1");
    await cs.sync();
    const guard = await client("guard.a1");
    const id = await guard.create("inspections", inspection());
    const seen = new Promise((resolve) => cs.on("change", (e) => e.upserted.some((u) => u.id === id) && resolve()));
    const stop = cs.live();
    try {
      await new Promise((r) => setTimeout(r, 300));
      await guard.sync();
      await Promise.race([seen, new Promise((_, rej) => setTimeout(() => rej(new Error("no change within 15 s of the push")), 15_000))]);
    } finally {
      stop();
    }
    assert.ok(await cs.get("inspections", id));
  });
});

describe("photos", () => {
  test("a photo queued offline is uploaded on the next sync and cited by its record", async () => {
    const n = net();
    const c = await client("guard.a1", { fetch: n.fetch });
    n.offline = true;
    const photo = await c.uploadPhoto({ bytes: png(), contentType: "image/png" });
    const id = await c.create("inspections", inspection({ photo_ids: [photo] }));
    assert.deepEqual(await c.pendingUploads(), [photo]);
    n.offline = false;
    const r = await c.sync();
    assert.equal(r.uploads, 1);
    assert.deepEqual(await c.pendingUploads(), []);
    assert.deepEqual((await c.get("inspections", id)).photo_ids, [photo]);
    const token = (await loginRaw("guard.a1")).access_token;
    const m = await raw("GET", "/v1/media/" + photo, token);
    assert.equal(m.status, 200);
    assert.equal(m.body.status, "stored");
  });

  test("when the object store cannot be reached the bytes go through the API", async () => {
    const api = new URL(srv.url).host;
    const f = async (url, init) => {
      if (new URL(url).host !== api) throw new TypeError("fetch failed: object store unreachable");
      return fetch(url, init);
    };
    const c = await client("guard.a1", { fetch: f });
    const photo = await c.uploadPhoto({ bytes: png(3, 3), contentType: "image/png" });
    assert.deepEqual(await c.pendingUploads(), []);
    const token = (await loginRaw("guard.a1")).access_token;
    assert.equal((await raw("GET", "/v1/media/" + photo, token)).body.status, "stored");
  });
});

describe("resumable uploads", () => {
  test("an upload cut off after its first part is finished after a restart by a new client, sending only the missing parts", async () => {
    const storage = new MemoryStorage();
    const body = movie(12 << 20); // 3 parts: 5 MiB, 5 MiB, the rest
    // The first client: one part reaches the store, then the signal is gone for good.
    let through; // the part that got through
    let offline = false;
    const f1 = async (url, init) => {
      const n = partOf(url);
      if (offline || (n !== undefined && through !== undefined)) throw new TypeError("fetch failed: no signal");
      if (n === undefined) return fetch(url, init);
      through = n;
      const res = await fetch(url, init);
      offline = true;
      return res;
    };
    let first = await client("guard.a1", { storage, fetch: f1 });
    const id = await first.uploadMedia({ bytes: body, contentType: "video/mp4", kind: "video" });
    assert.ok(through !== undefined, "no part was sent");
    assert.deepEqual(await first.pendingUploads(), [id]);
    first = undefined; // the app is killed

    const token = (await loginRaw("guard.a1")).access_token;
    const state = await raw("GET", `/v1/media/${id}/multipart`, token);
    assert.equal(state.status, 200, JSON.stringify(state.body));
    assert.equal(state.body.part_count, 3);
    assert.deepEqual(state.body.parts.map((p) => p.number), [through]);

    // The app restarts: a new client on the same storage, still logged in.
    const sent = [];
    const f2 = async (url, init) => {
      const n = partOf(url);
      if (n !== undefined) sent.push(n);
      return fetch(url, init);
    };
    const second = await FieldsyncClient.open({ baseUrl: srv.url, storage, retry: fastRetry, fetch: f2 });
    assert.ok(second.user, "the session survived the restart");
    const r = await second.sync();
    assert.equal(r.uploads, 1);
    assert.deepEqual(await second.pendingUploads(), []);
    assert.deepEqual(sent.sort(), [1, 2, 3].filter((n) => n !== through));
    const m = await raw("GET", "/v1/media/" + id, token);
    assert.equal(m.body.status, "stored");
    assert.equal(m.body.kind, "video");
    assert.equal(m.body.size, body.length);
    assert.equal(m.body.sha256, sha256hex(body));
  });

  test("a part corrupted on the way is refused by the store (BadDigest) and sent again", async () => {
    const body = movie(11 << 20);
    const answers = []; // [part, status] of every part PUT
    let corrupted = false;
    const f = async (url, init) => {
      const n = partOf(url);
      if (n === undefined) return fetch(url, init);
      let data = init.body;
      if (n === 2 && !corrupted) {
        corrupted = true;
        data = new Uint8Array(init.body);
        data[1000] ^= 0xff; // a bad radio link flips a byte; the CRC32C is the true one's
      }
      const res = await fetch(url, { ...init, body: data });
      answers.push([n, res.status]);
      if (res.status === 400) assert.match(await res.clone().text(), /BadDigest/);
      return res;
    };
    const c = await client("guard.a1", { fetch: f, partConcurrency: 1 });
    const id = await c.uploadMedia({ bytes: body, contentType: "video/mp4" });
    assert.deepEqual(await c.pendingUploads(), []);
    assert.deepEqual(answers, [
      [1, 200],
      [2, 400],
      [2, 200],
      [3, 200],
    ]);
    const token = (await loginRaw("guard.a1")).access_token;
    const m = await raw("GET", "/v1/media/" + id, token);
    assert.equal(m.body.status, "stored");
    assert.equal(m.body.sha256, sha256hex(body));
  });

  test("with resumableAboveBytes 0 a photo of one part goes the resumable way too", async () => {
    const parts = [];
    const f = async (url, init) => {
      const n = partOf(url);
      if (n !== undefined) parts.push(n);
      return fetch(url, init);
    };
    const c = await client("guard.a1", { fetch: f, resumableAboveBytes: 0 });
    const bytes = png(40, 30);
    const id = await c.uploadPhoto({ bytes, contentType: "image/png" });
    assert.deepEqual(parts, [1]);
    const token = (await loginRaw("guard.a1")).access_token;
    const m = await raw("GET", "/v1/media/" + id, token);
    assert.equal(m.body.status, "stored");
    assert.equal(m.body.kind, "photo");
    assert.equal(m.body.width, 40);
    assert.equal(m.body.sha256, sha256hex(bytes));
  });

  test("cancelUpload gives a resumable upload up on the server and leaves the queue", async () => {
    const body = movie(6 << 20);
    const f = async (url, init) => {
      if (partOf(url) !== undefined) throw new TypeError("fetch failed: object store unreachable");
      return fetch(url, init);
    };
    const c = await client("guard.a1", { fetch: f });
    const id = await c.uploadMedia({ bytes: body, contentType: "video/mp4" });
    assert.deepEqual(await c.pendingUploads(), [id]);
    const token = (await loginRaw("guard.a1")).access_token;
    assert.equal((await raw("GET", `/v1/media/${id}/multipart`, token)).status, 200);
    await c.cancelUpload(id);
    assert.deepEqual(await c.pendingUploads(), []);
    assert.equal((await raw("GET", `/v1/media/${id}/multipart`, token)).status, 404);
    assert.equal((await raw("GET", "/v1/media/" + id, token)).body.status, "pending");
  });
});

describe("convergence", () => {
  test("TypeScript and Go devices pushing and pulling at once end with identical replicas", async () => {
    // The Go side: fieldsync sim plays site A's staff (guards, technicians,
    // customer service, each on its own phones, with offline spells and lost
    // answers) and exits 1 if any Go device's copy differs from the server's.
    const sim = spawn(srv.bin, ["sim", "-url", srv.url, "-duration", "8s", "-think", "100ms", "-quiet"], { stdio: ["ignore", "pipe", "pipe"] });
    let simOut = "";
    sim.stdout.on("data", (d) => (simOut += d));
    sim.stderr.on("data", (d) => (simOut += d));
    const simDone = new Promise((resolve) => sim.on("exit", (code) => resolve(code)));

    // The TypeScript side, meanwhile: guards create and edit, the desk edits the same records.
    const devices = [await client("guard.a1"), await client("guard.a2"), await client("cs.a1"), await client("cs.a1")];
    const who = ["guard.a1", "guard.a2", "cs.a1", "cs.a1"];
    for (const d of devices) await d.sync();
    const until = Date.now() + 5000;
    let round = 0;
    await Promise.all(
      devices.map(async (d, i) => {
        while (Date.now() < until) {
          round++;
          if (who[i].startsWith("guard")) {
            await d.create("inspections", inspection({ description: `ts round ${round}` }));
          } else {
            const mine = await d.list("inspections");
            const pick = mine[(round * 7 + i) % Math.max(1, mine.length)];
            if (pick) await d.update("inspections", pick.id, { severity: ["low", "medium", "high"][round % 3] });
          }
          await d.sync();
          await new Promise((r) => setTimeout(r, 50));
        }
      }),
    );
    const code = await simDone;
    assert.equal(code, 0, "the Go devices diverged:\n" + simOut);
    for (let i = 0; i < devices.length; i++) await assertConverged(devices[i], who[i]);
    // Both desk devices hold the same replica (each equals the server's, as the Go devices' did).
    assert.deepEqual(sortDeep(await devices[2].snapshot()), sortDeep(await devices[3].snapshot()));
  });
});
