// Builds the browser dashboard into dist/dashboard/ (served by src/http/dashboard/assets.ts):
// one minified ES module (Preact + uPlot + our views), one stylesheet, index.html.
// Run by `npm run build` / `prepare` / `test` after tsc; `--check` type-checks first is
// done by tsc -p dashboard in those scripts. Prints the gzipped size the browser downloads.
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "dist", "dashboard");
await mkdir(out, { recursive: true });

await build({
  entryPoints: [join(here, "src", "main.tsx")],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  outfile: join(out, "app.js"),
  legalComments: "linked",
  logLevel: "warning",
});

// uPlot's stylesheet first, ours after it so ours wins.
const uplotCss = await readFile(join(here, "..", "node_modules", "uplot", "dist", "uPlot.min.css"), "utf8");
const ourCss = await readFile(join(here, "style.css"), "utf8");
await writeFile(join(out, "app.css"), `${uplotCss}\n${ourCss}`);
await copyFile(join(here, "index.html"), join(out, "index.html"));

const js = await readFile(join(out, "app.js"));
if (process.argv.includes("--size")) {
  console.log(`dist/dashboard/app.js: ${js.length} bytes, ${gzipSync(js, { level: 9 }).length} gzipped`);
}
