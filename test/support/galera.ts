/**
 * A 3-node MariaDB Galera cluster on loopback, each node with its own data directory, ports and
 * `my.cnf` (the TOOLCHAIN §6 recipe): `innodb_flush_log_at_trx_commit=1`, rsync state transfer,
 * the first node bootstrapping the cluster. Nodes can be SIGKILLed, SIGSTOPped and started again
 * (they rejoin by IST/SST). Run as root, the nodes run as the `mysql` user: the rsync daemon that
 * receives a state transfer drops root to `nobody`, which cannot write the data directory.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import mysql from "mysql2/promise";
import { freePort } from "./server-process.js";

const run = promisify(execFile);
const PROVIDERS = ["/usr/lib/galera/libgalera_smm.so", "/usr/lib/libgalera_smm.so", "/usr/lib64/galera-4/libgalera_smm.so"];

export interface GaleraNode {
  name: string;
  port: number;
  socket: string;
  dir: string;
  child?: ChildProcess;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class GaleraCluster {
  private constructor(
    readonly dir: string,
    readonly nodes: GaleraNode[],
  ) {}

  /** `mysql://root@127.0.0.1:<port>` of node `i` (0-based). */
  url(i: number): string {
    return `mysql://root@127.0.0.1:${this.nodes[i]?.port}`;
  }

  /** A cluster some other process started (scripts/cluster.ts keeps its directory and ports). */
  static attach(dir: string, nodes: { name: string; port: number }[]): GaleraCluster {
    return new GaleraCluster(
      dir,
      nodes.map((n) => ({ name: n.name, port: n.port, socket: join(dir, n.name, "mysqld.sock"), dir: join(dir, n.name) })),
    );
  }

  static available(): string | undefined {
    if (!PROVIDERS.some((p) => existsSync(p))) return "no Galera provider (libgalera_smm.so): apt-get install -y galera-4";
    return undefined;
  }

  static async up(): Promise<GaleraCluster> {
    const provider = PROVIDERS.find((p) => existsSync(p));
    if (!provider) throw new Error(GaleraCluster.available());
    const dir = await mkdtemp(join(tmpdir(), "contacts-galera-"));
    const root = process.getuid?.() === 0;
    const runAs = root ? await mysqlUser() : undefined;
    // 3 nodes × (client, group communication, IST, state transfer), all distinct.
    const taken = new Set<number>();
    while (taken.size < 12) taken.add(await freePort());
    const ports = [...taken];
    const nodes: GaleraNode[] = [];
    try {
      await GaleraCluster.install(dir, nodes, ports, provider, runAs);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    const cluster = new GaleraCluster(dir, nodes);
    try {
      await cluster.start(0, true);
      const admin = await mysql.createConnection({ socketPath: nodes[0]?.socket, user: "root" });
      await admin.query("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'");
      await admin.query("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION");
      await admin.end();
      await cluster.start(1);
      await cluster.start(2);
      return cluster;
    } catch (err) {
      await cluster.down();
      throw err;
    }
  }

  /** Writes each node's my.cnf and initialises its data directory. */
  private static async install(
    dir: string,
    nodes: GaleraNode[],
    ports: number[],
    provider: string,
    runAs: { user: string; uid: number; gid: number } | undefined,
  ): Promise<void> {
    const gcomm = [0, 1, 2].map((i) => `127.0.0.1:${ports[3 + i]}`);
    for (let i = 0; i < 3; i++) {
      const nodeDir = join(dir, `node${i + 1}`);
      mkdirSync(nodeDir, { recursive: true });
      const node: GaleraNode = { name: `node${i + 1}`, port: ports[i] as number, socket: join(nodeDir, "mysqld.sock"), dir: nodeDir };
      writeFileSync(
        join(nodeDir, "my.cnf"),
        [
          "[mysqld]",
          `datadir=${join(nodeDir, "data")}`,
          `socket=${node.socket}`,
          `pid-file=${join(nodeDir, "mysqld.pid")}`,
          `port=${node.port}`,
          "bind-address=127.0.0.1",
          `user=${runAs?.user ?? userInfo().username}`,
          "skip-name-resolve",
          `log-error=${join(nodeDir, "error.log")}`,
          "innodb_buffer_pool_size=64M",
          "innodb_log_file_size=48M",
          "innodb_flush_log_at_trx_commit=1",
          "binlog_format=ROW",
          "innodb_autoinc_lock_mode=2",
          "max_connections=300",
          "wsrep_on=ON",
          `wsrep_provider=${provider}`,
          "wsrep_cluster_name=contacts-test",
          `wsrep_cluster_address=gcomm://${gcomm.join(",")}`,
          `wsrep_node_address=${gcomm[i]}`,
          `wsrep_provider_options=gmcast.listen_addr=tcp://${gcomm[i]};ist.recv_addr=127.0.0.1:${ports[6 + i]}`,
          `wsrep_sst_receive_address=127.0.0.1:${ports[9 + i]}`,
          "wsrep_sst_method=rsync",
          "",
        ].join("\n"),
      );
      if (runAs) chownTree(dir, runAs.uid, runAs.gid);
      await run("mariadb-install-db", [
        `--defaults-file=${join(nodeDir, "my.cnf")}`,
        ...(runAs ? [`--user=${runAs.user}`] : []),
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
      ]);
      nodes.push(node);
    }
    if (runAs) chownTree(dir, runAs.uid, runAs.gid);
  }

  /** Starts node `i` (bootstrapping a new cluster with `bootstrap`) and waits until it is Synced. */
  async start(i: number, bootstrap = false): Promise<void> {
    const node = this.nodes[i] as GaleraNode;
    // A joining node that exits (a state transfer that failed, as seen once in ~20 restarts) is
    // started once more, as an operator would; the second failure is reported with its log.
    for (let attempt = 1; ; attempt++) {
      node.child = spawn("mariadbd", [`--defaults-file=${join(node.dir, "my.cnf")}`, ...(bootstrap ? ["--wsrep-new-cluster"] : [])], { stdio: "ignore" });
      const child = node.child;
      const deadline = Date.now() + 120_000;
      while ((await this.state(i)) !== 4 && child.exitCode === null && Date.now() < deadline) await sleep(250);
      if ((await this.state(i)) === 4) return;
      const log = existsSync(join(node.dir, "error.log"))
        ? readFileSync(join(node.dir, "error.log"), "utf8").split("\n").slice(-25).join("\n")
        : "(no error.log)";
      const failure = `${node.name} did not reach Synced (exit ${child.exitCode}); the end of its error.log:\n${log}`;
      if (attempt >= 2 || child.exitCode === null) throw new Error(failure);
      console.warn(`${failure}\nstarting ${node.name} once more`);
    }
  }

  /** `wsrep_local_state` of node `i` (4: Synced), or undefined when it does not answer. */
  async state(i: number): Promise<number | undefined> {
    const node = this.nodes[i] as GaleraNode;
    try {
      const c = await mysql.createConnection({ socketPath: node.socket, user: "root", connectTimeout: 1000 });
      try {
        const [rows] = (await c.query("show status like 'wsrep_local_state'")) as unknown as [{ Value: string }[]];
        return Number(rows[0]?.Value);
      } finally {
        await c.end();
      }
    } catch {
      return undefined;
    }
  }

  /**
   * Node `i`'s view of the cluster: its state, whether its component is Primary, the component's
   * size and configuration id (all nodes of one component share it; a node resumed after being
   * evicted still shows its old one until it notices), or undefined when it does not answer.
   */
  async view(i: number): Promise<{ state: number; primary: boolean; size: number; confId: string } | undefined> {
    const node = this.nodes[i] as GaleraNode;
    try {
      const c = await mysql.createConnection({ socketPath: node.socket, user: "root", connectTimeout: 1000 });
      try {
        const [rows] = (await c.query(
          "show status where Variable_name in ('wsrep_local_state', 'wsrep_cluster_status', 'wsrep_cluster_size', 'wsrep_cluster_conf_id')",
        )) as unknown as [{ Variable_name: string; Value: string }[]];
        const v = Object.fromEntries(rows.map((r) => [r.Variable_name, r.Value]));
        return {
          state: Number(v.wsrep_local_state),
          primary: v.wsrep_cluster_status === "Primary",
          size: Number(v.wsrep_cluster_size),
          confId: String(v.wsrep_cluster_conf_id),
        };
      } finally {
        await c.end();
      }
    } catch {
      return undefined;
    }
  }

  /** True when all three nodes are Synced in one Primary component. */
  async whole(): Promise<boolean> {
    const views = await Promise.all(this.nodes.map((_, i) => this.view(i)));
    return views.every((v) => v?.state === 4 && v.primary && v.size === 3 && v.confId === views[0]?.confId);
  }

  async kill(i: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.nodes[i]?.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill(signal);
    if (signal === "SIGKILL" || signal === "SIGTERM") await exited;
  }

  private haproxyChild: ChildProcess | undefined;

  /** The HAProxy process haproxy() started, if any. */
  get haproxyProcess(): ChildProcess | undefined {
    return this.haproxyChild;
  }

  /**
   * HAProxy in front of the nodes: every connection goes to the first node that is Synced
   * (`wsrep_local_state` = 4, asked by an external check every 500 ms; an open port is not
   * enough), the others standing by; a node that fails its check has its sessions cut, so clients
   * reconnect through HAProxy to the next. Resolves with HAProxy's port.
   */
  async haproxy(): Promise<number> {
    const binary = ["/usr/sbin/haproxy", "/usr/bin/haproxy", "/usr/local/sbin/haproxy"].find((b) => existsSync(b));
    if (!binary) throw new Error("HAProxy is not installed: apt-get install -y --no-install-recommends haproxy");
    const port = await freePort();
    const check = join(this.dir, "wsrep-check.sh");
    writeFileSync(
      check,
      "#!/bin/sh\n# HAProxy external check: $3 $4 are the node's address and port. Up when Synced; a node that does not answer within 1 s (frozen, or its network) is down.\n" +
        'state=$(timeout 1 mariadb --no-defaults -h "$3" -P "$4" -uroot --connect-timeout=1 -N -e "show status like \'wsrep_local_state\'" 2>/dev/null | cut -f2)\n' +
        '[ "$state" = 4 ]\n',
      { mode: 0o755 },
    );
    const config = join(this.dir, "haproxy.cfg");
    writeFileSync(
      config,
      [
        "global",
        "  external-check",
        "  insecure-fork-wanted",
        "  maxconn 1000",
        "defaults",
        "  mode tcp",
        "  timeout connect 2s",
        "  timeout client 1h",
        "  timeout server 1h",
        "listen galera",
        `  bind 127.0.0.1:${port}`,
        "  option external-check",
        '  external-check path "/usr/bin:/bin:/usr/sbin"',
        `  external-check command ${check}`,
        "  default-server inter 500 fall 2 rise 2 on-marked-down shutdown-sessions",
        ...this.nodes.map((n, i) => `  server ${n.name} 127.0.0.1:${n.port} check${i > 0 ? " backup" : ""}`),
        "",
      ].join("\n"),
    );
    this.haproxyChild = spawn(binary, ["-db", "-f", config], { stdio: "ignore" });
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        const c = await mysql.createConnection({ host: "127.0.0.1", port, user: "root", connectTimeout: 1000 });
        await c.end();
        return port;
      } catch (err) {
        if (this.haproxyChild.exitCode !== null || Date.now() > deadline) throw new Error(`HAProxy did not start: ${String(err)}`);
        await sleep(200);
      }
    }
  }

  async down(): Promise<void> {
    this.haproxyChild?.kill("SIGKILL");
    await Promise.all(this.nodes.map((_, i) => this.kill(i, "SIGKILL")));
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function mysqlUser(): Promise<{ user: string; uid: number; gid: number }> {
  const { stdout } = await run("id", ["mysql"]);
  const uid = Number(/uid=(\d+)/.exec(stdout)?.[1]);
  const gid = Number(/gid=(\d+)/.exec(stdout)?.[1]);
  return { user: "mysql", uid, gid };
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) chownTree(p, uid, gid);
    else chownSync(p, uid, gid);
  }
}
