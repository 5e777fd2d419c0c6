// Dead letters: list, read, requeue, delete and purge them (ops/dead-letters.ts). A letter
// is named by its bare file name, so no request reaches outside the dead-letter folder.
import { basename, relative } from "node:path";
import * as z from "zod";
import { deadLetterPath, deleteDeadLetter, findDeadLetters, parseAge, purgeDeadLetters, readDeadLetterFile, requeueDeadLetter } from "../../ops/dead-letters.js";
import type { StoredDeadLetter } from "../../store/dead-letters.js";
import { defineRoute, type ApiRoute } from "../route.js";
import { DeadLetterOut, DeadLetterParams, DeadLetterQuery, ErrorBody, Purged, PurgeRequest, Requeued, RequeueRequest } from "../schemas.js";

const out = (dataDir: string, d: StoredDeadLetter): z.input<typeof DeadLetterOut> => ({
  name: basename(d.file),
  file: relative(dataDir, d.file),
  reason: d.reason,
  agent: d.agent,
  task_id: d.taskId,
  source: d.source,
  first_seen: d.firstSeen,
  at: d.at,
  attempts: d.attempts,
  last_error: d.lastError,
  original: d.original,
  requeued: d.requeued,
});

const noLetter = { description: "No dead letter of that name (AGENTOS_UNKNOWN_DEAD_LETTER)", schema: ErrorBody };

export const deadLetterRoutes: ApiRoute[] = [
  defineRoute({
    method: "GET",
    url: "/v1/dead-letters",
    operationId: "listDeadLetters",
    summary: "Dead letters, oldest first",
    query: DeadLetterQuery,
    responses: { 200: { description: "The dead letters", schema: z.object({ dead_letters: z.array(DeadLetterOut) }) } },
    handler: async ({ query, ctx }) => ({ dead_letters: (await findDeadLetters(ctx.dataDir, ctx.runtime.config, query)).map((d) => out(ctx.dataDir, d)) }),
  }),
  defineRoute({
    method: "GET",
    url: "/v1/dead-letters/:file",
    operationId: "getDeadLetter",
    summary: "One dead letter, with the original block verbatim",
    params: DeadLetterParams,
    responses: { 200: { description: "The dead letter", schema: DeadLetterOut }, 404: noLetter },
    handler: async ({ params, ctx }) => out(ctx.dataDir, await readDeadLetterFile(deadLetterPath(ctx.dataDir, ctx.runtime.config, params.file))),
  }),
  defineRoute({
    method: "POST",
    url: "/v1/dead-letters/:file/requeue",
    operationId: "requeueDeadLetter",
    summary: "Put a dead letter's task block(s) back into an agent's inbox with a fresh created and TTL; the letter records it",
    params: DeadLetterParams,
    body: RequeueRequest,
    bodyOptional: true,
    responses: {
      200: { description: "Requeued", schema: Requeued },
      404: { description: "No such dead letter, or no such agent (AGENTOS_UNKNOWN_DEAD_LETTER, AGENTOS_UNKNOWN_AGENT)", schema: ErrorBody },
      409: { description: "Not a dead letter, or a duplicate that cannot go back under its id to the same agent (AGENTOS_NOT_A_DEAD_LETTER, AGENTOS_DUPLICATE_REQUEUE)", schema: ErrorBody },
      422: { description: "Its original block is not a valid task (AGENTOS_UNRUNNABLE_DEAD_LETTER)", schema: ErrorBody },
    },
    async handler({ params, body, ctx }) {
      const r = await requeueDeadLetter(ctx.dataDir, ctx.runtime.config, deadLetterPath(ctx.dataDir, ctx.runtime.config, params.file), body.to);
      return { id: r.id, agent: r.agent, file: relative(ctx.dataDir, r.target) };
    },
  }),
  defineRoute({
    method: "DELETE",
    url: "/v1/dead-letters/:file",
    operationId: "deleteDeadLetter",
    summary: "Delete one dead letter (the dashboard's Purge button)",
    params: DeadLetterParams,
    responses: {
      200: { description: "Deleted", schema: z.object({ purged: z.string().describe("The name of the letter deleted") }) },
      404: noLetter,
      409: { description: "The file is not a dead letter; it is left alone (AGENTOS_NOT_A_DEAD_LETTER)", schema: ErrorBody },
    },
    async handler({ params, ctx }) {
      await deleteDeadLetter(deadLetterPath(ctx.dataDir, ctx.runtime.config, params.file));
      return { purged: params.file };
    },
  }),
  defineRoute({
    method: "POST",
    url: "/v1/dead-letters/purge",
    operationId: "purgeDeadLetters",
    summary: "Delete the dead letters older than an age (of one agent and/or reason)",
    body: PurgeRequest,
    responses: { 200: { description: "What was deleted", schema: Purged } },
    async handler({ body, ctx }) {
      const removed = await purgeDeadLetters(ctx.dataDir, ctx.runtime.config, parseAge(body.older_than), new Date(), { agent: body.agent, reason: body.reason });
      return { purged: removed.map((f) => relative(ctx.dataDir, f)) };
    },
  }),
];
