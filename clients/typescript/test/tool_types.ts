// Compile-time checks of tool()'s type inference: `tsc --noEmit` (make lint) fails when an
// inferred type drifts or a line marked @ts-expect-error starts to compile.
import { tool, type ClientTool, type FromSchema } from "../src/index.js";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(): T | void {}

const forecast = tool({
  description: "Weather forecast of a city",
  parameters: {
    type: "object",
    properties: {
      city: { type: "string", description: "City name" },
      days: { type: "integer", minimum: 1 },
      unit: { enum: ["C", "F"] },
      hours: { type: "array", items: { type: "number" } },
      note: { anyOf: [{ type: "string" }, { type: "null" }] },
      where: {
        type: "object",
        properties: { lat: { type: "number" }, lon: { type: "number" } },
        required: ["lat", "lon"],
        additionalProperties: false,
      },
      labels: { type: "object", additionalProperties: { type: "string" } },
      anything: {},
    },
    required: ["city", "days"],
    additionalProperties: false,
  },
  run: (args) => `${args.city.toUpperCase()} ${args.days.toFixed(0)}`,
});

type Args = Parameters<typeof forecast.run>[0];
expectType<
  Equal<
    Args,
    {
      city: string;
      days: number;
      unit?: "C" | "F";
      hours?: number[];
      note?: string | null;
      where?: { lat: number; lon: number };
      labels?: Record<string, string>;
      anything?: unknown;
    }
  >
>();
expectType<Equal<FromSchema<{ type: ["string", "null"] }>, string | null>>();
expectType<Equal<FromSchema<{ const: 7 }>, 7>>();

tool({
  parameters: { type: "object", properties: { city: { type: "string" } } },
  // @ts-expect-error: city is optional (not in required), so it may be undefined
  run: ({ city }) => city.toUpperCase(),
});

tool({
  parameters: { type: "object", properties: { days: { type: "integer" } }, required: ["days"] },
  // @ts-expect-error: days is a number, not a string
  run: ({ days }) => days.toUpperCase(),
});

// @ts-expect-error: a tool's arguments are an object
tool({ parameters: { type: "string" }, run: () => "" });

// The untyped form still works, and ClientTool<Args> types it by hand.
const untyped: ClientTool = { run: (args) => String(args.anything) };
const byHand: ClientTool<{ city: string }> = { run: ({ city }) => city };
export const tools: Record<string, ClientTool> = { forecast, untyped, byHand };
