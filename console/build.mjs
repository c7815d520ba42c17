// Builds the /console desk app into dist/ (embedded into the fieldsync binary
// by console/embed.go): src/ and the TypeScript client's sources
// (sdk/typescript/src) bundled by esbuild, plus STAMP, which records what the
// build was made from (the lockfile, this script and every source file) so a
// Go test can tell a stale dist/.
//   node build.mjs          rebuild dist/
//   node build.mjs --check  rebuild into a temporary folder and fail unless dist/ is identical
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const sdk = join(here, "..", "sdk", "typescript", "src");

function sha256(file) {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

function walk(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

// stamp lists the inputs of the build by SHA-256; embed_test.go computes the same.
function stamp() {
  const lines = ["package-lock.json " + sha256(join(here, "package-lock.json")), "build.mjs " + sha256(join(here, "build.mjs"))];
  const files = [...walk(join(here, "src")), ...walk(sdk)].map((f) => relative(here, f).split("\\").join("/"));
  for (const f of files.sort()) lines.push(f + " " + sha256(join(here, f)));
  return lines.join("\n") + "\n";
}

async function build(out) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await esbuild.build({
    entryPoints: [join(here, "src", "main.tsx")],
    outfile: join(out, "app.js"),
    bundle: true,
    minify: true,
    format: "iife",
    target: ["es2022"],
    jsx: "automatic",
    jsxImportSource: "preact",
    alias: { "@fieldsync/client": join(sdk, "index.ts") },
    legalComments: "none",
    charset: "utf8",
    logLevel: "warning",
  });
  cpSync(join(here, "src", "index.html"), join(out, "index.html"));
  cpSync(join(here, "src", "app.css"), join(out, "app.css"));
  writeFileSync(join(out, "STAMP"), stamp());
}

const dist = join(here, "dist");
if (process.argv.includes("--check")) {
  const tmp = mkdtempSync(join(tmpdir(), "fieldsync-console-"));
  try {
    await build(tmp);
    const want = readdirSync(tmp).sort();
    const got = readdirSync(dist).sort();
    const stale = want.filter((f) => !got.includes(f) || !readFileSync(join(tmp, f)).equals(readFileSync(join(dist, f))));
    const extra = got.filter((f) => !want.includes(f));
    if (stale.length || extra.length) {
      console.error("console/dist is stale (run: cd console && npm ci && npm run build): " + [...stale, ...extra].join(", "));
      process.exit(1);
    }
    console.log("console/dist is current");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  await build(dist);
  console.log("built console/dist");
}
