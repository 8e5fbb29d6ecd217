// sse_resume.mjs URL COUNT
//
// Follows an event stream with the npm `eventsource` client (the one
// Node apps use) until it has COUNT "chat" events, reconnecting as the
// client does on its own (with Last-Event-ID) when the server ends the
// stream. Prints one JSON object per line on stdout, for the Go test:
//   {"type":"open","n":1}            each time the stream (re)opens
//   {"type":"event","id":"3","data":"..."}
//   {"type":"error","message":"..."} each connection loss
//   {"type":"done","events":[...],"opens":2,"errors":1}
// and exits 0; exits 2 after 60 s without all events.
import { EventSource } from "eventsource";

const [url, countArg] = process.argv.slice(2);
const count = Number(countArg);
if (!url || !(count > 0)) {
  console.error("usage: node sse_resume.mjs URL COUNT");
  process.exit(64);
}

const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const events = [];
let opens = 0;
let errors = 0;

const es = new EventSource(url);
es.addEventListener("open", () => out({ type: "open", n: ++opens }));
es.addEventListener("error", (e) => {
  errors++;
  out({ type: "error", message: String(e?.message ?? e?.type ?? "error") });
});
es.addEventListener("reset", (e) => out({ type: "reset", data: e.data }));
es.addEventListener("chat", (e) => {
  const ev = { id: e.lastEventId, data: e.data };
  events.push(ev);
  out({ type: "event", ...ev });
  if (events.length >= count) {
    es.close();
    out({ type: "done", events, opens, errors });
    process.exit(0);
  }
});

setTimeout(() => {
  out({ type: "timeout", events, opens, errors });
  process.exit(2);
}, 60_000);
