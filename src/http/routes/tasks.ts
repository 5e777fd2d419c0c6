// Tasks: queue one for an agent, follow it by id. Both go through ops/ (enqueue, findTask).
import { enqueueTask } from "../../ops/enqueue.js";
import { findResult } from "../../ops/results.js";
import { findTask } from "../../ops/tasks.js";
import { defineRoute, type ApiRoute } from "../route.js";
import { AgentParams, ErrorBody, TaskAccepted, TaskParams, TaskRequest, TaskStatus } from "../schemas.js";

export const taskRoutes: ApiRoute[] = [
  defineRoute({
    method: "POST",
    url: "/v1/agents/:name/tasks",
    operationId: "enqueueTask",
    summary: "Queue a task for an agent. It is appended to the agent's queue.md with one fsync'd write before the 202, so a crash right after the answer loses nothing.",
    params: AgentParams,
    body: TaskRequest,
    responses: {
      202: { description: "Accepted and durable; follow it at `url`", schema: TaskAccepted, headers: { Location: "The task's status URL" } },
      400: { description: "The body does not match the schema, is not JSON, or the task text holds a control character (AGENTOS_INVALID_REQUEST, AGENTOS_INVALID_JSON, AGENTOS_INVALID_TASK_TEXT)", schema: ErrorBody },
      404: { description: "No such agent in agents.yaml (AGENTOS_UNKNOWN_AGENT)", schema: ErrorBody },
      409: { description: "The id is already queued for this agent, or was already used (AGENTOS_TASK_ID_QUEUED, AGENTOS_TASK_ID_USED)", schema: ErrorBody },
      429: {
        description: "Backpressure: the agent already holds max_queue_depth unfinished tasks (AGENTOS_QUEUE_FULL), or too many wrong tokens came from this address (AGENTOS_TOO_MANY_FAILURES). Retry after `Retry-After` seconds.",
        schema: ErrorBody,
        headers: { "Retry-After": "Seconds to wait" },
      },
    },
    async handler({ params, body, reply, ctx }) {
      const { id, agent } = await enqueueTask(ctx.dataDir, ctx.runtime.config, { agent: params.name, task: body.task, id: body.id, priority: body.priority, ttlSeconds: body.ttl_seconds, noWait: true });
      const url = `/v1/agents/${agent}/tasks/${id}`;
      return reply.code(202).header("location", url).send({ id, agent, status: "queued", url });
    },
  }),
  defineRoute({
    method: "GET",
    url: "/v1/agents/:name/tasks/:id",
    operationId: "getTask",
    summary: "Where a task is: queued (in a file or in the scheduler), running, done (with its result) or dead (with the dead letter)",
    params: TaskParams,
    responses: {
      200: { description: "The task's status", schema: TaskStatus },
      404: { description: "No such agent, or no task with this id (AGENTOS_UNKNOWN_AGENT, AGENTOS_UNKNOWN_TASK)", schema: ErrorBody },
    },
    handler: async ({ params, ctx }) => findTask(ctx.dataDir, ctx.runtime.config, params.name, params.id, ctx.runtime.agents),
  }),
  defineRoute({
    method: "GET",
    url: "/v1/agents/:name/results/:id",
    operationId: "getResult",
    summary: "A task's result (markdown) by its id: from results/ in the agent's repository, else from git history",
    params: TaskParams,
    responses: {
      200: { description: "The result file; its path in the data dir is in `X-AgentOS-Result-Path`", media: "text/markdown", headers: { "X-AgentOS-Result-Path": "Where the result is, relative to the data dir" } },
      404: { description: "No such agent, or no result for this id (AGENTOS_UNKNOWN_AGENT, AGENTOS_UNKNOWN_RESULT)", schema: ErrorBody },
    },
    async handler({ params, reply, ctx }) {
      const found = await findResult(ctx.dataDir, ctx.runtime.config, params.id, params.name);
      return reply.type("text/markdown; charset=utf-8").header("x-agentos-result-path", found.path).send(found.text);
    },
  }),
];
