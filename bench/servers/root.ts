import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

/** The repo root, whether run from bench/servers (tsx) or from the compiled copy. */
function findRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, "third_party/grpc/health/v1/health.proto"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`repo root not found above ${from}`);
    dir = up;
  }
  return dir;
}

export const projectRoot = findRoot(import.meta.dirname);
