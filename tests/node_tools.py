"""Node packages the suite runs against the server (tests/node/package.json, pinned by its lock),
installed once per checkout with `npm ci` the first time a test needs them."""

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

NODE = Path(__file__).resolve().parent / "node"
INSTALLED = NODE / "node_modules" / ".package-lock.json"


async def installed() -> Path:
    """The folder of the Node tools, installed from the lock if they are not yet."""
    lock = (NODE / "package-lock.json").read_bytes()
    if not INSTALLED.exists() or _locked(INSTALLED.read_bytes()) != _locked(lock):
        npm = shutil.which("npm")
        assert npm is not None, (
            "Node.js and npm are needed: install them (apt-get install nodejs npm)"
        )
        process = await asyncio.create_subprocess_exec(
            npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", cwd=NODE
        )
        assert await process.wait() == 0, "npm ci failed in tests/node"
    return NODE


async def run(script: str, *arguments: str) -> Any:
    """Run `tests/node/<script>` with Node and return the JSON it prints."""
    folder = await installed()
    node = shutil.which("node")
    assert node is not None, "Node.js is needed"
    process = await asyncio.create_subprocess_exec(
        node, script, *arguments, cwd=folder, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, f"node {script} exited with {process.returncode}"
    return json.loads(output)


def _locked(lock: bytes) -> Any:
    """The packages a lock pins (npm's copy in node_modules omits the root entry)."""
    packages = json.loads(lock).get("packages", {})
    return {name: entry.get("version") for name, entry in packages.items() if name}
