/** `deno task serve`: flag parsing; the server is `recipe/page_server.ts`. */
import { startServer } from "../recipe/page_server.ts";

if (import.meta.main) {
  const { parseArgs } = await import("node:util");
  try {
    const { values } = parseArgs({
      args: Deno.args,
      options: {
        models: { type: "string" },
        port: { type: "string", default: "8000" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(
        "usage: deno task serve [--models DIR] [--port N]\n" +
          "  serves the browser page on http://127.0.0.1:N/ (default 8000; 0 = any free port)\n" +
          "  --models DIR  a folder with config.json, autoencoder.safetensors and diffusion_unet.safetensors\n" +
          "                (the demo writes runs/demo/models), opened by http://127.0.0.1:N/?models=/models/",
      );
      Deno.exit(0);
    }
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new Error(`--port must be an integer 0..65535, got "${values.port}"`);
    }
    const server = await startServer({ models: values.models, port });
    Deno.addSignalListener("SIGINT", async () => {
      await server.shutdown();
      Deno.exit(0);
    });
  } catch (e) {
    console.error(`serve: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
