// A TypeScript SDK client that drives server-everything — directly over stdio, or through
// Portcullis over Streamable HTTP — declaring sampling, elicitation and roots, and prints what
// it got as one JSON object (tests/python/test_everything.py compares the two).
//
//   node everything_client.mjs SDK_DIR direct NODE SERVER_JS
//   node everything_client.mjs SDK_DIR gateway URL KEY
import path from "node:path";

const [sdkDir, mode, a, b] = process.argv.slice(2);
const load = (p) => import(path.join(sdkDir, "dist/esm", p));
const { Client } = await load("client/index.js");
const { StdioClientTransport } = await load("client/stdio.js");
const { StreamableHTTPClientTransport } = await load("client/streamableHttp.js");
const types = await load("types.js");

const prefix = mode === "gateway" ? "everything_" : "";
const transport =
  mode === "gateway"
    ? new StreamableHTTPClientTransport(new URL(a), { requestInit: { headers: { Authorization: `Bearer ${b}` } } })
    : new StdioClientTransport({ command: a, args: [b], env: { PATH: process.env.PATH, HOME: process.env.HOME ?? "/tmp" } });

const asked = { sampling: 0, elicitation: 0, roots: 0 };
const client = new Client(
  { name: "ts-everything", version: "1.0.0" },
  { capabilities: { sampling: {}, elicitation: { form: {} }, roots: {} } },
);
client.setRequestHandler(types.CreateMessageRequestSchema, async () => {
  asked.sampling++;
  return { role: "assistant", model: "ts-model", content: { type: "text", text: "sampled by the TypeScript client" } };
});
client.setRequestHandler(types.ElicitRequestSchema, async () => {
  asked.elicitation++;
  return { action: "accept", content: { color: "green" } };
});
client.setRequestHandler(types.ListRootsRequestSchema, async () => {
  asked.roots++;
  return { roots: [{ uri: "file:///ts/project", name: "ts-project" }] };
});
await client.connect(transport);

const out = {};
const tools = (await client.listTools()).tools.map((t) => t.name).sort();
out.tools = tools.map((t) => t.slice(prefix.length));
for (const [name, args] of [
  ["echo", { message: "hi from TypeScript" }],
  ["get-sum", { a: 1, b: 2 }],
  ["get-resource-reference", { resourceType: "Blob", resourceId: 4 }],
  ["get-structured-content", { location: "Chicago" }],
]) {
  out[`tool ${name}`] = await client.callTool({ name: prefix + name, arguments: args });
}
const resources = (await client.listResources()).resources.filter((r) => r.uri.startsWith("demo://resource/static/document/"));
out.resources = resources.map((r) => r.uri).sort();
out.read = await client.readResource({ uri: out.resources[0] });
out.template = await client.readResource({ uri: "demo://resource/dynamic/text/5" });
out.templates = (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate).sort();
out.prompts = (await client.listPrompts()).prompts.map((p) => p.name.slice(prefix.length)).sort();
out.prompt = await client.getPrompt({ name: prefix + "args-prompt", arguments: { city: "Oslo" } });
out.completion = await client.complete({
  ref: { type: "ref/prompt", name: prefix + "completable-prompt" },
  argument: { name: "department", value: "S" },
});
out.sampling = await client.callTool({ name: prefix + "trigger-sampling-request", arguments: { prompt: "hi", maxTokens: 10 } });
out.elicitation = await client.callTool({ name: prefix + "trigger-elicitation-request", arguments: {} });
out.roots = await client.callTool({ name: prefix + "get-roots-list", arguments: {} });
out.asked = asked;
await client.close();
process.stdout.write(JSON.stringify(out));
