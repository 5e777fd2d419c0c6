// Every route of the REST API, in the order /openapi.json lists them. A new file of
// routes exports its list and is added here; server.ts registers them with one call.
import { DASHBOARD_ROUTES } from "../dashboard/index.js";
import type { ApiRoute } from "../route.js";
import { agentRoutes } from "./agents.js";
import { deadLetterRoutes } from "./dead-letters.js";
import { probeRoutes } from "./probes.js";
import { taskRoutes } from "./tasks.js";

export const API_ROUTES: ApiRoute[] = [...taskRoutes, ...agentRoutes, ...deadLetterRoutes, ...probeRoutes, ...DASHBOARD_ROUTES];
