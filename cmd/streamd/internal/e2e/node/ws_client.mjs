// ws_client.mjs drives streamd's WebSocket demos with the npm `ws` package
// and prints one JSON object with what it saw, for a Go test to check.
//
//   node ws_client.mjs ws://127.0.0.1:8080 true|false [CA.pem]
//   node ws_client.mjs wss://127.0.0.1:8443 true|false CA.pem
//
// The second argument is ws's perMessageDeflate option; the third, for
// wss://, a PEM file of the CA to trust (ws's `ca` option, handed to
// tls.connect: nothing else is trusted then). The script never
// judges the results itself beyond recording them; it exits 0 unless it
// could not run at all.
import { readFileSync } from "node:fs";
import { WebSocket } from "ws";

const [base, deflateArg, caFile] = process.argv.slice(2);
if (!base || !["true", "false"].includes(deflateArg)) {
  console.error("usage: node ws_client.mjs ws[s]://host:port true|false [CA.pem]");
  process.exit(2);
}
const perMessageDeflate = deflateArg === "true";
const ca = caFile ? readFileSync(caFile) : undefined;
const result = { extensions: [], echo: [], ping: null, chat: [], closeCode: null, errors: [] };

function open(path) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base + path, ca ? { perMessageDeflate, ca } : { perMessageDeflate });
    ws.binaryType = "nodebuffer";
    const queue = [];
    const waiters = [];
    ws.on("message", (data, isBinary) => {
      const m = { data: isBinary ? Buffer.from(data) : data.toString("utf8"), isBinary };
      const w = waiters.shift();
      if (w) w(m);
      else queue.push(m);
    });
    ws.next = () => new Promise((res) => {
      const m = queue.shift();
      if (m) res(m);
      else waiters.push(res);
    });
    ws.once("open", () => {
      result.extensions.push(ws.extensions);
      resolve(ws);
    });
    ws.once("error", reject);
  });
}

function sha(buf) {
  let h = 0;
  for (const b of buf) h = (h * 31 + b) >>> 0;
  return h;
}

async function echo() {
  const ws = await open("/ws/echo");
  const binary = Buffer.alloc(70000);
  for (let i = 0; i < binary.length; i++) binary[i] = (i * 7919) & 0xff;
  const cases = [
    { name: "empty text", data: "" },
    { name: "short text", data: "Hello, streamd!" },
    { name: "utf-8 text", data: "κόσμε 😀 ".repeat(5000) },
    { name: "compressible text", data: "compress me ".repeat(20000) },
    { name: "binary 70000", data: binary },
    { name: "binary 1", data: Buffer.from([0xff]) },
  ];
  for (const c of cases) {
    ws.send(c.data);
    const m = await ws.next();
    const wantBinary = Buffer.isBuffer(c.data);
    const ok = m.isBinary === wantBinary &&
      (wantBinary ? Buffer.compare(m.data, c.data) === 0 : m.data === c.data);
    result.echo.push({ name: c.name, ok, size: wantBinary ? c.data.length : Buffer.byteLength(c.data),
      got: m.isBinary ? m.data.length : Buffer.byteLength(m.data), sum: m.isBinary ? sha(m.data) : 0 });
  }
  result.ping = await new Promise((resolve) => {
    ws.once("pong", (data) => resolve(data.toString()));
    ws.ping("are you there");
  });
  result.closeCode = await new Promise((resolve) => {
    ws.once("close", (code) => resolve(code));
    ws.close(1000, "bye");
  });
}

async function chat() {
  const a = await open("/ws/chat");
  const b = await open("/ws/chat");
  const welcome = [await a.next(), await b.next()];
  for (const m of welcome) result.chat.push(m.data);
  const text = "hi from node " + (perMessageDeflate ? "with" : "without") + " deflate " + "la ".repeat(100);
  a.send(text);
  for (const m of [await a.next(), await b.next()]) result.chat.push(m.data);
  result.chatSent = text;
  for (const ws of [a, b]) {
    await new Promise((resolve) => {
      ws.once("close", resolve);
      ws.close(1000);
    });
  }
}

const timer = setTimeout(() => {
  result.errors.push("timed out");
  console.log(JSON.stringify(result));
  process.exit(0);
}, 30000);

try {
  await echo();
  await chat();
} catch (e) {
  result.errors.push(String(e && e.stack || e));
}
clearTimeout(timer);
console.log(JSON.stringify(result));
