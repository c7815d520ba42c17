// Starts a real fieldsync server for the tests: the binary is built once
// (or taken from FIELDSYNC_BIN), the demo tenant is seeded into a fresh data
// directory, and the server listens on a free 127.0.0.1 port.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const PASSWORD = "demo-pass-2026";
export const SITE_A = "00000000-0000-7000-8000-00000000000a";

let built;

/** binary returns the fieldsync binary, building it once per test process. */
export function binary() {
  if (process.env.FIELDSYNC_BIN) return process.env.FIELDSYNC_BIN;
  if (!built) {
    const dir = mkdtempSync(join(tmpdir(), "fieldsync-sdk-bin-"));
    built = join(dir, "fieldsync");
    execFileSync("go", ["build", "-o", built, "./cmd/fieldsync"], { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"] });
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return built;
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/**
 * startServer seeds the demo tenant and serves it; it returns {url, bin,
 * stop}. extraEnv adds environment variables (e.g. a short grace window).
 */
export async function startServer(extraEnv = {}) {
  const bin = binary();
  const dataDir = mkdtempSync(join(tmpdir(), "fieldsync-sdk-data-"));
  const env = { ...process.env, FIELDSYNC_DATA_DIR: dataDir, FIELDSYNC_LOG_LEVEL: "warn", ...extraEnv };
  execFileSync(bin, ["seed", "demo"], { env, stdio: ["ignore", "ignore", "inherit"] });
  const port = await freePort();
  env.FIELDSYNC_ADDR = `127.0.0.1:${port}`;
  const proc = spawn(bin, [], { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-8000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`fieldsync exited (${proc.exitCode}): ${stderr}`);
    try {
      const r = await fetch(url + "/readyz");
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error("fieldsync did not become ready: " + stderr);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    bin,
    dataDir,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await new Promise((r) => proc.once("exit", r));
      }
      if (existsSync(dataDir)) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
