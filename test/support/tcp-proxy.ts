/**
 * A TCP proxy for outage tests: the server talks to the database through it, and the test cuts
 * the line (`pause`) and restores it (`resume`) without touching the database itself.
 */
import net from "node:net";
import { afterAll, beforeAll } from "vitest";
import { createTestDatabase, type TestDatabase } from "./databases.js";
import { startTestServer, type TestServer } from "./server.js";

export interface TcpProxy {
  /** The local port to connect to instead of the target's. */
  port: number;
  /** Resets every open connection and refuses (resets) new ones until `resume`. */
  pause(): void;
  /** Accepts and forwards connections again. */
  resume(): void;
  /**
   * Black-holes the line: nothing goes through in either direction and nobody is told (no reset,
   * no close), as when a network drops packets; new connections are accepted and left hanging.
   * `restore` lets what waited through, as TCP's retransmissions would.
   */
  blackhole(): void;
  restore(): void;
  /** Resets every connection and stops listening. */
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  let paused = false;
  const open = new Set<net.Socket>();

  const track = (socket: net.Socket) => {
    open.add(socket);
    socket.once("close", () => open.delete(socket));
    // Errors are expected (resets): ignore them rather than crash the test process.
    socket.on("error", () => {});
  };
  const reset = (socket: net.Socket) => {
    if (!socket.destroyed) socket.resetAndDestroy();
  };

  let holed = false;
  /** Each open line's way to stop and start its flow (black-hole). */
  const lines = new Set<{ stop(): void; start(): void }>();
  const server = net.createServer((client) => {
    track(client);
    if (paused) {
      reset(client);
      return;
    }
    client.pause();
    const upstream = net.connect({ host: targetHost, port: targetPort });
    track(upstream);
    const line = {
      stop() {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      },
      start() {
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
        upstream.resume();
      },
    };
    upstream.once("connect", () => {
      lines.add(line);
      if (!holed) line.start();
    });
    client.once("close", () => lines.delete(line));
    // One side going away takes the other with it, as a real network failure would.
    client.once("close", () => reset(upstream));
    upstream.once("close", () => reset(client));
  });
  server.on("error", () => {});

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    pause() {
      paused = true;
      for (const socket of open) reset(socket);
    },
    resume() {
      paused = false;
    },
    blackhole() {
      holed = true;
      for (const line of lines) line.stop();
    },
    restore() {
      holed = false;
      for (const line of lines) line.start();
    },
    close() {
      paused = true;
      for (const socket of open) reset(socket);
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A fresh MariaDB test database that the server of a describe block reaches only through a TCP
 * proxy the test controls (to cut or black-hole the line), started before its tests and closed
 * after them. `t()` is the server, `proxy()` the proxy, `database()` the database.
 */
export function suiteBehindProxy(prefix: string) {
  let database: TestDatabase | undefined;
  let proxy: TcpProxy | undefined;
  let server: TestServer | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(prefix);
    const target = new URL(database.url);
    proxy = await startTcpProxy(target.hostname, target.port ? Number(target.port) : 3306);
    const viaProxy = new URL(database.url);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = String(proxy.port);
    server = await startTestServer("mysql", { databaseUrl: viaProxy.toString() });
  });
  afterAll(async () => {
    proxy?.resume();
    proxy?.restore();
    await server?.close();
    await proxy?.close();
    await database?.drop();
  });
  const running = <T>(v: T | undefined, what: string): T => {
    if (!v) throw new Error(`the suite's ${what} is not running (use it inside a test)`);
    return v;
  };
  return {
    t: () => running(server, "server"),
    proxy: () => running(proxy, "proxy"),
    database: () => running(database, "database"),
  };
}
