/**
 * `npm test`: runs `vitest run` (extra CLI args pass through, e.g. `npm test -- test/foo.test.ts`),
 * streams its normal output, then prints one plain closing line `N passed, N failed[, N skipped]`
 * computed from vitest's JSON report, and exits with vitest's exit code — non-zero also when no
 * test ran at all.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

interface JsonReport {
  numPassedTests?: number;
  numFailedTests?: number;
  numPendingTests?: number;
  numTodoTests?: number;
  testResults?: { status?: string; assertionResults?: unknown[] }[];
}

const root = resolve(import.meta.dirname, "..", "..");
const vitestBin = join(root, "node_modules", ".bin", "vitest");
if (!existsSync(vitestBin)) {
  console.error(`vitest is not installed (${vitestBin} missing): run \`npm ci\` first.`);
  process.exit(1);
}

const tmp = mkdtempSync(join(tmpdir(), "contacts-vitest-"));
const reportPath = join(tmp, "report.json");
const userArgs = process.argv.slice(2);
const userChoseReporter = userArgs.some((a) => a === "--reporter" || a.startsWith("--reporter="));
const args = ["run", ...(userChoseReporter ? [] : ["--reporter=default"]), "--reporter=json", `--outputFile.json=${reportPath}`, ...userArgs];

const auditDir = join(tmp, "tenant-audit");
mkdirSync(auditDir);
const child = spawn(vitestBin, args, { cwd: root, stdio: "inherit", env: { ...process.env, CONTACTS_TENANT_AUDIT_DIR: auditDir } });
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => child.kill(sig));
}

child.on("error", (err) => {
  console.error(`could not start vitest: ${err.message}`);
  rmSync(tmp, { recursive: true, force: true });
  process.exit(1);
});

child.on("close", (code, signal) => {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  let haveReport = false;
  try {
    const report = JSON.parse(readFileSync(reportPath, "utf8")) as JsonReport;
    haveReport = true;
    passed = report.numPassedTests ?? 0;
    failed = report.numFailedTests ?? 0;
    skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    // A file that failed to load or whose hooks failed has no failed test of its own: count it.
    for (const file of report.testResults ?? []) {
      const tests = file.assertionResults ?? [];
      if (file.status === "failed" && !tests.some((t) => (t as { status?: string }).status === "failed")) failed++;
    }
  } catch {
    // No report: vitest failed before running anything (config or global setup error).
  }
  let audited = 0;
  let unscoped = 0;
  for (const file of readdirSync(auditDir)) {
    for (const line of readFileSync(join(auditDir, file), "utf8").split("\n").filter(Boolean)) {
      const entry = JSON.parse(line) as { checked: number; violations: number };
      audited += entry.checked;
      unscoped += entry.violations;
    }
  }
  rmSync(tmp, { recursive: true, force: true });
  if (audited > 0) {
    console.log(`[scenario 9] whole suite: statements on tenant tables=${audited} withoutTenantPredicate=${unscoped}`);
  }

  let exitCode = code ?? 1;
  if (signal) exitCode = 1;
  if (!haveReport && exitCode === 0) exitCode = 1;
  if (passed + failed === 0) {
    console.error(
      "No test ran. (When the global setup fails, e.g. no MySQL server, vitest also says " +
        '"No test files found": the global-setup error printed above is the real cause.)',
    );
    if (exitCode === 0) exitCode = 1;
  }
  console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
  process.exit(exitCode);
});
