// `agentos run` is a service that lives for months, and V8 sizes its heap for a browser
// tab on a big machine: on a 24 GB host its young generation grew to 128 MB while 16 MB of
// it was in use, and a 10,000-task drain peaked at ~350 MB resident. Its size can only be
// set when Node starts, so `run` starts Node again in place (process.execve: same pid,
// same stdio; Node 23.11+) with the flags below, unless they are given already. glibc's
// malloc is told the same way to keep two arenas instead of one per thread (the pool's
// fsyncs and zlib run in up to 16 threads): 21 MB less at the peak of a 3,000-task drain.
// In a container with a memory limit V8 sizes the heap by that limit anyway.
//
// The old generation is told to grow by half each time it fills (V8 picks up to 4× on a
// big host). The garbage array buffers (file reads, HTTP bodies, pack writes) that piled up
// to 30-50 MB between the rarer full collections go with each one: a 10,000-task drain
// peaked at 191 MB instead of 253 MB, for ~7 % more CPU per task (25 % growth cost 20 %;
// docs/performance.md). Both are V8 flags Node has had for years; `run` re-starts only on
// a Node with process.execve (23.11+), and this was measured on Node 24.
//
// The young generation went from 16 to 8 MB semi-spaces once a task allocated ~330 KB
// instead of ~550 KB: 10,000-task drain peak 194-195 -> 180-183 MB at the same CPU per task.

/** What `agentos run` starts Node with (a young generation of at most 2 × 8 MB; an old one that grows by half). */
export const SERVICE_NODE_FLAGS = ["--max-semi-space-size=8", "--heap-growing-percent=50"];

/** Set to 0 to run with Node's own heap sizing (one Node start-up less for `run`). */
const OPT_OUT = "AGENTOS_NODE_FLAGS";

/** Restarts this process in place with SERVICE_NODE_FLAGS when they are missing; returns when they are not needed or cannot be set. */
export function startAsService(): void {
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
  if (typeof execve !== "function" || process.env[OPT_OUT] === "0") return;
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
  const missing = SERVICE_NODE_FLAGS.filter((f) => !given.some((g) => g.split("=")[0] === f.split("=")[0]));
  if (!missing.length) return;
  try {
    const env = { MALLOC_ARENA_MAX: "2", ...process.env };
    execve.call(process, process.execPath, [process.execPath, ...process.execArgv, ...missing, ...process.argv.slice(1)], env);
  } catch {
    // Not allowed here (a sandbox, an odd platform): run with Node's own sizing.
  }
}
