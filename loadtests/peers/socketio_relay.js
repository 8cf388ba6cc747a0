// The Node socket.io relay the side-by-side benchmark compares against: a bare relay of the same vitals message
// through the same Redis (@socket.io/redis-adapter). No validation, no scores, no storage: each message goes to its
// destination ED's room and to the dispatchers' room, and the sender is acked once it has.
// Run by loadtests.sidebyside with socket.io installed into its own folder (never a project dependency):
// NODE_PATH=<folder>/node_modules PORT=... REDIS_URL=... node socketio_relay.js
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const pub = createClient({ url: process.env.REDIS_URL });
const sub = pub.duplicate();
Promise.all([pub.connect(), sub.connect()]).then(() => {
  const io = new Server({ adapter: createAdapter(pub, sub, { key: "bench-socketio-node" }), transports: ["websocket"],
                          pingInterval: 25000, pingTimeout: 60000 });
  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => { socket.join(room); if (ack) ack("ok"); });
    socket.on("vitals", (data, ack) => {
      io.to("hospital:" + data.hospital).to("dispatch").emit("vitals", data);
      if (ack) ack("ok");
    });
  });
  io.listen(Number(process.env.PORT));
});
