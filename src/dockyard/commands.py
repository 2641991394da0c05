"""One function per CLI command: `cmd_<name>(args, env) -> ExitStatus`. Errors propagate to cli.main."""

from __future__ import annotations

from dockyard.status import ExitStatus


def engine_url(args) -> str | None:
    return args.engine[0] if getattr(args, "engine", None) else None


def cmd_doctor(args, env) -> ExitStatus:
    from dockyard import engine

    console = env.console()
    findings = engine.doctor(engine_url(args))
    for finding in findings:
        mark = "[green]✓[/]" if finding.ok else ("[red]✗[/]" if finding.required else "[yellow]![/]")
        console.print(f"{mark} {finding.name}: {finding.detail}")
        if not finding.ok and finding.fix:
            console.print(f"    → {finding.fix}")
    blocking = [finding for finding in findings if finding.required and not finding.ok]
    if any(finding.name == "engine" for finding in blocking):
        return ExitStatus.ENGINE_UNAVAILABLE
    return ExitStatus.ERROR if blocking else ExitStatus.OK


def cmd_images(args, env) -> ExitStatus:
    from rich.table import Table

    from dockyard import baseimages, engine

    console = env.console(stderr=False)
    client = engine.client(engine_url(args))
    with console.status("checking base images…") as status:
        def progress(image: str, message: str) -> None:
            status.update(f"{image}: {message}")

        results = baseimages.ensure(client, progress=progress, force=args.force)
    table = Table("image", "action", "seconds", title="Base images")
    for result in results:
        table.add_row(result.image, result.action, f"{result.seconds:.1f}")
    console.print(table)
    return ExitStatus.OK


def cmd_clean(args, env) -> ExitStatus:
    from dockyard import sandbox

    removed = sandbox.sweep(engine_url(args), everything=args.all)
    left = sandbox.leftovers(engine_url(args))
    summary = ", ".join(f"{count} {kind}(s)" for kind, count in removed.items())
    print(f"removed {summary}", file=env.stdout)
    if any(left.values()) and args.all:
        print("still present: " + ", ".join(f"{n} {k}(s)" for k, n in left.items() if n), file=env.stderr)
        return ExitStatus.ERROR
    return ExitStatus.OK
