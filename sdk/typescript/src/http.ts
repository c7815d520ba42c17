import type { Problem } from "./types.js";

/**
 * FieldsyncError is an error answer of the server (an RFC 9457 problem with a
 * stable `code`), or a transport failure (`code` "network", status 0).
 */
export class FieldsyncError extends Error {
  /** status is the HTTP status, 0 when no answer arrived. */
  readonly status: number;
  /** code is the problem's stable word: unauthorized, rate_limited, cursor_expired, network, … */
  readonly code: string;
  /** field names the offending input, when the server named one. */
  readonly field?: string;
  /** problem is the whole problem document, when there is one. */
  readonly problem?: Problem;
  /** retryAfterMs is the server's Retry-After, in milliseconds. */
  readonly retryAfterMs?: number;

  constructor(status: number, code: string, message: string, problem?: Problem, retryAfterMs?: number) {
    super(message);
    this.name = "FieldsyncError";
    this.status = status;
    this.code = code;
    this.problem = problem;
    this.field = problem?.field;
    this.retryAfterMs = retryAfterMs;
  }

  /** retryable tells whether the same request may succeed later: no answer, 429 or 5xx. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/** RetryOptions tune retries of requests that failed transiently (no answer, 429, 5xx). */
export interface RetryOptions {
  /** attempts in all, the first included (default 6). */
  attempts?: number;
  /** baseDelayMs is the first backoff step (default 250 ms); each further step doubles. */
  baseDelayMs?: number;
  /** maxDelayMs caps one wait (default 30 s); a longer Retry-After is honoured up to this too. */
  maxDelayMs?: number;
}

/** backoffDelay is "full jitter" exponential backoff, or the server's Retry-After when it gave one. */
export function backoffDelay(attempt: number, opts: Required<RetryOptions>, random: () => number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) {
    // Spread the herd a little past the server's answer, never before it.
    return Math.min(opts.maxDelayMs, retryAfterMs + random() * opts.baseDelayMs);
  }
  const cap = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** attempt);
  return random() * cap;
}

/** parseRetryAfter reads a Retry-After header (seconds or an HTTP date) as milliseconds. */
export function parseRetryAfter(h: string | null, now: number = Date.now()): number | undefined {
  if (!h) return undefined;
  const s = Number(h);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const t = Date.parse(h);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** errorFrom turns a non-2xx response into a FieldsyncError. */
export async function errorFrom(res: Response): Promise<FieldsyncError> {
  let problem: Problem | undefined;
  try {
    problem = (await res.json()) as Problem;
  } catch {
    problem = undefined;
  }
  const code = problem?.code ?? `http_${res.status}`;
  return new FieldsyncError(res.status, code, `fieldsync: ${res.status} ${code}: ${problem?.detail ?? res.statusText}`, problem, parseRetryAfter(res.headers.get("Retry-After")));
}

/** networkError wraps a fetch that got no answer (offline, reset, timeout). */
export function networkError(cause: unknown): FieldsyncError {
  const e = new FieldsyncError(0, "network", `fieldsync: no answer: ${cause instanceof Error ? cause.message : String(cause)}`);
  (e as { cause?: unknown }).cause = cause;
  return e;
}

/** sleep waits ms milliseconds, or until signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
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
