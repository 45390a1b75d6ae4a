// A webhook receiver that verifies Sapient's deliveries with the
// unmodified standardwebhooks library (Standard Webhooks' own reference
// implementation), not with Sapient's code. It listens on 127.0.0.1:PORT
// (0 picks one), prints {"listening": port} once, then one JSON line per
// request: {"ok": true, "id", "timestamp", "event"} when the signature
// verifies (answered 204), {"ok": false, "error"} when not (answered 400).
// WEBHOOK_SECRET is the endpoint's signing secret (whsec_...).
import http from "node:http";
import { Webhook } from "standardwebhooks";

const wh = new Webhook(process.env.WEBHOOK_SECRET);
const port = Number(process.env.PORT || 0);

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    try {
      const event = wh.verify(body, req.headers);
      console.log(JSON.stringify({
        ok: true,
        id: req.headers["webhook-id"],
        timestamp: req.headers["webhook-timestamp"],
        event,
      }));
      res.writeHead(204).end();
    } catch (err) {
      console.log(JSON.stringify({ ok: false, error: String(err && err.message || err) }));
      res.writeHead(400).end();
    }
  });
});
server.listen(port, "127.0.0.1", () => {
  console.log(JSON.stringify({ listening: server.address().port }));
});
process.on("SIGTERM", () => process.exit(0));
