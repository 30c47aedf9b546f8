import type { Db } from "../store/db.js";
import { ensureTenant } from "../store/tenants.js";
import { SYSTEM_FIELDS } from "../domain/extended-fields.js";
import { SYSTEM_LABELS } from "../domain/labels.js";
import type { CleanupRunner } from "./cleanup.js";
import type { EventBus, EventFeeds } from "./events.js";

/** Tunables of the services, from configuration. */
export interface ServiceConfig {
  /** Most custom labels per tenant. */
  labelsQuota: number;
  /** Most custom extended fields per tenant. */
  fieldsQuota: number;
}

/** What every service function needs: the database, configuration and the tenant cache. */
export interface ServiceDeps {
  db: Db;
  config: ServiceConfig;
  tenants: TenantDirectory;
  /** Reports failures of work that goes on after a call returned (cleanups). */
  onBackgroundError: (err: unknown) => void;
  /** Wakes event watchers when a tenant commits events. */
  eventBus: EventBus;
  /** One reader per watched tenant for this process's watchers. */
  eventFeeds: EventFeeds;
  /** Aborted when the server starts draining: long-lived streams end so the drain can finish. */
  draining: AbortSignal;
  /** Removes deleted labels and fields from contacts (services/cleanup.ts). */
  cleanups: CleanupRunner;
  /** Told when a bulk job starts, so that this server's runner takes it at once. */
  bulkJobs?: { wake(): void };
  /** Told when a webhook is enabled again, so that this server's dispatcher takes it at once. */
  webhooks?: { wake(): void };
}

/**
 * Makes sure a tenant's row and system entries exist before its first request is served, once
 * per process and tenant. Tenants appear on first use; there is no sign-up step.
 */
export class TenantDirectory {
  private readonly known = new Set<string>();
  private readonly pending = new Map<string, Promise<void>>();
  constructor(
    private readonly db: Db,
    private readonly maxCached = 100_000,
  ) {}

  async ensure(tenantId: string): Promise<void> {
    if (this.known.has(tenantId)) return;
    let p = this.pending.get(tenantId);
    if (!p) {
      p = ensureTenant(this.db, tenantId, SYSTEM_LABELS, SYSTEM_FIELDS).then(
        () => {
          if (this.known.size >= this.maxCached) this.known.clear();
          this.known.add(tenantId);
          this.pending.delete(tenantId);
        },
        (err: unknown) => {
          this.pending.delete(tenantId);
          throw err;
        },
      );
      this.pending.set(tenantId, p);
    }
    await p;
  }

  /** Forgets every tenant (tests that recreate the database). */
  reset(): void {
    this.known.clear();
  }
}
