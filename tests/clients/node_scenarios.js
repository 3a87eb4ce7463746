// Drives the npm `ksqldb-client` package (HTTP/2 to /ksql, /query-stream, /inserts-stream, /close-query)
// through one scenario against a running server and prints what it saw as one JSON object.
//
//     node node_scenarios.js SCENARIO PORT PREFIX [IDLE_SECONDS]
//
// PREFIX makes the stream and table names unique per run. Any failure prints {"error": ...} and exits 1.
"use strict";

const KsqldbClient = require("ksqldb-client");

const [scenario, port, name, idleSeconds] = process.argv.slice(2);
const prefix = name.toUpperCase();
const STREAM = `${prefix}_S`;
const TABLE = `${prefix}_T`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function ok(promise, what) {
  const response = await promise;
  if (response.error || response.status !== 200) {
    throw new Error(`${what}: status ${response.status}: ${JSON.stringify(response.error)}`);
  }
  return response;
}

async function createStream(client) {
  await ok(client.executeStatement(`CREATE STREAM ${STREAM} (ID INT KEY, NAME STRING, AMOUNT DOUBLE) WITH ` +
    `(KAFKA_TOPIC='${prefix.toLowerCase()}_s', VALUE_FORMAT='JSON', PARTITIONS=1);`), "create stream");
}

/** Rows through the client's insertInto (POST /inserts-stream); the acks the server sent. */
async function insertInto(client, rows) {
  const acks = [];
  for (const row of rows) {
    const response = await ok(client.insertInto(STREAM, row), "insertInto");
    acks.push(...response.data.rows);
  }
  return acks;
}

/** Rows for the scenarios about reading, through INSERT VALUES sent with Node's own fetch (the client's
 * executeStatement refuses INSERT VALUES: ksqlDB answers it with no entity). */
async function insertValues(rows) {
  for (const row of rows) {
    const sql = `INSERT INTO ${STREAM} (ID, NAME, AMOUNT) VALUES (${row.ID}, '${row.NAME}', ${row.AMOUNT});`;
    const response = await fetch(`http://127.0.0.1:${port}/ksql`, { method: "POST", body: JSON.stringify({ ksql: sql }),
      headers: { "Content-Type": "application/vnd.ksql.v1+json" } });
    if (response.status !== 200) {
      throw new Error(`insert values: status ${response.status}: ${await response.text()}`);
    }
  }
}

const ROWS = [{ ID: 1, NAME: "one", AMOUNT: 1.5 }, { ID: 2, NAME: "two", AMOUNT: 2.5 },
  { ID: 3, NAME: "three", AMOUNT: 3.5 }];
// The client copies these into the request body: /ksql takes `streamsProperties`, /query-stream `properties`
// (as ksqlDB's do; the client's documented `streamsProperties` is refused there as an unknown field)
const EARLIEST = { streamsProperties: { "auto.offset.reset": "earliest" } };
const EARLIEST_PUSH = { properties: { "auto.offset.reset": "earliest" } };

/** A push query's rows until it ends by itself (LIMIT), or until `stopAfter` rows when that is given. */
async function push(client, sql, stopAfter) {
  const rows = [];
  let metadata;
  let closed;
  const done = client.streamQuery(sql, (data) => {
    metadata = data.metadata;
    rows.push(...(data.rows || []));
    if (stopAfter !== undefined && rows.length >= stopAfter && closed === undefined) {
      closed = client.terminatePushQuery(metadata.queryId);
    }
  }, EARLIEST_PUSH);
  const response = await ok(done, "push query");
  return { rows, queryId: metadata && metadata.queryId, columns: response.data.metadata.columnNames,
    closed: closed === undefined ? undefined : (await closed).status };
}

/** A pull query, retried until the table has `expected` rows (its materialization catches up). */
async function pull(client, sql, expected) {
  for (let attempt = 0; ; attempt++) {
    const response = await ok(client.query(sql), "pull query");
    if (response.data.rows.length >= expected || attempt >= 100) {
      return { columns: response.data.metadata.columnNames, rows: response.data.rows };
    }
    await sleep(100);
  }
}

const SCENARIOS = {
  async insert_into(client) {
    await createStream(client);
    const acks = await insertInto(client, ROWS);
    return { acks, push: (await push(client, `SELECT ID, NAME FROM ${STREAM} EMIT CHANGES LIMIT 3;`)).rows };
  },

  async create_insert_pull(client) {
    await createStream(client);
    await ok(client.executeStatement(`CREATE TABLE ${TABLE} AS SELECT ID, COUNT(*) AS N, SUM(AMOUNT) AS TOTAL ` +
      `FROM ${STREAM} GROUP BY ID;`, EARLIEST), "create table");
    await insertValues(ROWS);
    return pull(client, `SELECT * FROM ${TABLE} WHERE ID = 2;`, 1);
  },

  async push_with_limit(client) {
    await createStream(client);
    await insertValues(ROWS);
    return push(client, `SELECT ID, NAME FROM ${STREAM} EMIT CHANGES LIMIT 3;`);
  },

  async push_without_limit_terminated(client) {
    await createStream(client);
    await insertValues(ROWS);
    return push(client, `SELECT ID, NAME FROM ${STREAM} EMIT CHANGES;`, 3);
  },

  async list_describe_terminate(client) {
    await createStream(client);
    await ok(client.executeStatement(`CREATE STREAM ${prefix}_BIG AS SELECT * FROM ${STREAM} WHERE AMOUNT > 2;`),
      "create stream as select");
    const streams = (await client.listStreams()).map((s) => s.name);
    const tables = (await client.listTables()).map((t) => t.name);
    const topics = (await client.listTopics()).map((t) => t.name);
    const queries = (await client.listQueries()).map((q) => ({ id: q.id, sinks: q.sinks }));
    const description = await client.describeSource(STREAM);
    const query = queries.find((q) => (q.sinks || []).includes(`${prefix}_BIG`));
    if (query === undefined) {
      throw new Error(`no query writes ${prefix}_BIG: ${JSON.stringify(await client.listQueries())}`);
    }
    const terminated = await ok(client.executeStatement(`TERMINATE ${query.id};`), "terminate");
    const after = (await client.listQueries()).map((q) => q.id);
    return { streams, tables, topics, queries, terminated: terminated.data, queriesAfter: after,
      describe: { name: description.name, fields: description.fields.map((f) => [f.name, f.schema.type]) } };
  },

  async after_idle(client) {
    await createStream(client);
    await sleep(Number(idleSeconds || 30) * 1000);  // the HTTP/2 connection stays open, unused
    const streams = (await client.listStreams()).map((s) => s.name);
    await ok(client.executeStatement(`CREATE TABLE ${TABLE} AS SELECT ID, COUNT(*) AS N FROM ${STREAM} GROUP BY ID;`,
      EARLIEST), "create table");
    await insertValues(ROWS);
    const description = await client.describeSource(TABLE);
    return { streams, describe: description.name, pull: await pull(client, `SELECT * FROM ${TABLE} WHERE ID = 3;`, 1) };
  },
};

async function main() {
  const client = new KsqldbClient({ host: "http://127.0.0.1", port: Number(port) });
  await client.connect();
  try {
    const result = await SCENARIOS[scenario](client);
    process.stdout.write(JSON.stringify(result) + "\n");
  } finally {
    await client.disconnect();
  }
}

function fail(err) {
  process.stdout.write(JSON.stringify({ error: String(err && err.stack || err) }) + "\n");
  process.exit(1);
}

process.on("uncaughtException", fail);  // the client throws from its stream callbacks
main().catch(fail);
