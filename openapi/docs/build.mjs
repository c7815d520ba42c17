// Builds the /docs page into dist/ (embedded into the fieldsync binary by
// openapi/embed.go): Swagger UI's prebuilt bundle from node_modules plus the
// page sources in src/, and STAMP, which records what the build was made from
// (the lockfile and the sources) so a Go test can tell a stale dist/.
//   node build.mjs          rebuild dist/
//   node build.mjs --check  rebuild into a temporary folder and fail unless dist/ is identical
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "node_modules", "swagger-ui-dist");
const vendored = ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"];

function sha256(file) {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

// stamp lists the inputs of the build by SHA-256; embed_test.go computes the same.
function stamp() {
  const lines = ["package-lock.json " + sha256(join(here, "package-lock.json"))];
  for (const f of readdirSync(join(here, "src")).sort()) {
    lines.push("src/" + f + " " + sha256(join(here, "src", f)));
  }
  const version = JSON.parse(readFileSync(join(vendor, "package.json"), "utf8")).version;
  lines.push("swagger-ui-dist " + version);
  return lines.join("\n") + "\n";
}

function build(out) {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const f of vendored) {
    cpSync(join(vendor, f), join(out, f === "LICENSE" || f === "NOTICE" ? "swagger-ui-" + f + ".txt" : f));
  }
  for (const f of readdirSync(join(here, "src"))) {
    cpSync(join(here, "src", f), join(out, f));
  }
  writeFileSync(join(out, "STAMP"), stamp());
}

const dist = join(here, "dist");
if (process.argv.includes("--check")) {
  const tmp = mkdtempSync(join(tmpdir(), "fieldsync-docs-"));
  try {
    build(tmp);
    const want = readdirSync(tmp).sort();
    const got = readdirSync(dist).sort();
    const stale = want.filter((f) => !got.includes(f) || !readFileSync(join(tmp, f)).equals(readFileSync(join(dist, f))));
    const extra = got.filter((f) => !want.includes(f));
    if (stale.length || extra.length) {
      console.error("openapi/docs/dist is stale (run: cd openapi/docs && npm ci && npm run build): " + [...stale, ...extra].join(", "));
      process.exit(1);
    }
    console.log("openapi/docs/dist is current");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  build(dist);
  console.log("built openapi/docs/dist");
}
