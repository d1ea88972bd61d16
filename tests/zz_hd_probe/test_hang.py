from __future__ import annotations
import asyncio, sys, traceback
import pytest
from tests.server.conftest import in_process
from tests.support.device import BareDevice, ACCOUNTS

@pytest.mark.parametrize("n", range(6))
async def test_hang(tmp_path, n) -> None:
    cm = in_process(tmp_path / "r.db")
    relay = await cm.__aenter__()
    d = BareDevice()
    r = await d.call(relay.http, "POST", ACCOUNTS, d.registration(handle=""))
    print(r.status_code)
    t = asyncio.create_task(cm.__aexit__(None, None, None))
    done, _ = await asyncio.wait({t}, timeout=10)
    if not done:
        for task in asyncio.all_tasks():
            print("TASK", task, file=sys.stderr)
            c = task.get_coro()
            while c is not None:
                f = getattr(c, "cr_frame", None) or getattr(c, "ag_frame", None) or getattr(c, "gi_frame", None)
                if f is not None:
                    print("   ", f.f_code.co_filename, f.f_lineno, f.f_code.co_name, file=sys.stderr)
                nxt = getattr(c, "cr_await", None) or getattr(c, "ag_await", None) or getattr(c, "gi_yieldfrom", None)
                if nxt is None:
                    print("    awaits", c, file=sys.stderr)
                c = nxt
        raise AssertionError("hang")
