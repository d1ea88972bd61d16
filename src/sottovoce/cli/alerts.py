"""Security alerts in a red box: shown by every person-facing command
(:func:`sottovoce.cli.session.with_client`), so a ghost device or a swapped key is
seen at once whatever the person was doing."""

from __future__ import annotations

from rich.panel import Panel
from rich.text import Text

from sottovoce.cli.render import err, out, plain
from sottovoce.client import Client
from sottovoce.client.alerts import Alert


def alert_box(alerts: list[Alert]) -> Panel:
    body = Text()
    for alert in alerts:
        body.append_text(plain(alert.address, "bold"))
        body.append(": ")
        body.append_text(plain(alert.detail))
        body.append("\n")
    attacks = [a for a in alerts if a.is_attack]
    if any(a.kind != "foreign-log" for a in attacks):
        body.append(
            "The server served keys or devices that their owner did not sign or that the "
            "transparency log does not hold. Nothing was encrypted to them. Compare safety "
            "numbers (`sottovoce verify ADDRESS`) before trusting this contact again.",
            "bold",
        )
    elif attacks:
        body.append(
            "A contact's device follows another transparency log than this device: one of "
            "you may be shown a different log. Compare safety numbers "
            "(`sottovoce verify ADDRESS`) with them.",
            "bold",
        )
    else:
        body.append(
            "Your account's devices changed. If you did not link or remove a device, "
            "remove it now with `sottovoce device remove ID`."
        )
    return Panel(
        body,
        title="security alert" if attacks else "your devices changed",
        border_style="bold red",
        title_align="left",
    )


def show_security_alerts(client: Client, *, to_stderr: bool = False) -> None:
    """Print, then dismiss, the alerts this device has not shown yet."""
    alerts = client.security_alerts()
    if alerts:
        (err if to_stderr else out).print(alert_box(alerts))
        client.dismiss_alerts(alerts)
