// How many tasks an agent may hold admitted (ready or running): its throughput class's
// max_queue_depth, or iac.backpressure.max_queue_depth_per_agent for every agent. One
// formula for the scheduler, `enqueue --no-wait` and the API's 429.
import type { AgentConfig, AgentsFile } from "./schema.js";

export function maxQueueDepth(file: AgentsFile, throughputClass: AgentConfig["throughput_class"]): number {
  return file.iac.backpressure.max_queue_depth_per_agent ?? file.throughput_classes[throughputClass].max_queue_depth;
}
