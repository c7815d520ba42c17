// Runs the README's example as written: type-checked against the package's
// own types, compiled, and run against a real server.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import ts from "typescript";

import { startServer } from "./server.mjs";

const pkg = fileURLToPath(new URL("..", import.meta.url));
let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

/** example returns the first ```ts block under "## Example" in README.md. */
function example() {
  const md = readFileSync(join(pkg, "README.md"), "utf8");
  const section = md.slice(md.indexOf("## Example"));
  const m = section.match(/```ts\n([\s\S]*?)```/);
  assert.ok(m, "README.md has no ```ts block under ## Example");
  return m[1];
}

test("the README example type-checks and runs as written", async () => {
  // Inside the package, so `@fieldsync/client` resolves to it by its own name.
  const dir = join(pkg, "test", ".readme");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    const file = join(dir, "example.mts");
    writeFileSync(file, example());
    const program = ts.createProgram([file], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
      types: ["node"],
      strict: true,
      skipLibCheck: true,
      rootDir: dir,
      outDir: dir,
    });
    const diags = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    assert.deepEqual(diags, [], "the README example does not type-check");
    program.emit();
    const { stdout } = await promisify(execFile)(process.execPath, [join(dir, "example.mjs")], {
      env: { ...process.env, FIELDSYNC_URL: srv.url },
      timeout: 60_000,
    });
    assert.match(stdout, /pushed 1, applied 1; uploads waiting: 0 \(signature [0-9a-f-]{36}\)/);
    assert.match(stdout, /inspection [0-9a-f-]{36} is at version 1, 5 checkpoints on the phone/);
    assert.doesNotMatch(stdout, /rejected|conflict|session ended/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
