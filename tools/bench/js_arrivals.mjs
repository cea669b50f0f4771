// The official Socket.IO JavaScript client for the benchmarks: holds one socket per token and
// prints, per platform event received, one JSON line {event, task_id, at} (at: epoch ms, the
// same clock as the Python side's time.time()).
//   node js_arrivals.mjs URL < tokens (one per line, then EOF)
// stdout: {"kind": "ready", "sockets": N} once every socket is connected, then events.
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

// socket.io-client is installed once for the tests (tests/websocket/js, npm ci).
const require = createRequire(fileURLToPath(new URL("../../tests/websocket/js/package.json", import.meta.url)));
const { io } = require("socket.io-client");

const url = process.argv[2];
const out = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const now = () => performance.timeOrigin + performance.now();

function taskOf(event, payload) {
  const data = payload?.data ?? {};
  if (event === "task.completed") return data.task_id;
  if (event === "notification.created") return data.data?.ref?.task_id;
  return data.ref?.task_id;
}

const tokens = [];
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => line && tokens.push(line));
lines.on("close", async () => {
  const sockets = [];
  for (const token of tokens) {
    const socket = io(url, { transports: ["websocket"], auth: { token }, reconnection: false });
    socket.onAny((event, payload) => {
      const at = now();
      const task = taskOf(event, payload);
      if (task) out({ kind: "event", event, task_id: task, at, type: payload?.data?.event_type });
    });
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", (err) => reject(new Error(`${err.message} ${JSON.stringify(err.data)}`)));
    });
    sockets.push(socket);
  }
  out({ kind: "ready", sockets: sockets.length });
});
