import { backoffDelay, errorFrom, FieldsyncError, networkError, parseRetryAfter, sleep, type RetryOptions } from "./http.js";
import { crc32cBase64 } from "./crc32c.js";
import type { Storage } from "./storage.js";
import type {
  ActionArgs,
  ActionOf,
  Change,
  Collection,
  Media,
  MediaCreate,
  MediaKind,
  MultipartUpload,
  Mutation,
  MutationResult,
  PullPage,
  RecordOf,
  StoredRecord,
  SyncConfig,
  Tokens,
  User,
  WritableFields,
} from "./types.js";
import { uuidv7 } from "./uuid.js";

/** ClientOptions configure a FieldsyncClient; only baseUrl and storage are required. */
export interface ClientOptions {
  /** baseUrl of the server, e.g. "https://sync.example.com" (no trailing /v1). */
  baseUrl: string;
  /** storage keeps the session, outbox, cursor, replica and queued uploads across restarts. */
  storage: Storage;
  /** tenant sent with login; omit when the server has a default tenant. */
  tenant?: string;
  /** deviceId identifies this phone or browser; generated once and stored when omitted. */
  deviceId?: string;
  /** fetch defaults to globalThis.fetch (pass a wrapper to add headers or simulate a network). */
  fetch?: typeof fetch;
  /** retry tunes retries of transient failures (no answer, 429, 5xx). */
  retry?: RetryOptions;
  /** bootstrap: "stream" (default) takes a new device's first copy from the NDJSON stream, "pull" pages through /v1/sync/pull. */
  bootstrap?: "stream" | "pull";
  /** pullLimit is the page size of /v1/sync/pull (default: the server's default). */
  pullLimit?: number;
  /** random defaults to Math.random (the jitter of backoff). */
  random?: () => number;
  /**
   * resumableAboveBytes: media larger than this go through the resumable
   * (multipart) upload, which survives dropped connections and app restarts
   * sending only the parts the object store lacks (default 5 MiB, one part;
   * 0 sends everything that way, Infinity nothing).
   */
  resumableAboveBytes?: number;
  /** partConcurrency is how many parts of a resumable upload are sent at once (default 3). */
  partConcurrency?: number;
}

/** ConflictEvent: an update was merged, but fields someone else changed since base_version kept the server's value. */
export interface ConflictEvent {
  collection: Collection;
  id: string;
  /** mutation is what this device sent. */
  mutation: Mutation;
  /** serverRecord is the record as the server now holds it (show it to the user). */
  serverRecord?: StoredRecord;
  /** field names the contested field, when the server named one. */
  field?: string;
}

/** RejectedEvent: the server refused a mutation (forbidden, invalid_transition, gone, invalid_input, …); it left the outbox. */
export interface RejectedEvent {
  collection: Collection;
  id: string;
  mutation: Mutation;
  code: string;
  detail: string;
  field?: string;
  /** serverRecord is the record as stored, when the caller may still read it. */
  serverRecord?: StoredRecord;
}

/** ChangeEvent: records of the replica changed (pull, bootstrap or a push answer). */
export interface ChangeEvent {
  upserted: { collection: Collection; id: string }[];
  deleted: { collection: Collection; id: string }[];
}

/** ClientEvents are what `on` can listen to. */
export interface ClientEvents {
  change: ChangeEvent;
  conflict: ConflictEvent;
  rejected: RejectedEvent;
  /** loggedOut: the session ended (refresh refused, logout, revoked device); log in again. */
  loggedOut: { reason: string };
  /** error: a background sync (live updates, uploads) failed; it is retried. */
  error: FieldsyncError | Error;
}

/** SyncResult sums up one sync(). */
export interface SyncResult {
  pushed: number;
  applied: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  pulled: number;
  uploads: number;
}

/** UploadPhotoOptions describe a photo to upload; its id may be cited in records at once. */
export interface UploadPhotoOptions {
  /** bytes of the image (JPEG, PNG, WebP, HEIC/HEIF). */
  bytes: Uint8Array;
  contentType: "image/jpeg" | "image/png" | "image/webp" | "image/heic" | "image/heif";
  /** id defaults to a new UUIDv7. */
  id?: string;
  /** record the photo is evidence of. */
  record?: { collection: Collection; id: string };
}

/** UploadMediaOptions describe any evidence to upload (photo, signature, video, voice note, PDF). */
export interface UploadMediaOptions {
  /** bytes of the file. */
  bytes: Uint8Array;
  /** contentType is one the server accepts for the kind (see POST /v1/media). */
  contentType: MediaCreate["content_type"];
  /** kind defaults to what the server reads from contentType (a PNG is a photo unless declared signature). */
  kind?: MediaKind;
  /** id defaults to a new UUIDv7. */
  id?: string;
  /** record the media is evidence of. */
  record?: { collection: Collection; id: string };
}

interface Session {
  access: string;
  accessExpiresAt: number;
  refresh: string;
  user: User;
}

interface OutboxEntry {
  mutation: Mutation;
  queuedAt: string;
}

interface UploadJob {
  id: string;
  bytes: Uint8Array;
  contentType: string;
  kind?: MediaKind;
  sha256: string;
  record?: { collection: Collection; id: string };
  /**
   * resumable: the upload goes (went) through the multipart path. Its
   * progress is not kept here: after a restart the server's part list says
   * which parts the object store holds.
   */
  resumable?: boolean;
}

/** PartURL is where to PUT one part of a resumable upload. */
interface PartURL {
  number: number;
  size: number;
  method: string;
  url: string;
  headers: Record<string, string>;
}

/** maxPartURLs is the most part URLs one request asks for. */
const maxPartURLs = 100;

const K = {
  device: "meta/device",
  session: "meta/session",
  cursor: "meta/cursor",
  seq: "meta/outbox-seq",
  outbox: "outbox/",
  rec: "rec/",
  upload: "upload/",
};

type Listener<T> = (ev: T) => void;

/**
 * FieldsyncClient is the offline core of an app: it queues changes in a
 * persistent outbox, pushes them when it can (retrying transient failures
 * without ever applying a change twice), pulls the server's changes into a
 * local replica, reports conflicts and rejections as events, follows the
 * server's live events, and uploads photos. Create one with
 * `FieldsyncClient.open`.
 */
export class FieldsyncClient {
  private readonly opts: ClientOptions;
  private readonly storage: Storage;
  private readonly fetchFn: typeof fetch;
  private readonly retry: Required<RetryOptions>;
  private readonly random: () => number;
  private readonly listeners = new Map<keyof ClientEvents, Set<Listener<never>>>();
  private session?: Session;
  private refreshing?: Promise<void>;
  private syncing?: Promise<SyncResult>;
  private syncAgain = false;
  private config?: SyncConfig;
  private clockSkew = 0;
  /** streamBroke: a bootstrap stream broke off part-way; bootstraps page from then on. */
  private streamBroke = false;
  /** deviceId is this device's id (sent with login and every push). */
  readonly deviceId: string;

  private constructor(opts: ClientOptions, deviceId: string, session?: Session) {
    this.opts = opts;
    this.storage = opts.storage;
    this.fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.retry = { attempts: 6, baseDelayMs: 250, maxDelayMs: 30_000, ...opts.retry };
    this.random = opts.random ?? Math.random;
    this.deviceId = deviceId;
    this.session = session;
  }

  /** open loads (or creates) the device id and the stored session: after a restart the app is still logged in and its outbox intact. */
  static async open(opts: ClientOptions): Promise<FieldsyncClient> {
    let deviceId = opts.deviceId ?? (await opts.storage.get<string>(K.device));
    if (!deviceId) {
      deviceId = "web-" + uuidv7();
    }
    await opts.storage.set(K.device, deviceId);
    const session = await opts.storage.get<Session>(K.session);
    return new FieldsyncClient(opts, deviceId, session);
  }

  /** user is the logged-in user, or undefined. */
  get user(): User | undefined {
    return this.session?.user;
  }

  /** clockSkewMs is how far the server's clock is ahead of this device's (from the last pull). */
  get clockSkewMs(): number {
    return this.clockSkew;
  }

  /** on subscribes to an event; it returns the function that unsubscribes. */
  on<E extends keyof ClientEvents>(event: E, listener: Listener<ClientEvents[E]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  private emit<E extends keyof ClientEvents>(event: E, ev: ClientEvents[E]): void {
    for (const l of this.listeners.get(event) ?? []) {
      (l as Listener<ClientEvents[E]>)(ev);
    }
  }

  // ---- auth ----

  /** login opens a session for this device. Wrong credentials reject with code "unauthorized"; throttled ones with "rate_limited". */
  async login(username: string, password: string): Promise<User> {
    const body: Record<string, string> = { username, password, device_id: this.deviceId };
    if (this.opts.tenant) body.tenant = this.opts.tenant;
    const res = await this.send("POST", "/v1/auth/login", { body, auth: false, retryOn429: false });
    await this.keepTokens((await res.json()) as Tokens);
    return this.session!.user;
  }

  /** logout ends this device's session on the server and forgets it here (the outbox stays). */
  async logout(): Promise<void> {
    if (this.session) {
      try {
        await this.send("POST", "/v1/auth/logout", { retryOn429: false });
      } catch (e) {
        if (!(e instanceof FieldsyncError) || e.status !== 401) throw e;
      }
    }
    await this.dropSession("logout");
  }

  private async keepTokens(t: Tokens): Promise<void> {
    this.session = { access: t.access_token, refresh: t.refresh_token, accessExpiresAt: Date.now() + t.expires_in * 1000, user: t.user };
    await this.storage.set(K.session, this.session);
  }

  private async dropSession(reason: string): Promise<void> {
    const had = this.session !== undefined;
    this.session = undefined;
    await this.storage.delete(K.session);
    if (had) this.emit("loggedOut", { reason });
  }

  /**
   * refresh rotates the token pair. A lost answer is retried with the same
   * refresh token: the server's grace window answers it with a fresh pair.
   * A refused token (revoked, reused, expired) ends the session.
   */
  async refresh(): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = (async () => {
        const s = this.session;
        if (!s) throw new FieldsyncError(401, "unauthorized", "fieldsync: not logged in");
        try {
          const res = await this.send("POST", "/v1/auth/refresh", { body: { refresh_token: s.refresh }, auth: false });
          await this.keepTokens((await res.json()) as Tokens);
        } catch (e) {
          if (e instanceof FieldsyncError && e.status === 401) await this.dropSession(e.code);
          throw e;
        }
      })().finally(() => {
        this.refreshing = undefined;
      });
    }
    return this.refreshing;
  }

  // ---- HTTP ----

  private async send(
    method: string,
    path: string,
    o: { body?: unknown; auth?: boolean; retryOn429?: boolean; signal?: AbortSignal; raw?: BodyInit; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const auth = o.auth ?? true;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      if (auth) {
        if (!this.session) throw new FieldsyncError(401, "unauthorized", "fieldsync: not logged in");
        if (this.session.accessExpiresAt - Date.now() < 30_000 && !refreshed) {
          await this.refresh();
          refreshed = true;
        }
      }
      const headers: Record<string, string> = { ...o.headers };
      if (o.body !== undefined) headers["Content-Type"] = "application/json";
      if (auth && this.session) headers.Authorization = "Bearer " + this.session.access;
      let res: Response | undefined;
      let err: FieldsyncError;
      try {
        res = await this.fetchFn(this.opts.baseUrl + path, {
          method,
          headers,
          body: o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body)),
          signal: o.signal,
        });
      } catch (e) {
        if (o.signal?.aborted) throw e;
        res = undefined;
        err = networkError(e);
      }
      if (res) {
        if (res.ok) return res;
        err = await errorFrom(res);
        if (res.status === 401 && auth && !refreshed && this.session) {
          await this.refresh();
          refreshed = true;
          attempt--;
          continue;
        }
        if (res.status === 401 && auth) {
          await this.dropSession(err.code);
        }
      }
      const transient = err!.retryable && !(err!.status === 429 && o.retryOn429 === false);
      if (!transient || attempt + 1 >= this.retry.attempts) throw err!;
      await sleep(backoffDelay(attempt, this.retry, this.random, err!.retryAfterMs), o.signal);
    }
  }

  private async getJSON<T>(path: string): Promise<T> {
    return (await (await this.send("GET", path)).json()) as T;
  }

  /**
   * request sends an authenticated request to an endpoint outside sync (the
   * staff directory, reports, media), with the same token refresh and
   * retries as sync; a non-2xx answer rejects with a FieldsyncError.
   */
  async request(method: string, path: string, body?: unknown): Promise<Response> {
    return this.send(method, path, { body, retryOn429: method === "GET" });
  }

  /** syncConfig returns the server's limits (cached after the first call). */
  async syncConfig(): Promise<SyncConfig> {
    this.config ??= await this.getJSON<SyncConfig>("/v1/sync/config");
    return this.config;
  }

  // ---- writing: the outbox ----

  /** create queues the creation of a record and returns its id (a new UUIDv7 unless fields carry one). */
  async create<C extends Collection>(collection: C, fields: WritableFields<C> & { id?: string }): Promise<string> {
    const { id = uuidv7(), ...rest } = fields as { id?: string } & Record<string, unknown>;
    await this.enqueue({ collection, op: "create", id, fields: rest });
    return id;
  }

  /** update queues a change of fields; baseVersion defaults to the version in the replica (what this device last saw). */
  async update<C extends Collection>(collection: C, id: string, fields: WritableFields<C>, baseVersion?: number): Promise<void> {
    await this.enqueue({ collection, op: "update", id, base_version: await this.baseVersion(collection, id, baseVersion), fields: fields as Record<string, unknown> });
  }

  /** action queues a state-machine action (work_orders: assign, accept, complete…) with its arguments. */
  async action<C extends Collection, A extends ActionOf<C>>(collection: C, id: string, action: A, args?: ActionArgs<C, A>, baseVersion?: number): Promise<void> {
    const m: Omit<Mutation, "mutation_id"> = { collection, op: "action", id, action, args: (args ?? {}) as Record<string, unknown> };
    const v = baseVersion ?? (await this.get(collection, id))?.version;
    if (v !== undefined) m.base_version = v;
    await this.enqueue(m);
  }

  /** delete queues a deletion (inspections, patrol data; work orders and complaints are cancelled or closed instead). */
  async delete(collection: Collection, id: string, baseVersion?: number): Promise<void> {
    await this.enqueue({ collection, op: "delete", id, base_version: await this.baseVersion(collection, id, baseVersion) });
  }

  private async baseVersion(collection: Collection, id: string, given?: number): Promise<number> {
    const v = given ?? (await this.get(collection, id))?.version;
    if (v === undefined) throw new Error(`fieldsync: ${collection}/${id} is not in the replica; pass baseVersion`);
    return v;
  }

  /** enqueue stores a mutation with its id, generated now and kept across restarts and retries. */
  private async enqueue(m: Omit<Mutation, "mutation_id">): Promise<void> {
    const seq = ((await this.storage.get<number>(K.seq)) ?? 0) + 1;
    await this.storage.set(K.seq, seq);
    const mutation = { mutation_id: uuidv7(), ...m, client_time: new Date().toISOString() } as Mutation;
    await this.storage.set(K.outbox + String(seq).padStart(16, "0"), { mutation, queuedAt: new Date().toISOString() } satisfies OutboxEntry);
  }

  /** pending lists the queued mutations, oldest first. */
  async pending(): Promise<Mutation[]> {
    const out: Mutation[] = [];
    for (const k of await this.storage.keys(K.outbox)) {
      const e = await this.storage.get<OutboxEntry>(k);
      if (e) out.push(e.mutation);
    }
    return out;
  }

  // ---- reading: the replica ----

  /** get returns a record of the replica, or undefined. */
  async get<C extends Collection>(collection: C, id: string): Promise<(RecordOf<C> & StoredRecord) | undefined> {
    return this.storage.get(K.rec + collection + "/" + id);
  }

  /** list returns every record of a collection in the replica. */
  async list<C extends Collection>(collection: C): Promise<(RecordOf<C> & StoredRecord)[]> {
    const out: (RecordOf<C> & StoredRecord)[] = [];
    for (const k of await this.storage.keys(K.rec + collection + "/")) {
      const r = await this.storage.get<RecordOf<C> & StoredRecord>(k);
      if (r) out.push(r);
    }
    return out;
  }

  /** snapshot returns the whole replica as {collection: {id: record}}. */
  async snapshot(): Promise<Record<string, Record<string, StoredRecord>>> {
    const out: Record<string, Record<string, StoredRecord>> = {};
    for (const k of await this.storage.keys(K.rec)) {
      const [, c, id] = k.split("/");
      const r = await this.storage.get<StoredRecord>(k);
      if (r) (out[c] ??= {})[id] = r;
    }
    return out;
  }

  /**
   * applyRecord keeps doc unless the replica already holds a later version.
   * A pulled copy also replaces one of the same version: push answers carry
   * the record as the push wrote it (timestamps at full precision), pull the
   * record as stored, which is what a fresh device receives.
   */
  private async applyRecord(collection: Collection, doc: StoredRecord, ev: ChangeEvent, pulled = false): Promise<void> {
    const key = K.rec + collection + "/" + doc.id;
    const cur = await this.storage.get<StoredRecord>(key);
    if (cur && (cur.version > doc.version || (cur.version === doc.version && !pulled))) return;
    await this.storage.set(key, doc);
    ev.upserted.push({ collection, id: doc.id });
  }

  private async applyChange(c: Change, ev: ChangeEvent): Promise<void> {
    if (c.op === "upsert" && c.doc) {
      await this.applyRecord(c.collection, c.doc as StoredRecord, ev, true);
      return;
    }
    if (c.op === "delete") {
      const key = K.rec + c.collection + "/" + c.id;
      const cur = await this.storage.get<StoredRecord>(key);
      // A scope exit carries the version of the record's last change; a later local copy cannot exist.
      if (cur) {
        await this.storage.delete(key);
        ev.deleted.push({ collection: c.collection, id: c.id });
      }
    }
  }

  // ---- sync ----

  /**
   * sync pushes the outbox (in batches within the server's limits) and its
   * queued photos, then pulls until has_more is false. Concurrent calls share
   * one run (a call during a run schedules one more). It rejects only when the
   * server cannot be reached after the retries, or the session ended; the
   * outbox is intact then.
   */
  sync(): Promise<SyncResult> {
    if (this.syncing) {
      this.syncAgain = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      const total: SyncResult = { pushed: 0, applied: 0, duplicates: 0, conflicts: 0, rejected: 0, pulled: 0, uploads: 0 };
      do {
        this.syncAgain = false;
        total.uploads += await this.runUploads();
        await this.push(total);
        total.pulled += await this.pull();
      } while (this.syncAgain);
      return total;
    })().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async push(total: SyncResult): Promise<void> {
    const cfg = await this.syncConfig();
    const maxBytes = cfg.max_push_bytes - 1024;
    for (;;) {
      const keys = await this.storage.keys(K.outbox);
      if (keys.length === 0) return;
      const batch: { key: string; mutation: Mutation }[] = [];
      let bytes = 64;
      for (const key of keys.slice(0, cfg.max_mutations)) {
        const e = await this.storage.get<OutboxEntry>(key);
        if (!e) continue;
        const size = new TextEncoder().encode(JSON.stringify(e.mutation)).length + 1;
        if (batch.length > 0 && bytes + size > maxBytes) break;
        bytes += size;
        batch.push({ key, mutation: e.mutation });
      }
      const res = await this.send("POST", "/v1/sync/push", { body: { device_id: this.deviceId, mutations: batch.map((b) => b.mutation) } });
      const { results } = (await res.json()) as { results: MutationResult[] };
      const ev: ChangeEvent = { upserted: [], deleted: [] };
      for (let i = 0; i < batch.length; i++) {
        await this.settle(batch[i].mutation, results[i], total, ev);
        await this.storage.delete(batch[i].key);
      }
      total.pushed += batch.length;
      if (ev.upserted.length || ev.deleted.length) this.emit("change", ev);
    }
  }

  private async settle(m: Mutation, r: MutationResult, total: SyncResult, ev: ChangeEvent): Promise<void> {
    const doc = r.doc as StoredRecord | undefined;
    if (doc) await this.applyRecord(m.collection, doc, ev);
    switch (r.status) {
      case "applied":
        total.applied++;
        if (m.op === "delete") await this.applyChange({ collection: m.collection, id: m.id, version: r.version ?? 0, op: "delete" }, ev);
        break;
      case "duplicate":
        total.duplicates++;
        if (m.op === "delete") await this.applyChange({ collection: m.collection, id: m.id, version: r.version ?? 0, op: "delete" }, ev);
        break;
      case "conflict":
        total.conflicts++;
        this.emit("conflict", { collection: m.collection, id: m.id, mutation: m, serverRecord: doc, field: r.error?.field });
        break;
      case "rejected":
        total.rejected++;
        this.emit("rejected", {
          collection: m.collection,
          id: m.id,
          mutation: m,
          code: r.error?.code ?? "rejected",
          detail: r.error?.detail ?? "",
          field: r.error?.field,
          serverRecord: doc,
        });
        break;
    }
  }

  /** pull applies the server's changes until has_more is false and returns how many arrived. */
  private async pull(): Promise<number> {
    let cursor = await this.storage.get<string>(K.cursor);
    if (!cursor && (this.opts.bootstrap ?? "stream") === "stream" && !this.streamBroke) {
      return this.bootstrap();
    }
    let n = 0;
    for (;;) {
      const q = new URLSearchParams();
      if (cursor) q.set("cursor", cursor);
      if (this.opts.pullLimit) q.set("limit", String(this.opts.pullLimit));
      let page: PullPage;
      try {
        page = await this.getJSON<PullPage>("/v1/sync/pull?" + q.toString());
      } catch (e) {
        if (e instanceof FieldsyncError && e.code === "cursor_expired") {
          // The change log no longer reaches back to our cursor: start over.
          await this.clearReplica();
          return n + (await this.pull());
        }
        throw e;
      }
      this.clockSkew = Date.parse(page.server_time) - Date.now();
      const ev: ChangeEvent = { upserted: [], deleted: [] };
      for (const c of page.changes) await this.applyChange(c, ev);
      n += page.changes.length;
      cursor = page.cursor;
      await this.storage.set(K.cursor, cursor);
      if (ev.upserted.length || ev.deleted.length) this.emit("change", ev);
      if (!page.has_more) return n;
    }
  }

  private async clearReplica(): Promise<void> {
    for (const k of await this.storage.keys(K.rec)) await this.storage.delete(k);
    await this.storage.delete(K.cursor);
  }

  /**
   * bootstrap replaces the replica with the caller's whole scope from the
   * NDJSON stream (one request, however large the scope) and keeps its
   * cursor. Nothing is applied until the stream is complete. A stream that
   * fails before its first line is retried; one that breaks off part-way
   * is not started over (on a link that keeps dropping a big scope might
   * never arrive whole): the replica is filled by the paged pull instead,
   * which keeps its cursor page by page and resumes where the link dropped.
   */
  async bootstrap(): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const res = await this.send("GET", "/v1/sync/bootstrap");
      const changes: Change[] = [];
      let end: { cursor: string; server_time: string } | undefined;
      let failed: FieldsyncError | undefined;
      try {
        for await (const line of lines(res)) {
          const v = JSON.parse(line) as Change & { cursor?: string; server_time?: string; error?: { code: string; detail: string } };
          if (v.error) {
            failed = new FieldsyncError(503, v.error.code, `fieldsync: bootstrap broke off: ${v.error.detail}`);
            break;
          }
          if (v.cursor !== undefined) {
            end = { cursor: v.cursor, server_time: v.server_time ?? "" };
            break;
          }
          changes.push(v);
        }
      } catch (e) {
        failed = networkError(e);
      }
      if (!end) {
        failed ??= networkError(new Error("bootstrap stream ended without its cursor line"));
        if (changes.length > 0) {
          this.streamBroke = true;
          await this.clearReplica();
          return this.pull();
        }
        if (attempt + 1 >= this.retry.attempts) throw failed;
        await sleep(backoffDelay(attempt, this.retry, this.random));
        continue;
      }
      await this.clearReplica();
      const ev: ChangeEvent = { upserted: [], deleted: [] };
      for (const c of changes) await this.applyChange(c, ev);
      await this.storage.set(K.cursor, end.cursor);
      if (end.server_time) this.clockSkew = Date.parse(end.server_time) - Date.now();
      if (ev.upserted.length) this.emit("change", ev);
      // Changes committed after the stream's snapshot follow through pull.
      return changes.length + (await this.pull());
    }
  }

  // ---- live updates ----

  /**
   * live follows GET /v1/sync/events and syncs on every `changed` event (and
   * once when connected, to catch up). It reconnects after the stream ends or
   * fails, waiting the server's `retry` or a backoff. It returns the function
   * that stops it.
   */
  live(): () => void {
    const ac = new AbortController();
    void (async () => {
      let failures = 0;
      let retryMs = 1000;
      while (!ac.signal.aborted) {
        try {
          const res = await this.send("GET", "/v1/sync/events", { signal: ac.signal, headers: { Accept: "text/event-stream" } });
          failures = 0;
          for await (const ev of events(res)) {
            if (ev.retry !== undefined) retryMs = ev.retry;
            if (ev.event === "ready" || ev.event === "changed") {
              this.sync().catch((e) => this.emit("error", e));
            }
          }
          await sleep(retryMs, ac.signal);
        } catch (e) {
          if (ac.signal.aborted) return;
          this.emit("error", e as Error);
          if (e instanceof FieldsyncError && e.status === 401 && !this.session) return;
          await sleep(backoffDelay(failures++, this.retry, this.random), ac.signal).catch(() => undefined);
        }
      }
    })();
    return () => ac.abort(new Error("fieldsync: live updates stopped"));
  }

  // ---- photos ----

  /**
   * uploadPhoto stores the photo in the outbox's upload queue and returns its
   * id at once, so records can cite it while offline. sync() (and this call,
   * when online) announces it, uploads it with the presigned PUT — through
   * the API (PUT /v1/media/{id}/content) when the object store cannot be
   * reached — and completes it. A lost signal leaves it queued.
   */
  async uploadPhoto(o: UploadPhotoOptions): Promise<string> {
    return this.uploadMedia(o);
  }

  /**
   * uploadMedia queues any evidence (photo, signature, video, voice note,
   * PDF) like uploadPhoto and returns its id at once. Media over
   * `resumableAboveBytes` (5 MiB) go through the resumable upload: parts
   * with their CRC32C to presigned URLs, each retried on its own (and sent
   * again when the store refuses a corrupted copy); after a dropped
   * connection or an app restart the next sync() sends only the parts the
   * object store does not hold yet.
   */
  async uploadMedia(o: UploadMediaOptions): Promise<string> {
    const id = o.id ?? uuidv7();
    const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", o.bytes as Uint8Array<ArrayBuffer>));
    const job: UploadJob = { id, bytes: o.bytes, contentType: o.contentType, sha256: hex(digest), record: o.record };
    if (o.kind) job.kind = o.kind;
    if (o.bytes.length > (this.opts.resumableAboveBytes ?? 5 << 20)) job.resumable = true;
    await this.storage.set(K.upload + id, job);
    try {
      await this.runUpload(job);
    } catch (e) {
      if (!(e instanceof FieldsyncError) || !e.retryable) throw e;
    }
    return id;
  }

  /**
   * cancelUpload gives a queued upload up: it leaves the queue and its
   * resumable upload, if one is under way, is aborted on the server
   * (DELETE /v1/media/{id}/multipart; the media stays pending).
   */
  async cancelUpload(id: string): Promise<void> {
    const job = await this.storage.get<UploadJob>(K.upload + id);
    await this.storage.delete(K.upload + id);
    if (job?.resumable) {
      try {
        await this.send("DELETE", `/v1/media/${encodeURIComponent(id)}/multipart`);
      } catch (e) {
        if (!(e instanceof FieldsyncError) || e.status !== 404) throw e;
      }
    }
  }

  /** pendingUploads lists the ids of photos not yet stored on the server. */
  async pendingUploads(): Promise<string[]> {
    return (await this.storage.keys(K.upload)).map((k) => k.slice(K.upload.length));
  }

  private async runUploads(): Promise<number> {
    let n = 0;
    for (const k of await this.storage.keys(K.upload)) {
      const job = await this.storage.get<UploadJob>(k);
      if (job) {
        await this.runUpload(job);
        n++;
      }
    }
    return n;
  }

  private async runUpload(job: UploadJob): Promise<Media> {
    const announce: Record<string, unknown> = { id: job.id, content_type: job.contentType, size: job.bytes.length, sha256: job.sha256 };
    if (job.kind) announce.kind = job.kind;
    if (job.record) announce.record = job.record;
    let media = (await (await this.send("POST", "/v1/media", { body: announce })).json()) as Media;
    if (media.status !== "stored") {
      media = job.resumable ? await this.uploadResumable(job) : await this.putBytes(job, media);
    }
    await this.storage.delete(K.upload + job.id);
    return media;
  }

  private async putBytes(job: UploadJob, media: Media): Promise<Media> {
    const body = job.bytes as Uint8Array<ArrayBuffer>;
    if (media.upload) {
      let direct: Response | undefined;
      try {
        direct = await this.fetchFn(media.upload.url, { method: "PUT", headers: media.upload.headers, body });
      } catch {
        direct = undefined; // the object store is out of reach: go through the API
      }
      if (direct?.ok) {
        try {
          return (await (await this.send("POST", `/v1/media/${job.id}/complete`)).json()) as Media;
        } catch (e) {
          if (!(e instanceof FieldsyncError) || e.code !== "not_uploaded") throw e;
        }
      }
    }
    const res = await this.send("PUT", `/v1/media/${job.id}/content`, { raw: body, headers: { "Content-Type": job.contentType } });
    return (await res.json()) as Media;
  }

  /**
   * uploadResumable sends an announced media's bytes through the resumable
   * path: it asks the server which parts the object store holds (after a
   * dropped connection or an app restart only the others are sent), sends
   * each missing part to its presigned URL and completes. A complete that
   * finds parts missing (409 naming `parts`) lists them again.
   */
  private async uploadResumable(job: UploadJob): Promise<Media> {
    const path = `/v1/media/${encodeURIComponent(job.id)}`;
    for (let round = 0; ; round++) {
      const r = (await (await this.send("POST", path + "/multipart")).json()) as MultipartUpload;
      if (r.status === "stored") return this.getJSON<Media>(path);
      if (!r.assembled) await this.sendMissingParts(job, r);
      try {
        return (await (await this.send("POST", path + "/complete")).json()) as Media;
      } catch (e) {
        if (e instanceof FieldsyncError && e.status === 409 && e.field === "parts" && round < 2) continue;
        throw e;
      }
    }
  }

  private async sendMissingParts(job: UploadJob, r: MultipartUpload): Promise<void> {
    const partSize = r.part_size ?? 0;
    const count = r.part_count ?? 0;
    const have = new Set(r.parts.map((p) => p.number));
    const part = (n: number) => job.bytes.subarray((n - 1) * partSize, Math.min(n * partSize, job.bytes.length));
    const need: { number: number; crc32c: string }[] = [];
    for (let n = 1; n <= count; n++) {
      if (!have.has(n)) need.push({ number: n, crc32c: crc32cBase64(part(n)) });
    }
    for (let i = 0; i < need.length; i += maxPartURLs) {
      const batch = need.slice(i, i + maxPartURLs);
      const res = await this.send("POST", `/v1/media/${encodeURIComponent(job.id)}/multipart/parts`, { body: { parts: batch } });
      const queue = [...((await res.json()) as { parts: PartURL[] }).parts];
      const worker = async () => {
        for (let u = queue.shift(); u; u = queue.shift()) await this.putPart(u, part(u.number));
      };
      const workers = Array.from({ length: Math.max(1, Math.min(this.opts.partConcurrency ?? 3, queue.length)) }, worker);
      const settled = await Promise.allSettled(workers);
      const failed = settled.find((s) => s.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
    }
  }

  /**
   * putPart sends one part with exactly the headers given, retrying on its
   * own (backoff with jitter) when no answer came, on 429 and 5xx, and when
   * the store refused the part as corrupted on the way (400 BadDigest: its
   * bytes did not match the CRC32C).
   */
  private async putPart(u: PartURL, bytes: Uint8Array): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let err: FieldsyncError;
      try {
        const res = await this.fetchFn(u.url, { method: u.method, headers: u.headers, body: bytes.slice() as Uint8Array<ArrayBuffer> });
        const text = await res.text();
        if (res.ok) return;
        const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `http_${res.status}`;
        err = new FieldsyncError(res.status, code, `fieldsync: part ${u.number}: ${res.status} ${code}`, undefined, parseRetryAfter(res.headers.get("Retry-After")));
      } catch (e) {
        err = networkError(e);
      }
      const again = err.retryable || (err.status === 400 && err.code === "BadDigest");
      if (!again || attempt + 1 >= this.retry.attempts) throw err;
      await sleep(backoffDelay(attempt, this.retry, this.random, err.retryAfterMs));
    }
  }
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** lines yields the lines of a streamed body (NDJSON). */
async function* lines(res: Response): AsyncGenerator<string> {
  if (!res.body) return;
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) yield line;
    }
  }
  buf += dec.decode();
  if (buf.trim()) yield buf.trim();
}

/** events yields the events of a text/event-stream body. */
async function* events(res: Response): AsyncGenerator<{ event: string; data: string; retry?: number }> {
  let event = "message";
  let data: string[] = [];
  let retry: number | undefined;
  for await (const raw of rawLines(res)) {
    if (raw === "") {
      if (data.length || event !== "message" || retry !== undefined) yield { event, data: data.join("\n"), retry };
      event = "message";
      data = [];
      retry = undefined;
      continue;
    }
    if (raw.startsWith(":")) continue;
    const i = raw.indexOf(":");
    const field = i < 0 ? raw : raw.slice(0, i);
    const value = i < 0 ? "" : raw.slice(i + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
  }
}

async function* rawLines(res: Response): AsyncGenerator<string> {
  if (!res.body) return;
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.search(/\r?\n/)) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(buf[i] === "\r" ? i + 2 : i + 1);
      yield line;
    }
  }
}
