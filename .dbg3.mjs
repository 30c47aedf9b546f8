import net from "node:net";
function talk(name, parts, { halfClose = true, gap = 0 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(18080, "127.0.0.1");
    let out = "";
    s.on("data", (d) => (out += d));
    s.on("close", () => resolve(`${name}: ${JSON.stringify(out.split("\r\n")[0])} ${out.endsWith("}") ? out.slice(out.lastIndexOf("\n") + 1) : ""}`));
    s.on("error", () => {});
    (async () => {
      for (const p of parts) { s.write(p); if (gap) await new Promise((r) => setTimeout(r, gap)); }
      if (halfClose) s.end();
    })();
    setTimeout(() => s.destroy(), 2000);
  });
}
console.log(await talk("short HTTP/1.0 + half-close", ["GET / HTTP/1.0\r\n\r\n"]));
console.log(await talk("trickled POST, byte by byte", [..."POST /grpc.health.v1.Health/Check HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"], { halfClose: false, gap: 1 }));
console.log(await talk("PRI-prefix then HTTP/1", ["PRI * HTTP/1.1\r\n\r\n"]));
console.log(await talk("nothing, then close", []));
console.log(await talk("preface split", ["PRI * HTTP/2.0\r\n", "\r\nSM\r\n\r\n"], { halfClose: true, gap: 50 }));
