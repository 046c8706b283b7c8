"""``trustlane demo``: a three-node federation on loopback, and the story it exists for.

Starts EU, US and JP nodes as real processes over HTTPS (a throwaway CA, a SQLite database
each, in a temporary folder or ``--data-dir``) and walks the story in
:mod:`node.demo.story`, narrating each step; ends with a summary table (``--json``: the
summary as JSON on stdout, the narration on stderr). Exit 0 when every step went as the
story says, 1 with a one-line reason otherwise. ``--keep-running`` leaves the federation up
until Ctrl-C and prints the URLs and admin tokens.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from node.cli._io import EXIT_FAILED, EXIT_OK, fail
from node.demo.nodes import DemoError
from node.demo.story import Federation, Row, Story


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` command."""
    demo = sub.add_parser(
        "demo", help="run a three-node federation on loopback and walk the whole story"
    )
    demo.add_argument(
        "--data-dir", help="folder for the three nodes (default: a temporary one, removed)"
    )
    demo.add_argument("--keep-running", action="store_true", help="leave the nodes up until Ctrl-C")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.set_defaults(func=_demo)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _table(rows: list[Row], seconds: float) -> str:
    width = max(len(r.step) for r in rows)
    lines = ["", "== Summary", f"   {'step':<{width}}  result  detail"]
    for row in rows:
        lines.append(f"   {row.step:<{width}}  {'ok' if row.ok else 'FAILED':<6}  {row.detail}")
    lines.append(f"   {len(rows)} steps in {seconds:.1f} s")
    return "\n".join(lines)


def _demo(args: argparse.Namespace) -> int:
    if args.data_dir is not None:
        root = Path(args.data_dir)
        if root.exists() and not root.is_dir():
            fail(f"{root}: not a folder; give an empty or new folder for the demo nodes")
        if root.exists() and any(root.iterdir()):
            fail(f"{root}: not empty; give an empty or new folder for the demo nodes")
        temporary = None
    else:
        temporary = tempfile.mkdtemp(prefix="trustlane-demo-")
        root = Path(temporary)
    narration = sys.stderr if args.json else sys.stdout
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    federation = Federation.create(root)
    story = Story(federation, narration)
    started = time.monotonic()
    code = EXIT_OK
    try:
        print("trustlane demo: three customs administrations on loopback", file=narration)
        print(f"   nodes' folders under {root}", file=narration)
        story.run()
        seconds = time.monotonic() - started
        if args.json:
            summary = {
                "ok": True,
                "seconds": round(seconds, 1),
                "steps": [r.to_json() for r in story.rows],
            }
            print(json.dumps(summary, indent=2))
        else:
            print(_table(story.rows, seconds))
        if args.keep_running:
            _keep_running(federation)
    except DemoError as e:
        print(f"trustlane: error: demo failed: {e}", file=sys.stderr)
        if story.rows:
            print(_table(story.rows, time.monotonic() - started), file=narration)
        for node in federation.nodes.values():
            if node.log_path.exists():
                print(f"   {node.code} log: {node.log_path}", file=sys.stderr)
        temporary = None  # keep the folder: the logs say what went wrong
        code = EXIT_FAILED
    except KeyboardInterrupt:
        print("trustlane: interrupted; stopping the nodes", file=sys.stderr)
        code = EXIT_FAILED if not args.keep_running else EXIT_OK
    finally:
        federation.stop()
        signal.signal(signal.SIGTERM, previous)
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    return code


def _keep_running(federation: Federation) -> None:
    print("\nThe federation stays up; Ctrl-C stops it.", file=sys.stderr)
    for node in federation.nodes.values():
        print(
            f"   {node.code.upper()}  console {node.base_url}/console/  "
            f"admin token {node.admin_token}",
            file=sys.stderr,
        )
    print(
        f"   CA bundle {federation.root / 'demo-ca.pem'} (import it into the browser to open "
        "the consoles without a certificate warning; log in with the admin token)",
        file=sys.stderr,
    )
    while all(node.running for node in federation.nodes.values()):
        time.sleep(1)
    raise DemoError("a node stopped")
