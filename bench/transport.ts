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
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { type BenchServer as Server, buildServers, flag, median, opt, root, startServer as spawnServer } from "./lib.js";

const rounds = opt("rounds", 9);
const calls = opt("calls", 10_000);
const warmup = opt("warmup", 2000);
const inflight = opt("inflight", 64);
const useTsx = flag("tsx");
const logJson = flag("log-json");

function startServer(name: string, script: string): Promise<Server> {
  return spawnServer(name, script, { BENCH_LOG_JSON: logJson ? "1" : "0" }, useTsx);
}

interface HealthClient extends grpc.Client {
  check(req: { service: string }, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): grpc.ClientUnaryCall;
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

async function main(): Promise<void> {
  console.log(
    `node ${process.version}, ${cpus().length} cores, load avg ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}; servers run ${useTsx ? "under node --import tsx" : "as tsc output"}${logJson ? "; logging interceptor serializes to JSON" : ""}`,
  );
  console.log(`${rounds} rounds x (${warmup} warm-up + ${calls} calls, ${inflight} in flight)`);
  if (!useTsx) buildServers();
  const servers = await Promise.all([startServer("bare", "bare-health"), startServer("ours", "ours-health"), startServer("app", "app")]);
  const results = new Map<string, Run[]>(servers.map((s) => [s.name, []]));
  const t0 = performance.now();
  try {
    for (let r = 1; r <= rounds; r++) {
      for (const s of servers) {
        const run = await measure(s);
        results.get(s.name)?.push(run);
        console.log(`round ${r} ${s.name.padEnd(4)} ${Math.round(run.cps)} calls/s, server CPU ${Math.round(run.cpuUs)} µs/call`);
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
      s.name === "bare" ? "" : `  ratio to bare: medians ${(m / mb).toFixed(3)}, per-round median ${perRound.toFixed(3)} (CPU ${(c / cb).toFixed(2)}x)`;
    console.log(`${labels[s.name]} runs ${fmt(rs)}  median ${Math.round(m)} calls/s, server CPU ${Math.round(c)} µs/call${ratio}`);
  }
  console.log(`(measured in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

await main();
