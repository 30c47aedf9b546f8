/** What the bench drivers share: options, the compiled bench servers, medians. */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

export const root = join(import.meta.dirname, "..");
const args = process.argv.slice(2);

/** `--name N` from the command line, or `def`. */
export function opt(name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : def;
}

/** `--name` present on the command line. */
export function flag(name: string): boolean {
  return args.includes(`--${name}`);
}

const outDir = join(root, "node_modules/.cache/contacts-bench");

/**
 * Compiles bench/servers/ with tsc, so that no server pays tsx's loader (which also turns on
 * source maps, making every Error/stack capture dearer).
 */
export function buildServers(): void {
  const t0 = performance.now();
  execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(root, "bench/tsconfig.bench.json")], { stdio: "inherit" });
  // The output sits under node_modules/, where Node stops looking for the repo's package.json:
  // mark it as ESM explicitly.
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "package.json"), '{ "type": "module" }\n');
  console.log(`built bench servers with tsc in ${Math.round(performance.now() - t0)} ms`);
}

export interface BenchServer {
  name: string;
  proc: ChildProcess;
  port: number;
}

/**
 * Starts bench/servers/<script> (compiled, or under tsx) in its own process; resolves when it
 * prints `PORT n`. `BENCH_CPU_PROF=<name>,…` profiles those servers (`node --cpu-prof`, written
 * to bench/.tmp/prof/ when the server stops).
 */
export function startServer(name: string, script: string, env: NodeJS.ProcessEnv, tsx = false): Promise<BenchServer> {
  const profile = (process.env.BENCH_CPU_PROF ?? "").split(",").includes(name) ? ["--cpu-prof", "--cpu-prof-dir", join(root, "bench/.tmp/prof")] : [];
  const cmd = [...profile, ...(tsx ? ["--import", "tsx", join(root, `bench/servers/${script}.ts`)] : [join(outDir, `bench/servers/${script}.js`)])];
  const proc = spawn(process.execPath, cmd, { cwd: root, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    rl.on("line", (line) => {
      const m = /^PORT (\d+)/.exec(line);
      if (m) resolve({ name, proc, port: Number(m[1]) });
    });
    proc.once("exit", (code) => reject(new Error(`${name} server exited early (${code})`)));
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
