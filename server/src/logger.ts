/**
 * The process's logger: JSON lines (pino) to stdout or a file, written in chunks. Every call logs
 * a line (rpc/interceptors.ts); written one by one, each line is a write(2) of its own, which at
 * thousands of calls a second cost the server more CPU than anything it does for a GetContact
 * but the database round trip (bench/RESULTS.md). Lines are gathered up to LOG_CHUNK bytes and
 * written asynchronously; what has gathered is written at least every LOG_FLUSH_MS, so a quiet
 * server's lines still show up promptly, and pino writes the rest synchronously when the
 * process exits. A line is lost only if the process is killed outright (SIGKILL, out of memory)
 * within LOG_FLUSH_MS of logging it.
 */
import pino, { type Logger } from "pino";

const LOG_CHUNK = 4096;
const LOG_FLUSH_MS = 1000;

/** `dest`: a file descriptor (default stdout) or a file path. */
export function createLogger(level: string, dest: string | number = 1): Logger {
  const destination = pino.destination({ dest, minLength: LOG_CHUNK, periodicFlush: LOG_FLUSH_MS, sync: false });
  return pino({ level, base: { service: "contacts-api" } }, destination);
}
