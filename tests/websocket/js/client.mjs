// One Socket.IO client (the official socket.io-client), driven over JSON lines:
//   node client.mjs URL AUTH_JSON
// stdout: {"kind": "connect" | "connect_error" | "event" | "disconnect" | "ack", ...}
// stdin:  {"op": "emit", "event": ..., "data": ...} (acknowledged with an "ack" line)
//         {"op": "close"}
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [url, authJson] = process.argv.slice(2);
const out = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const socket = io(url, {
  path: "/socket.io/",
  transports: ["websocket"], // the server accepts no long-polling
  auth: JSON.parse(authJson || "{}"),
  reconnection: process.env.RECONNECT === "1",
  reconnectionDelay: 200,
  reconnectionDelayMax: 1000,
});

socket.on("connect", () => out({ kind: "connect", id: socket.id, at: Date.now() }));
socket.on("connect_error", (err) =>
  out({ kind: "connect_error", message: err.message, data: err.data ?? null, active: socket.active })
);
socket.on("disconnect", (reason) => out({ kind: "disconnect", reason, active: socket.active }));
socket.onAny((event, data) => out({ kind: "event", event, data, at: Date.now() }));

createInterface({ input: process.stdin }).on("line", async (line) => {
  const command = JSON.parse(line);
  if (command.op === "emit") {
    const answer = await socket.timeout(10000).emitWithAck(command.event, command.data);
    out({ kind: "ack", event: command.event, answer });
  } else if (command.op === "close") {
    socket.close();
    process.exit(0);
  }
});
