// POST /v1/dead-letters/{name}/requeue and DELETE /v1/dead-letters/{name}: the dashboard's
// Requeue and Purge buttons, usable by scripts as well (same token, same checks as
// `agentos dead-letters requeue|purge`, through the same use-cases in ops/).
// A letter is named by its bare file name, so nothing outside the dead-letter folder is reached.
import { unlink } from "node:fs/promises";
import { join, relative } from "node:path";
import type { FastifyInstance } from "fastify";
import * as z from "zod";
import type { Runtime } from "../../agent/runtime.js";
import { UserError } from "../../ops/errors.js";
import { readDeadLetterFile, requeueDeadLetter } from "../../ops/dead-letters.js";
import { NAME_PATTERN } from "../../config/schema.js";
import { sharedPaths } from "../../store/layout.js";
import { httpError } from "./views.js";

export const DEAD_LETTER_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,250}\.md$/;

export const RequeueRequest = z.strictObject({
  to: z.string().regex(NAME_PATTERN, "Expected an agent name").optional().describe("Another agent to give it to (default: the letter's own agent)"),
});

export function registerDeadLetterActions(app: FastifyInstance, runtime: Runtime, dataDir: string): void {
  const letterPath = (name: string) => {
    if (!DEAD_LETTER_FILE.test(name)) throw httpError(400, `invalid dead letter name '${name}': expected a file name such as 20260429T100000Z-orion-task-1-a1b2c3.md`);
    return join(sharedPaths(dataDir, runtime.config.iac.dead_letter_path).deadLetters, name);
  };
  const asHttp = (err: unknown): never => {
    if (err instanceof UserError) throw httpError(/no such dead letter/.test(err.message) ? 404 : 409, err.message.replaceAll(`${dataDir}/`, ""));
    throw err;
  };

  app.post<{ Params: { name: string } }>("/v1/dead-letters/:name/requeue", async (req) => {
    const path = letterPath(req.params.name);
    const body = RequeueRequest.safeParse(req.body ?? {});
    if (!body.success) throw httpError(400, `bad body: ${body.error.issues.map((i) => i.message).join("; ")}`);
    const r = await requeueDeadLetter(dataDir, runtime.config, path, body.data.to).catch(asHttp);
    return { id: r.id, agent: r.agent, file: relative(dataDir, r.target) };
  });

  app.delete<{ Params: { name: string } }>("/v1/dead-letters/:name", async (req) => {
    const path = letterPath(req.params.name);
    await readDeadLetterFile(path).catch(asHttp); // only dead letters are deleted, nothing else that sits there
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") throw httpError(404, `no dead letter ${req.params.name}`);
      throw err;
    });
    return { purged: req.params.name };
  });
}
