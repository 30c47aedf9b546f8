/**
 * `npm run cluster -- <command>`: a 3-node MariaDB Galera cluster on loopback with HAProxy in
 * front (test/support/galera.ts), left running between commands; its state is kept in
 * $CLUSTER_STATE (default /tmp/contacts-galera.json).
 *
 *   npm run cluster -- up        # prints HAProxy's and each node's MYSQL_URL
 *   MYSQL_URL=mysql://root@127.0.0.1:<haproxy port> npm test -- test/contacts.test.ts
 *   npm run cluster -- status    # wsrep_local_state of each node (4: Synced), HAProxy's port
 *   npm run cluster -- kill 2    # SIGKILL node 2 (1-based)
 *   npm run cluster -- stop 2    # SIGSTOP node 2; `cont 2` resumes it
 *   npm run cluster -- start 2   # starts node 2 again; it rejoins (IST or SST) and is Synced
 *   npm run cluster -- down      # stops HAProxy and the nodes and removes their files
 *   npm run cluster -- test      # up, the Galera subset of the suite through HAProxy, down
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import mysql from "mysql2/promise";
import { GaleraCluster } from "../test/support/galera.js";

/**
 * The tests that exercise what a database cluster can break: contacts and idempotent writes,
 * merge and its races, the change stream, the reliability scenarios, bulk jobs, labels, extended
 * fields and upsert. `npm run cluster -- test` runs them through HAProxy.
 */
const GALERA_SUBSET = [
  "test/contacts.test.ts",
  "test/merge.test.ts",
  "test/merge-races.test.ts",
  "test/events.test.ts",
  "test/reliability-contacts.test.ts",
  "test/bulk-jobs.test.ts",
  "test/labels.test.ts",
  "test/extended-fields.test.ts",
  "test/upsert-export.test.ts",
];

interface State {
  dir: string;
  haproxy: { port: number; pid: number };
  nodes: { name: string; port: number; socket: string; pid: number }[];
}

const statePath = process.env.CLUSTER_STATE || "/tmp/contacts-galera.json";
const [command, arg, ...rest] = process.argv.slice(2);

function state(): State {
  if (!existsSync(statePath)) throw new Error(`no cluster recorded in ${statePath}: run \`npm run cluster -- up\` first`);
  return JSON.parse(readFileSync(statePath, "utf8")) as State;
}

function node(s: State): State["nodes"][number] {
  const n = s.nodes[Number(arg) - 1];
  if (!n) throw new Error(`${command} N: N is 1, 2 or 3`);
  return n;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function wsrepState(socket: string): Promise<string> {
  try {
    const c = await mysql.createConnection({ socketPath: socket, user: "root", connectTimeout: 1000 });
    const [rows] = (await c.query("show status like 'wsrep_local_state'")) as unknown as [{ Value: string }[]];
    await c.end();
    return rows[0]?.Value ?? "?";
  } catch {
    return "down";
  }
}

async function up(): Promise<State> {
  const cluster = await GaleraCluster.up();
  let port: number;
  try {
    port = await cluster.haproxy();
  } catch (err) {
    await cluster.down();
    throw err;
  }
  const recorded: State = {
    dir: cluster.dir,
    haproxy: { port, pid: cluster.haproxyProcess?.pid ?? 0 },
    nodes: cluster.nodes.map((n) => ({ name: n.name, port: n.port, socket: n.socket, pid: n.child?.pid ?? 0 })),
  };
  writeFileSync(statePath, JSON.stringify(recorded, null, 2));
  // The nodes and HAProxy outlive this process.
  for (const n of cluster.nodes) n.child?.unref();
  cluster.haproxyProcess?.unref();
  return recorded;
}

function down(s: State): void {
  signal(s.haproxy.pid, "SIGKILL");
  for (const n of s.nodes) signal(n.pid, "SIGKILL");
  rmSync(s.dir, { recursive: true, force: true });
  rmSync(statePath, { force: true });
}

switch (command) {
  case "up": {
    const s = await up();
    console.log(`HAProxy: MYSQL_URL=mysql://root@127.0.0.1:${s.haproxy.port} (pid ${s.haproxy.pid}; writes go to the first Synced node)`);
    for (const n of s.nodes) console.log(`${n.name}: MYSQL_URL=mysql://root@127.0.0.1:${n.port} (pid ${n.pid})`);
    process.exit(0);
    break;
  }
  case "status": {
    const s = state();
    console.log(`haproxy 127.0.0.1:${s.haproxy.port}`);
    for (const n of s.nodes) console.log(`${n.name} 127.0.0.1:${n.port} wsrep_local_state=${await wsrepState(n.socket)}`);
    break;
  }
  case "kill":
  case "stop":
  case "cont": {
    const n = node(state());
    signal(n.pid, command === "kill" ? "SIGKILL" : command === "stop" ? "SIGSTOP" : "SIGCONT");
    console.log(`${n.name} (pid ${n.pid}) ${command === "kill" ? "killed" : command === "stop" ? "stopped" : "resumed"}`);
    break;
  }
  case "start": {
    const s = state();
    const n = node(s);
    signal(n.pid, "SIGKILL");
    const cluster = GaleraCluster.attach(s.dir, s.nodes);
    const i = Number(arg) - 1;
    await cluster.start(i);
    const child = cluster.nodes[i]?.child;
    n.pid = child?.pid ?? 0;
    child?.unref();
    writeFileSync(statePath, JSON.stringify(s, null, 2));
    console.log(`${n.name} started (pid ${n.pid}) and Synced`);
    process.exit(0);
    break;
  }
  case "down":
    down(state());
    console.log("cluster stopped and removed");
    break;
  case "test": {
    const files = arg ? [arg, ...rest] : GALERA_SUBSET;
    const s = await up();
    const url = `mysql://root@127.0.0.1:${s.haproxy.port}`;
    console.log(`cluster up; running ${files.length} test files with MYSQL_URL=${url} (HAProxy)`);
    const code = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", "test/support/run-tests.ts", ...files], {
        stdio: "inherit",
        env: { ...process.env, MYSQL_URL: url },
      });
      child.on("exit", (c) => resolve(c ?? 1));
    });
    down(s);
    process.exit(code);
    break;
  }
  default:
    console.error("usage: npm run cluster -- up|status|kill N|stop N|cont N|start N|down|test [files…]");
    process.exit(2);
}
