/**
 * Storage is where the client keeps what must survive a restart: the session,
 * the device id, the outbox, the pull cursor, the replica and queued photo
 * and evidence uploads (a resumable upload's progress is the server's part
 * list, not stored). Values are structured-clonable (plain objects, strings,
 * numbers, Uint8Array). Implement it over any durable key-value store — for React
 * Native, a SQLite table `kv(key TEXT PRIMARY KEY, value TEXT)` with JSON
 * values (photo bytes base64-encoded) is enough; see the README.
 */
export interface Storage {
  /** get returns the value stored under key, or undefined. */
  get<T>(key: string): Promise<T | undefined>;
  /** set stores value under key, replacing any earlier one. */
  set<T>(key: string, value: T): Promise<void>;
  /** delete removes key; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** keys lists the keys starting with prefix, in ascending order. */
  keys(prefix: string): Promise<string[]>;
}

/**
 * MemoryStorage keeps everything in a Map: for tests, and for a "restart"
 * inside one process (hand the same instance to a new client).
 */
export class MemoryStorage implements Storage {
  private readonly data = new Map<string, unknown>();

  async get<T>(key: string): Promise<T | undefined> {
    const v = this.data.get(key);
    return v === undefined ? undefined : (structuredClone(v) as T);
  }

  async set<T>(key: string, value: T): Promise<void> {
    this.data.set(key, structuredClone(value));
  }

  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }

  async keys(prefix: string): Promise<string[]> {
    return [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}

/** IndexedDBStorageOptions name the database; the defaults suit one app. */
export interface IndexedDBStorageOptions {
  /** databaseName defaults to "fieldsync". Use one per logged-in account if several share a browser profile. */
  databaseName?: string;
  /** indexedDB defaults to globalThis.indexedDB (pass fake-indexeddb's in Node tests). */
  indexedDB?: IDBFactory;
  /** keyRange defaults to globalThis.IDBKeyRange (fake-indexeddb's in Node tests). */
  keyRange?: typeof IDBKeyRange;
}

/**
 * IndexedDBStorage keeps the client's state in the browser's IndexedDB (one
 * object store, "kv"): the desk app's outbox and replica survive reloads and
 * browser restarts.
 */
export class IndexedDBStorage implements Storage {
  private db?: Promise<IDBDatabase>;

  constructor(private readonly opts: IndexedDBStorageOptions = {}) {}

  private open(): Promise<IDBDatabase> {
    if (!this.db) {
      const factory = this.opts.indexedDB ?? globalThis.indexedDB;
      if (!factory) {
        throw new Error("fieldsync: IndexedDB is not available here; use another Storage");
      }
      this.db = new Promise((resolve, reject) => {
        const req = factory.open(this.opts.databaseName ?? "fieldsync", 1);
        req.onupgradeneeded = () => req.result.createObjectStore("kv");
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    }
    return this.db;
  }

  private async run<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.open();
    return new Promise<T>((resolve, reject) => {
      const tx = db.transaction("kv", mode);
      const req = f(tx.objectStore("kv"));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  async get<T>(key: string): Promise<T | undefined> {
    return (await this.run("readonly", (s) => s.get(key))) as T | undefined;
  }

  async set<T>(key: string, value: T): Promise<void> {
    await this.run("readwrite", (s) => s.put(value, key));
  }

  async delete(key: string): Promise<void> {
    await this.run("readwrite", (s) => s.delete(key));
  }

  async keys(prefix: string): Promise<string[]> {
    const range = (this.opts.keyRange ?? globalThis.IDBKeyRange).bound(prefix, prefix + "\uffff");
    const keys = await this.run("readonly", (s) => s.getAllKeys(range));
    return (keys as string[]).sort();
  }

  /** close closes the database connection. */
  async close(): Promise<void> {
    if (this.db) {
      (await this.db).close();
      this.db = undefined;
    }
  }
}
