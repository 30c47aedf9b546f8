/**
 * Finds (or starts) the MariaDB/MySQL server the test suite runs against.
 *
 * Order, per the developers' guide:
 *   (a) MYSQL_URL, when set: it must answer, otherwise we fail loudly (no silent fallback);
 *   (b) the machine's local server at mysql://root@127.0.0.1:3306;
 *   (c) a throwaway `mariadbd` in a fresh temp dir on a free port (~1 s to start);
 *   (d) otherwise an Error that says what to install.
 *
 * `CONTACTS_TEST_NO_LOCAL_MYSQL=1` skips (b), to exercise (c) on a machine that has a local server.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import mysql from "mysql2/promise";

export interface MysqlServer {
  /** `mysql://user[:password]@host:port` (no database). */
  url: string;
  /** Present only for a server this process started: shuts it down and removes its files. */
  stop?: () => Promise<void>;
  /** One human-readable phrase saying how the server was found. */
  how: string;
}

const LOCAL_URL = "mysql://root@127.0.0.1:3306";
const INSTALL_HINT =
  "MariaDB (or MySQL) is needed to run the tests. Install it with " +
  "`apt-get install -y --no-install-recommends mariadb-server` (the tests then start a throwaway " +
  "mariadbd themselves, or use a local server on 127.0.0.1:3306 if one runs), " +
  "or set MYSQL_URL=mysql://user:password@host:port to a server you already have.";

/** Hides the password when a URL is printed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<unparsable MYSQL_URL>";
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** Connects, runs `SELECT 1` and disconnects; rejects on any failure or after `timeoutMs`. */
export async function probeMysql(url: string, timeoutMs = 2000): Promise<void> {
  let conn: mysql.Connection | undefined;
  let timer: NodeJS.Timeout | undefined;
  const work = (async () => {
    conn = await mysql.createConnection({ uri: url, connectTimeout: timeoutMs });
    await conn.query("SELECT 1");
  })();
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    work.catch(() => {}); // the loser of the race must not become an unhandled rejection
    if (conn) conn.destroy();
  }
}

function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), "/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr && typeof addr === "object" && addr.port !== 3306) resolve(addr.port);
        else reject(new Error("could not pick a free port"));
      });
    });
  });
}

function run(cmd: string, args: string[], logPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} exited with ${code} (log: ${logPath}):\n${out.slice(-2000)}`));
    });
  });
}

function tail(path: string, chars = 2000): string {
  try {
    return readFileSync(path, "utf8").slice(-chars);
  } catch {
    return "(no log)";
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A mariadbd of the test's own (the TOOLCHAIN §3 recipe): install-db into a temp dir, mariadbd on
 * a free port. It can be SIGKILLed and started again on the same data directory and port
 * (RELIABILITY scenario 4), and is stopped (and its files removed) with `stop`.
 */
export class OwnMariadb {
  private child: ChildProcess | undefined;
  private exited = true;
  private port = 0;
  private readonly killOnExit = () => {
    if (this.child && !this.exited) this.child.kill("SIGKILL");
  };

  private constructor(
    private readonly mariadbd: string,
    readonly dir: string,
  ) {}

  /** `mysql://root@127.0.0.1:<port>` (no database). */
  get url(): string {
    return `mysql://root@127.0.0.1:${this.port}`;
  }

  private get errorLog(): string {
    return join(this.dir, "error.log");
  }

  static async create(): Promise<OwnMariadb> {
    const mariadbd = findExecutable("mariadbd");
    const installDb = findExecutable("mariadb-install-db");
    if (!mariadbd || !installDb) throw new Error(`mariadbd/mariadb-install-db are not installed (looked in PATH and /usr/sbin).\n${INSTALL_HINT}`);
    const own = new OwnMariadb(mariadbd, await mkdtemp(join(tmpdir(), "contacts-test-mariadb-")));
    try {
      await run(
        installDb,
        [
          "--no-defaults",
          `--datadir=${join(own.dir, "data")}`,
          ...(process.getuid?.() === 0 ? ["--user=root"] : []),
          "--auth-root-authentication-method=normal",
          "--skip-test-db",
          "--skip-name-resolve",
        ],
        join(own.dir, "install.log"),
      );
      own.port = await freePort();
      await own.start();
      return own;
    } catch (err) {
      await own.stop().catch(() => {});
      throw err;
    }
  }

  /** Starts mariadbd on the data directory and port (again, after a kill); resolves when it answers. */
  async start(): Promise<void> {
    const socket = join(this.dir, "mysqld.sock");
    const child = spawn(
      this.mariadbd,
      [
        "--no-defaults",
        `--datadir=${join(this.dir, "data")}`,
        `--socket=${socket}`,
        `--pid-file=${join(this.dir, "mysqld.pid")}`,
        `--port=${this.port}`,
        "--bind-address=127.0.0.1",
        ...(process.getuid?.() === 0 ? ["--user=root"] : []),
        "--skip-name-resolve",
        "--skip-log-bin",
        "--innodb-buffer-pool-size=128M",
        "--innodb-log-file-size=48M",
        `--log-error=${this.errorLog}`,
      ],
      { stdio: "ignore" },
    );
    this.child = child;
    this.exited = false;
    child.on("exit", () => {
      if (this.child === child) this.exited = true;
    });
    child.on("error", () => {
      if (this.child === child) this.exited = true;
    });
    process.on("exit", this.killOnExit);
    // Wait for the socket to answer (install-db only creates root@localhost; over TCP with
    // --skip-name-resolve the client is root@127.0.0.1, which we add through the socket).
    const deadline = Date.now() + 30_000;
    let lastError: unknown;
    for (;;) {
      if (this.exited) throw new Error(`mariadbd exited during startup; ${this.errorLog}:\n${tail(this.errorLog)}`);
      try {
        const admin = await mysql.createConnection({ socketPath: socket, user: "root", connectTimeout: 1000 });
        try {
          await admin.query("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'");
          await admin.query("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION");
        } finally {
          await admin.end();
        }
        break;
      } catch (err) {
        lastError = err;
      }
      if (Date.now() > deadline) {
        throw new Error(`mariadbd did not answer within 30 s (${errorText(lastError)}); ${this.errorLog}:\n${tail(this.errorLog)}`);
      }
      await sleep(100);
    }
    await probeMysql(this.url, 5000);
  }

  /** SIGKILL: no shutdown, no flush beyond what InnoDB made durable at each commit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || this.exited) return;
    const done = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGKILL");
    await done;
  }

  async stop(): Promise<void> {
    process.off("exit", this.killOnExit);
    const child = this.child;
    if (child && !this.exited) {
      const done = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM"); // mariadbd shuts down cleanly on SIGTERM (~1 s)
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await done;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function startThrowawayMariadb(): Promise<MysqlServer> {
  const own = await OwnMariadb.create();
  return { url: own.url, stop: () => own.stop(), how: `throwaway mariadbd started in ${own.dir}` };
}

export async function resolveMysqlServer(): Promise<MysqlServer> {
  // (a) explicit MYSQL_URL: use it or fail; never silently test against something else.
  const explicit = process.env.MYSQL_URL;
  if (explicit !== undefined && explicit !== "") {
    try {
      await probeMysql(explicit, 5000);
    } catch (err) {
      throw new Error(
        `MYSQL_URL is set to ${redactUrl(explicit)} but that server does not answer ` +
          `(${errorText(err)}). Start that server, fix MYSQL_URL, or unset it to use the local ` +
          `server on 127.0.0.1:3306 or a throwaway mariadbd.`,
      );
    }
    return { url: explicit, how: "from MYSQL_URL" };
  }

  // (b) the machine's local server.
  let localError = "skipped (CONTACTS_TEST_NO_LOCAL_MYSQL=1)";
  if (process.env.CONTACTS_TEST_NO_LOCAL_MYSQL !== "1") {
    try {
      await probeMysql(LOCAL_URL, 2000);
      return { url: LOCAL_URL, how: "local server on 127.0.0.1:3306" };
    } catch (err) {
      localError = errorText(err);
    }
  }

  // (c) a throwaway server, if MariaDB is installed.
  const mariadbd = findExecutable("mariadbd");
  const installDb = findExecutable("mariadb-install-db");
  if (mariadbd && installDb) {
    try {
      return await startThrowawayMariadb();
    } catch (err) {
      throw new Error(
        `No MySQL server for the tests: 127.0.0.1:3306 ${localError}, and starting a throwaway ` + `mariadbd failed: ${errorText(err)}\n${INSTALL_HINT}`,
      );
    }
  }

  // (d) nothing to use.
  throw new Error(
    `No MySQL server for the tests: MYSQL_URL is unset, 127.0.0.1:3306 ${localError}, and ` +
      `mariadbd/mariadb-install-db are not installed (looked in PATH and /usr/sbin).\n${INSTALL_HINT}`,
  );
}
