/**
 * `npm run cluster -- up|status|kill N|down`: a 3-node MariaDB Galera cluster on loopback
 * (test/support/galera.ts), left running between commands; its state is kept in
 * $CLUSTER_STATE (default /tmp/contacts-galera.json).
 *
 *   npm run cluster -- up        # prints each node's MYSQL_URL
 *   MYSQL_URL=mysql://root@127.0.0.1:<port> npm test -- test/contacts.test.ts test/merge.test.ts test/events.test.ts
 *   npm run cluster -- kill 2    # SIGKILL node 2 (1-based)
 *   npm run cluster -- status    # wsrep_local_state of each node (4: Synced)
 *   npm run cluster -- down      # stops the nodes and removes their files
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import mysql from "mysql2/promise";
import { GaleraCluster } from "../test/support/galera.js";

interface State {
  dir: string;
  nodes: { name: string; port: number; socket: string; pid: number }[];
}

const statePath = process.env.CLUSTER_STATE || "/tmp/contacts-galera.json";
const [command, arg] = process.argv.slice(2);

function state(): State {
  if (!existsSync(statePath)) throw new Error(`no cluster recorded in ${statePath}: run \`npm run cluster -- up\` first`);
  return JSON.parse(readFileSync(statePath, "utf8")) as State;
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

switch (command) {
  case "up": {
    const cluster = await GaleraCluster.up();
    const recorded: State = {
      dir: cluster.dir,
      nodes: cluster.nodes.map((n) => ({ name: n.name, port: n.port, socket: n.socket, pid: n.child?.pid ?? 0 })),
    };
    writeFileSync(statePath, JSON.stringify(recorded, null, 2));
    for (const n of recorded.nodes) console.log(`${n.name}: MYSQL_URL=mysql://root@127.0.0.1:${n.port} (pid ${n.pid})`);
    // The nodes outlive this process.
    for (const n of cluster.nodes) n.child?.unref();
    process.exit(0);
    break;
  }
  case "status":
    for (const n of state().nodes) console.log(`${n.name} 127.0.0.1:${n.port} wsrep_local_state=${await wsrepState(n.socket)}`);
    break;
  case "kill": {
    const node = state().nodes[Number(arg) - 1];
    if (!node) throw new Error("kill N: N is 1, 2 or 3");
    process.kill(node.pid, "SIGKILL");
    console.log(`${node.name} (pid ${node.pid}) killed`);
    break;
  }
  case "down": {
    const s = state();
    for (const n of s.nodes) {
      try {
        process.kill(n.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    rmSync(s.dir, { recursive: true, force: true });
    rmSync(statePath, { force: true });
    console.log("cluster stopped and removed");
    break;
  }
  default:
    console.error("usage: npm run cluster -- up|status|kill N|down");
    process.exit(2);
}
