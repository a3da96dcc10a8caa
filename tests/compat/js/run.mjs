// Microsoft's JavaScript clients driven against a running batchd:
// @azure/monitor-query-logs 1.0.0, @azure/monitor-query 1.3.3,
// @microsoft/microsoft-graph-client 3.0.7 and @odata/client 2.21.10, each
// through its own API, every answer checked.
//
//   BATCHD_URL=https://127.0.0.1:PORT BATCHD_TOKEN=SECRET BATCHD_CA=cert.pem node run.mjs
//
// BATCHD_URL is the server (https://, with BATCHD_CA naming the CA file,
// which the harness also passes to node as NODE_EXTRA_CA_CERTS; http://
// works too, with the token set by a policy of our own).  The token must allow ws1 and ws2 and not ws3,
// and /debug/* must be on (tests/compat/run_js.py starts such a server).
// The last line is "compat-js: N passed, N failed"; exit status 1 on any
// failure.

import assert from "node:assert/strict";

import { LogsQueryClient as LogsClient } from "@azure/monitor-query-logs";
import { LogsQueryClient as LegacyLogsClient } from "@azure/monitor-query";
import {
  BatchRequestContent,
  BatchResponseContent,
  Client,
  HTTPMessageHandler,
} from "@microsoft/microsoft-graph-client";
import { OData } from "@odata/client";

const URL_ = process.env.BATCHD_URL;
const TOKEN = process.env.BATCHD_TOKEN;
if (!URL_ || !TOKEN) {
  console.log("compat-js: BATCHD_URL and BATCHD_TOKEN must be set");
  console.log("compat-js: 0 passed, 1 failed");
  process.exit(1);
}
const TLS = URL_.startsWith("https://");
const AUTH = { Authorization: `Bearer ${TOKEN}` };

// ------------------------------------------------------------ Azure auth

// The Azure clients' bearer policy refuses to send a token to a plain-http
// host.  Over https they get a TokenCredential as usual; over http they get
// none (so no bearer policy) and a per-call policy that adds the header.
const credential = {
  getToken: async () => ({ token: TOKEN, expiresOnTimestamp: Date.now() + 3600e3 }),
};
const azureOptions = TLS
  ? {}
  : {
      additionalPolicies: [
        {
          position: "perCall",
          policy: {
            name: "batchdBearerOverHttp",
            sendRequest: (req, next) => {
              req.headers.set("Authorization", `Bearer ${TOKEN}`);
              req.allowInsecureConnection = true;
              return next(req);
            },
          },
        },
      ],
      allowInsecureConnection: true,
      retryOptions: { maxRetries: 0 },
    };
const azureCredential = TLS ? credential : undefined;

// --------------------------------------------------------------- helpers

async function api(method, path, body, headers = {}) {
  const r = await fetch(URL_ + path, {
    method,
    headers: { ...AUTH, "Content-Type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null };
}

async function load() {
  const now = Date.now();
  const requests = [];
  for (const [ws, n] of [["ws1", 12], ["ws2", 5]])
    for (let i = 0; i < n; i++)
      requests.push({
        id: `${ws}-${i}`,
        method: "PUT",
        url: `/v1/workspaces/${ws}/tables/AzureActivity/rows/r${String(i).padStart(2, "0")}`,
        body: {
          TimeGenerated: new Date(now - i * 300e3).toISOString().replace(/\.\d+Z$/, "Z"),
          Level: i % 3 === 0 ? "Error" : "Informational",
          DurationMs: 100 * i,
        },
      });
  for (let i = 0; i < 60; i++)
    requests.push({ id: `big${i}`, method: "PUT", url: `/v1/workspaces/ws1/tables/Big/rows/k${String(i).padStart(2, "0")}`, body: { i } });
  const r = await api("POST", "/v1/$batch", { requests });
  assert.equal(r.status, 200);
  for (const it of r.body.responses) assert.ok(it.status < 300, JSON.stringify(it));
}

const day = { duration: "P1D" };
const cases = [];
const test = (name, fn) => cases.push([name, fn]);

// ------------------------------------------- @azure/monitor-query-logs 1.0.0

// Takes the endpoint as given: the /v1 form.
const logs = new LogsClient(azureCredential, { endpoint: `${URL_}/v1`, ...azureOptions });

test("monitor-query-logs: queryWorkspace, additionalWorkspaces", async () => {
  let r = await logs.queryWorkspace("ws1", "AzureActivity | count", day);
  assert.equal(r.status, "Success");
  assert.equal(r.tables[0].rows[0][0], 12);
  r = await logs.queryWorkspace("ws1", "AzureActivity | count", day, { additionalWorkspaces: ["ws2"] });
  assert.equal(r.tables[0].rows[0][0], 17);
  await assert.rejects(
    logs.queryWorkspace("ws1", "AzureActivity | count", day, { additionalWorkspaces: ["ws3"] }),
    (e) => e.statusCode === 403,
  );
});

test("monitor-query-logs: statistics, visualization, server timeout", async () => {
  const r = await logs.queryWorkspace(
    "ws1",
    "AzureActivity | summarize count() by Level | render piechart with (title='levels')",
    day,
    { includeQueryStatistics: true, includeVisualization: true, serverTimeoutInSeconds: 3 },
  );
  assert.equal(r.status, "Success");
  assert.equal(r.statistics.worker.rowsScanned, 12);
  assert.ok(r.statistics.worker.pid > 0);
  assert.equal(r.visualization.visualization, "piechart");
  assert.equal(r.visualization.title, "levels");
});

test("monitor-query-logs: partial result", async () => {
  const r = await logs.queryWorkspace("ws1", "Big | project i", day);
  assert.equal(r.status, "PartialFailure");
  assert.equal(r.partialTables[0].rows.length, 50);
  assert.equal(r.partialError.code, "PartialError");
});

test("monitor-query-logs: syntax error names line and column", async () => {
  await assert.rejects(logs.queryWorkspace("ws1", "AzureActivity\n| where Level ==\n| take 1", day), (e) => {
    assert.equal(e.statusCode, 400);
    assert.match(e.message, /line 3, column 1/);
    return true;
  });
});

test("monitor-query-logs: queryBatch answers by position", async () => {
  const res = await logs.queryBatch([
    { workspaceId: "ws1", query: "AzureActivity | count", timespan: day },
    { workspaceId: "ws2", query: "AzureActivity | count", timespan: day },
    { workspaceId: "ws1", query: "AzureActivity | count", timespan: day, additionalWorkspaces: ["ws2"], includeQueryStatistics: true },
    { workspaceId: "ws1", query: "Big | project i", timespan: day },
    { workspaceId: "ws1", query: "AzureActivity | where Level == 'Error' | count", timespan: day },
    { workspaceId: "ws1", query: "AzureActivity | count | render card", timespan: day, includeVisualization: true, serverTimeoutInSeconds: 2 },
  ]);
  assert.equal(res.length, 6);
  assert.equal(res[0].tables[0].rows[0][0], 12);
  assert.equal(res[1].tables[0].rows[0][0], 5);
  assert.equal(res[2].tables[0].rows[0][0], 17);
  assert.equal(res[2].statistics.worker.rowsScanned, 17);
  assert.equal(res[3].status, "PartialFailure");
  assert.equal(res[3].partialTables[0].rows.length, 50);
  assert.equal(res[4].tables[0].rows[0][0], 4);
  assert.equal(res[5].visualization.visualization, "card");
});

// ---------------------------------------------- @azure/monitor-query 1.3.3

// Replaces the endpoint's path with /v1: the form without it.
const legacy = new LegacyLogsClient(azureCredential, { endpoint: URL_, ...azureOptions });

test("monitor-query 1.3.3: queryWorkspace with every option", async () => {
  const r = await legacy.queryWorkspace("ws1", "AzureActivity | count | render card", day, {
    additionalWorkspaces: ["ws2"],
    includeQueryStatistics: true,
    includeVisualization: true,
    serverTimeoutInSeconds: 3,
  });
  assert.equal(r.status, "Success");
  assert.equal(r.tables[0].rows[0][0], 17);
  assert.equal(r.statistics.worker.rowsScanned, 17);
  assert.equal(r.visualization.visualization, "card");
  const p = await legacy.queryWorkspace("ws1", "Big | project i", day);
  assert.equal(p.status, "PartialFailure");
  assert.equal(p.partialTables[0].rows.length, 50);
});

test("monitor-query 1.3.3: queryBatch", async () => {
  const res = await legacy.queryBatch([
    { workspaceId: "ws1", query: "AzureActivity | count", timespan: day },
    { workspaceId: "ws1", query: "AzureActivity | where | count", timespan: day },
    { workspaceId: "ws2", query: "AzureActivity | count", timespan: day },
  ]);
  assert.equal(res[0].tables[0].rows[0][0], 12);
  assert.equal(res[1].status, "Failure");
  assert.match(res[1].message, /line 1, column/);
  assert.equal(res[2].tables[0].rows[0][0], 5);
});

// --------------------------------------- @microsoft/microsoft-graph-client

// The Graph client's AuthenticationHandler sends a token to Graph hosts
// only; batchd gets it from a middleware of its own, chained to the
// client's HTTP handler.
class BearerMiddleware {
  setNext(next) {
    this.next = next;
  }
  async execute(context) {
    const h = context.options.headers ?? {};
    if (h instanceof Headers) h.set("Authorization", `Bearer ${TOKEN}`);
    else context.options.headers = { ...h, Authorization: `Bearer ${TOKEN}` };
    return this.next.execute(context);
  }
}
const bearer = new BearerMiddleware();
bearer.setNext(new HTTPMessageHandler());
const graph = Client.initWithMiddleware({ baseUrl: URL_, defaultVersion: "v1", middleware: bearer });

test("graph: BatchRequestContent with dependsOn and If-Match", async () => {
  const base = `${URL_}/v1/workspaces/ws1/tables/graph/rows`;
  const put = new Request(`${base}/a`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ v: 1 }),
  });
  const get = new Request(`${base}/a`, { method: "GET" });
  const content = new BatchRequestContent([
    { id: "1", request: put },
    { id: "2", request: get, dependsOn: ["1"] },
  ]);
  const res = new BatchResponseContent(await graph.api("/$batch").post(await content.getContent()));
  const r1 = res.getResponseById("1");
  const r2 = res.getResponseById("2");
  assert.equal(r1.status, 201);
  assert.equal(r2.status, 200);
  assert.deepEqual(await r2.json(), { v: 1 });
  const etag = r1.headers.get("ETag");
  assert.ok(etag);
  const bad = new BatchRequestContent([
    {
      id: "3",
      request: new Request(`${base}/a`, {
        method: "PUT",
        headers: { "Content-Type": "application/json", "If-Match": '"nope"' },
        body: JSON.stringify({ v: 2 }),
      }),
    },
    { id: "4", request: new Request(`${base}/a`, { method: "GET" }), dependsOn: ["3"] },
  ]);
  const res2 = new BatchResponseContent(await graph.api("/$batch").post(await bad.getContent()));
  assert.equal(res2.getResponseById("3").status, 412);
  assert.equal(res2.getResponseById("4").status, 424);
});

test("graph: a plain query through the client", async () => {
  const r = await graph.api("/workspaces/ws1/query").post({ query: "AzureActivity | count" });
  assert.equal(r.tables[0].rows[0][0], 12);
});

// ------------------------------------------------------ @odata/client

test("odata: execBatchRequestsJson with item URLs relative to the root", async () => {
  const client = OData.New4({ serviceEndpoint: `${URL_}/v1/`, commonHeaders: AUTH });
  const reqs = [
    client.newBatchRequest({ collection: "workspaces/ws1/tables/od/rows/k1", method: "PUT", entity: { n: 1 }, requestId: "p", atomicityGroup: "g" }),
    client.newBatchRequest({ collection: "workspaces/ws1/tables/od/rows/k2", method: "PUT", entity: { n: 2 }, requestId: "q", atomicityGroup: "g" }),
    client.newBatchRequest({ collection: "workspaces/ws1/tables/od/rows/k1", method: "GET", requestId: "r", dependsOn: ["g"] }),
    client.newBatchRequest({ collection: "workspaces/ws1/query", method: "POST", entity: { query: "od | count" }, requestId: "s", dependsOn: ["g"] }),
    client.newBatchRequest({ collection: "workspaces/ws3/tables/od/rows/k1", method: "GET", requestId: "t" }),
  ];
  const out = await client.execBatchRequestsJson(reqs);
  const byId = Object.fromEntries(out.map((r) => [r.raw.id, r]));
  assert.equal(byId.p.status, 201);
  assert.equal(byId.q.status, 201);
  assert.equal(byId.r.status, 200);
  assert.deepEqual(await byId.r.json(), { n: 1 });
  assert.equal((await byId.s.json()).tables[0].rows[0][0], 2);
  assert.equal(byId.t.status, 403);
});

// ------------------------------------------------------------------ run

await load();
let passed = 0;
let failed = 0;
for (const [name, fn] of cases) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n     ${(e && e.stack) || e}`);
  }
}
console.log(`compat-js: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
