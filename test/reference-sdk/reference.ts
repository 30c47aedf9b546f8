/**
 * What the reference-typed programs of this folder share. They are compiled against sdk/src by
 * test/sdk-reference-types.test.ts and never run.
 */

/**
 * The functions a reference module exports: its lower-case values, less its event definitions
 * (`onContactCreated`, … served by our `events` module) and `utils`. A program's `calls` must
 * name each, so a function the reference adds in a later version fails the check until it is
 * served here too.
 */
export type ReferenceFunction<Module> = Exclude<Extract<keyof Module, Uncapitalize<string>>, `on${string}` | "utils">;
