"""The console script. ``convcalc shape ...`` is a shell one-liner run in loops (and ``convcalc
net`` a design-review script step), so a plainly well formed shape or net query runs without
importing typer (most of a query's start-up): options.py's table parses it and commands.py runs
it. Anything else, ``--help``, completion, and command lines that are not plainly well formed,
goes to the typer app in cli.py, which reads the same table.

A command runs once, whichever path parses it: once the fast path has started a command it
reports every outcome itself (a usage error with typer's usage lines, fetched only then), so
standard input is read once and nothing is done twice.
"""

from __future__ import annotations

import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] in (["shape"], ["net"], ["trace"]):
        code = _fast(argv)
        if code is not None:
            sys.exit(code)
    from convcalc.cli import main as typer_main

    typer_main()


def _fast(argv: list[str]) -> int | None:
    """The exit status of a shape, trace or net query run without typer, or None to hand it to
    typer (before anything has run)."""
    from convcalc import options

    table = {"shape": options.SHAPE, "net": options.NET, "trace": options.TRACE}[argv[0]]
    values = options.parse_fast(argv[1:], table)
    if values is None:
        return None
    from convcalc import commands
    from convcalc.errors import ConvcalcError, OutputError
    from convcalc.output import report_bug, report_error, to_file, wants_json
    from convcalc.requests import Command, build, inputs

    try:
        output_file = values.pop("output_file", None)
        request = build(Command(argv[0]), values)
        with to_file(output_file, inputs(request)):
            return commands.run(request)
    except ConvcalcError as error:
        usage = ""
        if error.usage:
            from convcalc.cli import usage_lines

            usage = usage_lines(argv[0])
        to_stderr = isinstance(error, OutputError)  # stdout is what failed
        report_error(str(error), error.exit_code, wants_json(argv), usage, to_stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - a bug: one line, exit 3
        return report_bug(error)


if __name__ == "__main__":
    main()
