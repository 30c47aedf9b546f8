/**
 * `npm run bench:transport`: unary calls/s of grpc.health.v1.Health/Check on
 * a bare grpc-js server, on createGrpcServer alone (a Connect impl + two small
 * interceptors: the adapter's own cost) and on the real server (startServer:
 * its interceptors and pino request log, embedded store in memory).
 *
 * Each server runs in its own child process; this process drives them with
 * one grpc-js client loop (2000 warm-up calls, then 10,000 calls with 64 in
 * flight), taking the servers in turn for 9 rounds, and prints runs, medians and
 * each one's ratio to bare.
 *
 * Both servers run as plain `tsc` output by default, so neither pays tsx's
 * loader (which also turns on source maps, making every Error/stack capture
 * dearer). `--tsx` runs both under `node --import tsx` instead.
 *
 * Options: --rounds N (9), --calls N (10000), --warmup N (2000),
 *          --inflight N (64), --tsx, --log-json (the logging interceptor
 *          also JSON-serializes its record)
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const root = join(import.meta.dirname, "..");
const args = process.argv.slice(2);
function opt(name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : def;
}
const rounds = opt("rounds", 9);
const calls = opt("calls", 10_000);
const warmup = opt("warmup", 2000);
const inflight = opt("inflight", 64);
const useTsx = args.includes("--tsx");
const logJson = args.includes("--log-json");

const outDir = join(root, "node_modules/.cache/contacts-bench");

function build(): void {
  const t0 = performance.now();
  execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", join(root, "bench/tsconfig.bench.json")], {
    stdio: "inherit",
  });
  // The output sits under node_modules/, where Node stops looking for the
  // repo's package.json: mark it as ESM explicitly.
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "package.json"), '{ "type": "module" }\n');
  console.log(`built bench servers with tsc in ${Math.round(performance.now() - t0)} ms`);
}

interface Server {
  name: string;
  proc: ChildProcess;
  port: number;
}

function startServer(name: string, script: string): Promise<Server> {
  const cmd = useTsx
    ? ["--import", "tsx", join(root, `bench/servers/${script}.ts`)]
    : [join(outDir, `bench/servers/${script}.js`)];
  const proc = spawn(process.execPath, cmd, {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, BENCH_LOG_JSON: logJson ? "1" : "0" },
  });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    rl.on("line", (line) => {
      const m = /^PORT (\d+)/.exec(line);
      if (m) resolve({ name, proc, port: Number(m[1]) });
    });
    proc.once("exit", (code) => reject(new Error(`${name} server exited early (${code})`)));
  });
}

interface HealthClient extends grpc.Client {
  check(
    req: { service: string },
    md: grpc.Metadata,
    cb: (err: grpc.ServiceError | null, res?: { status: string }) => void,
  ): grpc.ClientUnaryCall;
}

const def = protoLoader.loadSync(join(root, "third_party/grpc/health/v1/health.proto"), {
  enums: String,
  defaults: true,
});
const HealthCtor = (
  grpc.loadPackageDefinition(def) as unknown as {
    grpc: { health: { v1: { Health: new (addr: string, creds: grpc.ChannelCredentials) => HealthClient } } };
  }
).grpc.health.v1.Health;

// Same request metadata to both servers; ours reads x-tenant-id.
const md = new grpc.Metadata();
md.set("x-tenant-id", "acme");

function drive(client: HealthClient, n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let done = 0;
    const t0 = performance.now();
    const fire = (): void => {
      sent++;
      client.check({ service: "" }, md, (err, res) => {
        if (err) return reject(err);
        if (res?.status !== "SERVING") return reject(new Error(`unexpected response ${JSON.stringify(res)}`));
        done++;
        if (done === n) resolve(n / ((performance.now() - t0) / 1000));
        else if (sent < n) fire();
      });
    };
    for (let i = 0; i < Math.min(inflight, n); i++) fire();
  });
}

/** utime+stime of a process in clock ticks (Linux /proc), or NaN elsewhere. */
function cpuTicks(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return Number.NaN;
  }
}
// USER_HZ is 100 on Linux.
const TICK_US = 10_000;

interface Run {
  cps: number;
  /** Server process CPU per call (all its threads, GC included), in µs. */
  cpuUs: number;
}

async function measure(s: Server): Promise<Run> {
  const client = new HealthCtor(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
  try {
    await drive(client, warmup);
    const t0 = cpuTicks(s.proc.pid);
    const cps = await drive(client, calls);
    return { cps, cpuUs: ((cpuTicks(s.proc.pid) - t0) * TICK_US) / calls };
  } finally {
    client.close();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

async function main(): Promise<void> {
  console.log(
    `node ${process.version}, ${cpus().length} cores, load avg ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}; servers run ${useTsx ? "under node --import tsx" : "as tsc output"}${
      logJson ? "; logging interceptor serializes to JSON" : ""
    }`,
  );
  console.log(`${rounds} rounds x (${warmup} warm-up + ${calls} calls, ${inflight} in flight)`);
  if (!useTsx) build();
  const servers = await Promise.all([
    startServer("bare", "bare-health"),
    startServer("ours", "ours-health"),
    startServer("app", "app"),
  ]);
  const results = new Map<string, Run[]>(servers.map((s) => [s.name, []]));
  const t0 = performance.now();
  try {
    for (let r = 1; r <= rounds; r++) {
      for (const s of servers) {
        const run = await measure(s);
        results.get(s.name)?.push(run);
        console.log(
          `round ${r} ${s.name.padEnd(4)} ${Math.round(run.cps)} calls/s, server CPU ${Math.round(run.cpuUs)} µs/call`,
        );
      }
    }
  } finally {
    for (const s of servers) s.proc.kill("SIGTERM");
  }
  const fmt = (rs: Run[]): string => rs.map((r) => Math.round(r.cps)).join(" / ");
  const labels: Record<string, string> = {
    bare: "bare grpc-js      ",
    ours: "createGrpcServer  ",
    app: "the real server   ",
  };
  const bare = results.get("bare") ?? [];
  const mb = median(bare.map((r) => r.cps));
  const cb = median(bare.map((r) => r.cpuUs));
  console.log("");
  for (const s of servers) {
    const rs = results.get(s.name) ?? [];
    const m = median(rs.map((r) => r.cps));
    const c = median(rs.map((r) => r.cpuUs));
    // The machine's speed drifts between rounds; each round's ratio to the bare
    // run next to it cancels most of that, so the median of those is the figure.
    const perRound = median(rs.map((r, i) => r.cps / (bare[i]?.cps ?? Number.NaN)));
    const ratio =
      s.name === "bare"
        ? ""
        : `  ratio to bare: medians ${(m / mb).toFixed(3)}, per-round median ${perRound.toFixed(3)} (CPU ${(c / cb).toFixed(2)}x)`;
    console.log(`${labels[s.name]} runs ${fmt(rs)}  median ${Math.round(m)} calls/s, server CPU ${Math.round(c)} µs/call${ratio}`);
  }
  console.log(`(measured in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

await main();
