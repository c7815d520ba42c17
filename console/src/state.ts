// The console's state: one FieldsyncClient on IndexedDB (so the desk keeps
// reading, and queues its actions, while the network is down), the replica's
// records the views show, the staff directory, and the online / pending
// indicator. Views subscribe with useStore().
import { FieldsyncClient, FieldsyncError, IndexedDBStorage, type StoredRecord, type User } from "@fieldsync/client";
import { useEffect, useState } from "preact/hooks";
import { lang, t } from "./i18n";

export type Rec = StoredRecord & Record<string, any>;

export interface StaffMember {
  id: string;
  name: string;
  role: string;
  department?: string;
  site_ids: string[];
}

export interface Notice {
  kind: "info" | "error";
  /** key and args are translated when shown, so a language switch applies to it too. */
  key: string;
  args?: Record<string, string | number>;
}

interface State {
  user?: User;
  ready: boolean;
  online: boolean;
  syncing: boolean;
  pending: number;
  /** pendingIds are the records with a queued change: their actions wait for its outcome. */
  pendingIds: Set<string>;
  complaints: Rec[];
  orders: Rec[];
  inspections: Rec[];
  rounds: Rec[];
  sites: Rec[];
  staff: StaffMember[];
  notice?: Notice;
}

export const state: State = {
  ready: false,
  online: navigator.onLine,
  syncing: false,
  pending: 0,
  pendingIds: new Set(),
  complaints: [],
  orders: [],
  inspections: [],
  rounds: [],
  sites: [],
  staff: [],
};

const listeners = new Set<() => void>();
function changed(): void {
  for (const l of listeners) l();
}

/** useStore re-renders the calling component whenever the state changes. */
export function useStore(): State {
  const [, set] = useState(0);
  useEffect(() => {
    const l = () => set((n) => n + 1);
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, []);
  return state;
}

/** notify shows a short message (an i18n key and its arguments) in the status bar. */
export function notify(kind: Notice["kind"], key: string, args?: Record<string, string | number>): void {
  state.notice = { kind, key, args };
  changed();
  const n = state.notice;
  setTimeout(() => {
    if (state.notice === n) {
      state.notice = undefined;
      changed();
    }
  }, 8000);
}

const base = location.origin;
const storage = new IndexedDBStorage({ databaseName: "fieldsync-console" });

// Requests carry the UI's language, so the server's problem details read in
// it; with the browser offline they fail at once instead of waiting on a
// connection that cannot be made (the outbox keeps them).
const consoleFetch: typeof fetch = (input, init) => {
  if (!navigator.onLine) return Promise.reject(new TypeError("offline"));
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  if (url.startsWith(base)) {
    const headers = new Headers(init?.headers);
    headers.set("Accept-Language", lang());
    init = { ...init, headers };
  }
  return fetch(input, init);
};

export let client: FieldsyncClient;
let stopLive: (() => void) | undefined;

/** start opens the client and, when a session is stored, starts syncing. */
export async function start(): Promise<void> {
  client = await FieldsyncClient.open({
    baseUrl: base,
    storage,
    fetch: consoleFetch,
    retry: { attempts: 3, baseDelayMs: 300, maxDelayMs: 3000 },
  });
  client.on("change", () => void reload());
  client.on("rejected", (r) => notify("error", "rejected", { detail: r.detail || r.code }));
  client.on("conflict", () => notify("error", "conflict"));
  client.on("loggedOut", () => {
    stopLive?.();
    stopLive = undefined;
    state.user = undefined;
    changed();
  });
  client.on("error", () => {
    state.online = false;
    changed();
  });
  window.addEventListener("online", () => {
    state.online = true;
    changed();
    void syncNow();
  });
  window.addEventListener("offline", () => {
    state.online = false;
    changed();
  });
  // A queued action left behind by a failed sync is pushed again soon.
  setInterval(() => {
    if (state.user && state.pending > 0 && navigator.onLine) void syncNow();
  }, 5000);
  state.user = client.user;
  state.ready = true;
  await reload();
  if (state.user) begin();
}

function begin(): void {
  stopLive?.();
  stopLive = client.live();
  void loadStaff();
  void syncNow();
}

/** login opens a session and starts syncing. */
export async function login(username: string, password: string): Promise<void> {
  const u = await client.login(username, password);
  state.user = u;
  changed();
  begin();
}

/** logout ends the session and forgets this browser's copy. */
export async function logout(): Promise<void> {
  stopLive?.();
  stopLive = undefined;
  try {
    await client.logout();
  } catch {
    // offline: the session is dropped here all the same
  }
  await storage.close();
  await new Promise((resolve) => {
    const req = indexedDB.deleteDatabase("fieldsync-console");
    req.onsuccess = req.onerror = req.onblocked = () => resolve(undefined);
  });
  location.hash = "";
  location.reload();
}

/** syncNow pushes the outbox and pulls; a failure only marks the console offline. */
export async function syncNow(): Promise<void> {
  if (!state.user) return;
  state.syncing = true;
  changed();
  try {
    await client.sync();
    state.online = navigator.onLine;
  } catch (e) {
    if (e instanceof FieldsyncError && e.retryable) state.online = false;
    else if (!(e instanceof FieldsyncError)) state.online = false;
  } finally {
    state.syncing = false;
    await reload();
  }
}

let reloading: Promise<void> | undefined;
let reloadAgain = false;

/** reload reads the replica into the state (coalescing bursts of changes). */
export async function reload(): Promise<void> {
  if (reloading) {
    reloadAgain = true;
    return reloading;
  }
  reloading = (async () => {
    do {
      reloadAgain = false;
      const [complaints, orders, inspections, rounds, sites, pending] = await Promise.all([
        client.list("complaints"),
        client.list("work_orders"),
        client.list("inspections"),
        client.list("patrol_rounds"),
        client.list("sites"),
        client.pending(),
      ]);
      state.complaints = complaints as Rec[];
      state.orders = orders as Rec[];
      state.inspections = inspections as Rec[];
      state.rounds = rounds as Rec[];
      state.sites = sites as Rec[];
      state.pending = pending.length;
      state.pendingIds = new Set(pending.map((m) => m.id));
      changed();
    } while (reloadAgain);
  })().finally(() => {
    reloading = undefined;
  });
  return reloading;
}

/** act queues an action (or an update) and syncs; offline it waits in the outbox. */
export async function act(collection: "complaints" | "work_orders", id: string, action: string, args: Record<string, unknown> = {}): Promise<void> {
  await client.action(collection, id, action as never, args as never);
  await reload();
  notify("info", "queued");
  void syncNow();
}

/** update queues a field change and syncs. */
export async function update(collection: "complaints" | "work_orders", id: string, fields: Record<string, unknown>): Promise<void> {
  await client.update(collection, id, fields as never);
  await reload();
  notify("info", "queued");
  void syncNow();
}

/** getJSON reads an endpoint outside sync (staff, reports, media). */
export async function getJSON<T>(path: string): Promise<T> {
  return (await (await client.request("GET", path)).json()) as T;
}

async function loadStaff(): Promise<void> {
  const cached = localStorage.getItem("fieldsync.staff");
  if (cached) {
    state.staff = JSON.parse(cached) as StaffMember[];
    changed();
  }
  try {
    const r = await getJSON<{ staff: StaffMember[] }>("/v1/staff");
    state.staff = r.staff;
    localStorage.setItem("fieldsync.staff", JSON.stringify(r.staff));
    changed();
  } catch {
    // offline or not the desk: keep the cached directory
  }
}

/** siteName names a site from the replica's sites, else its id. */
export function siteName(id: unknown): string {
  const s = state.sites.find((x) => x.id === id);
  return (s?.name as string) ?? String(id ?? "");
}

/** isSupervisor: supervisor, manager or admin (level-2 escalation, reopening a closed complaint). */
export function isSupervisor(): boolean {
  const r = state.user?.role;
  return r === "supervisor" || r === "manager" || r === "admin";
}

/** isDesk: the roles the console is for. */
export function isDesk(u?: User): boolean {
  const r = u?.role;
  return r === "cs_agent" || isSupervisorRole(r);
}

function isSupervisorRole(r?: string): boolean {
  return r === "supervisor" || r === "manager" || r === "admin";
}

/** rerender forces the views to render again (the countdown clock). */
export function rerender(): void {
  changed();
}
