// Checks an HTTP response against the server's own /openapi.json: the operation exists
// (else it must be a 404, or a 405 whose Allow lists the path's methods), the status is
// documented, the media type and the documented headers are there, and a JSON body
// validates against the documented schema (ajv, as fastify validates). One helper for
// every test that talks to the REST API.
import { Ajv, type ValidateFunction } from "ajv";

interface Operation {
  operationId: string;
  responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, { schema: object }> }>;
}

export interface CheckedResponse {
  method: string;
  /** The path as requested, with its query string if any. */
  url: string;
  status: number;
  headers: Headers;
  text: string;
}

export class OpenApiChecker {
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly compiled = new Map<object, ValidateFunction>();
  private readonly templates: { template: string; pattern: RegExp }[];
  /** How many responses were checked, per operationId (and "404", "405"). */
  readonly seen = new Map<string, number>();

  constructor(readonly doc: { paths: Record<string, Record<string, Operation>>; components: { schemas: { Error: object } } }) {
    this.templates = Object.keys(doc.paths).map((template) => ({
      template,
      pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{\w+\}/g, "[^/]+")}$`),
    }));
  }

  /** Throws, naming the request and what disagrees, unless the response is what the document says. */
  check(res: CheckedResponse): void {
    const where = `${res.method} ${res.url} → ${res.status}`;
    const path = res.url.split("?")[0]!;
    const matches = this.templates.filter((t) => t.pattern.test(path));
    // A static path wins over a template, as in the router (/v1/dead-letters/purge).
    const item = (matches.find((t) => !t.template.includes("{")) ?? matches[0])?.template;
    const op = item ? this.doc.paths[item]![res.method.toLowerCase()] : undefined;
    if (!op) {
      const methods = item ? Object.keys(this.doc.paths[item]!).map((m) => m.toUpperCase()) : [];
      if (methods.includes("GET")) methods.push("HEAD");
      const expected = methods.length ? 405 : 404;
      if (res.status !== expected) throw new Error(`${where}: not in /openapi.json, so expected ${expected}`);
      if (expected === 405 && (res.headers.get("allow") ?? "").split(/,\s*/).sort().join(",") !== methods.sort().join(",")) {
        throw new Error(`${where}: Allow is '${res.headers.get("allow")}', expected the methods of ${item}: ${methods.join(", ")}`);
      }
      this.validate(this.doc.components.schemas.Error, res, where);
      this.count(String(expected));
      return;
    }
    const documented = op.responses[String(res.status)];
    if (!documented) throw new Error(`${where}: status ${res.status} is not documented for ${op.operationId} (it has ${Object.keys(op.responses).join(", ")})`);
    for (const h of Object.keys(documented.headers ?? {})) {
      if (!res.headers.has(h)) throw new Error(`${where}: the documented header ${h} is missing`);
    }
    const media = Object.keys(documented.content ?? {});
    const type = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
    if (media.length && !media.includes(type)) throw new Error(`${where}: content-type '${type}', documented ${media.join(", ")}`);
    const schema = documented.content?.["application/json"]?.schema;
    if (schema) this.validate(schema, res, where);
    this.count(op.operationId);
  }

  private validate(schema: object, res: CheckedResponse, where: string): void {
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      throw new Error(`${where}: the body is not JSON: ${res.text.slice(0, 200)}`);
    }
    let validate = this.compiled.get(schema);
    if (!validate) this.compiled.set(schema, (validate = this.ajv.compile(schema)));
    if (!validate(body)) throw new Error(`${where}: the body does not match /openapi.json: ${this.ajv.errorsText(validate.errors)}\n${res.text.slice(0, 500)}`);
  }

  private count(key: string): void {
    this.seen.set(key, (this.seen.get(key) ?? 0) + 1);
  }
}
