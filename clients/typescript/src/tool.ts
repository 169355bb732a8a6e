// Client tools: the untyped form (`run(args: any)`), and `tool()`, whose arguments' type is
// inferred from the JSON schema it declares.
//
//   const forecast = tool({
//     description: "Weather forecast of a city",
//     parameters: {
//       type: "object",
//       properties: { city: { type: "string" }, days: { type: "integer" } },
//       required: ["city"],
//     },
//     run: async ({ city, days }) => `${city}: ${days ?? 1} day(s) of rain`, // city: string, days?: number
//   });
import type { JsonObject } from "@bufbuild/protobuf";

/** A client tool's output: a string, or content flagged as an error. */
export type ToolOutput = string | { content: string; isError?: boolean };

/** What a client tool gets besides its arguments. */
export interface ToolContext {
  signal: AbortSignal;
  callId: string;
  /** Tells the caller how far the tool has got (`fraction` 0..1 when known); the server rate-limits reports. */
  progress(message: string, fraction?: number): void;
}

/**
 * A tool the client executes. A thrown error becomes an is_error result with its message.
 * `Args` types the arguments (`ClientTool<{ city: string }>`); the server checks each call
 * against `parameters` before it reaches `run`, so they must say the same.
 */
export interface ClientTool<Args = any> {
  description?: string;
  /** JSON schema of the arguments object. */
  parameters?: JsonObject;
  run(args: Args, context: ToolContext): Promise<ToolOutput> | ToolOutput;
}

/** The part of JSON Schema that `tool()` reads a type from; other keywords are allowed and sent. */
export interface JsonSchema {
  readonly type?: JsonType | readonly JsonType[];
  readonly properties?: { readonly [name: string]: JsonSchema };
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | JsonSchema;
  readonly items?: JsonSchema;
  readonly enum?: readonly (string | number | boolean | null)[];
  readonly const?: string | number | boolean | null;
  readonly anyOf?: readonly JsonSchema[];
  readonly oneOf?: readonly JsonSchema[];
  readonly description?: string;
  readonly [keyword: string]: unknown;
}

type JsonType = "string" | "number" | "integer" | "boolean" | "null" | "array" | "object";

/** The arguments object of a tool: a schema of type "object". */
export interface ObjectSchema extends JsonSchema {
  readonly type: "object";
}

/** The TypeScript type of the values a JSON schema admits (`unknown` where it cannot tell). */
export type FromSchema<S> = S extends { readonly enum: readonly (infer E)[] }
  ? E
  : S extends { readonly const: infer C }
    ? C
    : S extends { readonly anyOf: readonly (infer U)[] }
      ? FromSchema<U>
      : S extends { readonly oneOf: readonly (infer U)[] }
        ? FromSchema<U>
        : S extends { readonly type: infer T }
          ? FromType<S, T extends readonly (infer Each)[] ? Each : T>
          : unknown;

type FromType<S, T> = T extends "string"
  ? string
  : T extends "number" | "integer"
    ? number
    : T extends "boolean"
      ? boolean
      : T extends "null"
        ? null
        : T extends "array"
          ? S extends { readonly items: infer I }
            ? FromSchema<I>[]
            : unknown[]
          : T extends "object"
            ? FromObject<S>
            : unknown;

type FromObject<S> = S extends { readonly properties: infer P }
  ? Flatten<
      { -readonly [K in keyof P & RequiredOf<S>]: FromSchema<P[K]> } & {
        -readonly [K in Exclude<keyof P, RequiredOf<S>>]?: FromSchema<P[K]>;
      } & Additional<S>
    >
  : S extends { readonly additionalProperties: infer A extends JsonSchema }
    ? Record<string, FromSchema<A>>
    : Record<string, unknown>;

type RequiredOf<S> = S extends { readonly required: readonly (infer R)[] } ? R : never;

type Additional<S> = S extends { readonly additionalProperties: false }
  ? unknown
  : S extends { readonly additionalProperties: infer A extends JsonSchema }
    ? Record<string, FromSchema<A> | undefined>
    : unknown;

type Flatten<T> = { [K in keyof T]: T[K] };

/** A tool declared with `tool()`: its arguments' type comes from `parameters`. */
export interface TypedTool<S extends ObjectSchema> {
  description?: string;
  parameters: S;
  run(args: FromSchema<S>, context: ToolContext): Promise<ToolOutput> | ToolOutput;
}

/**
 * A client tool whose `run` gets arguments typed after `parameters` (read as a literal, so no
 * `as const` is needed): `string`, `number`/`integer`, `boolean`, `null`, `array` with
 * `items`, `object` with `properties` (those in `required` required, the others optional),
 * `enum`, `const`, `anyOf`/`oneOf`; anything else is `unknown`. The server checks every call
 * against the schema before it reaches `run`, so the type holds at run time.
 */
export function tool<const S extends ObjectSchema>(spec: TypedTool<S>): ClientTool<FromSchema<S>> {
  return { description: spec.description, parameters: spec.parameters as unknown as JsonObject, run: spec.run };
}
