"""The work of ``yof-darknet serve``: find the model and the runtime, build the site, listen.

demo = start(ServeOptions(model=Path("model.onnx"), port=0))
print(demo.server.url)
demo.server.serve_forever()
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from yof_darknet.serve.options import ServeOptions
from yof_darknet.serve.runtime import Runtime, find_runtime
from yof_darknet.serve.server import DemoServer
from yof_darknet.serve.site import Model, build_site, resolve_model


@dataclass
class Demo:
    server: DemoServer
    model: Model
    runtime: Runtime

    def ssh_hint(self) -> str:
        """How to open the page from another machine through an ssh tunnel."""
        port = self.server.port
        return (
            f"from your computer: ssh -L {port}:127.0.0.1:{port} {socket.gethostname()}, then "
            f"open http://localhost:{port}/"
        )


def start(options: ServeOptions, verbose: bool = False) -> Demo:
    """Bind the server (not yet serving: call ``demo.server.serve_forever()``)."""
    runtime = find_runtime()
    model = resolve_model(options)
    routes = build_site(options, runtime, model)
    return Demo(DemoServer(routes, options.host, options.port, verbose), model, runtime)
