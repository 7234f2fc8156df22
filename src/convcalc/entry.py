"""The console script. ``convcalc shape ...`` is a shell one-liner run in loops (and ``convcalc
net`` a design-review script step), so a plainly well formed shape or net query runs without
importing typer (most of a query's start-up): options.py's table parses it and commands.py runs
it. Anything else, ``--help``, completion, and every usage error
(which prints typer's usage lines) goes to the typer app in cli.py, which reads the same table.
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
    typer."""
    from convcalc import options

    table = {"shape": options.SHAPE, "net": options.NET, "trace": options.TRACE}[argv[0]]
    values = options.parse_fast(argv[1:], table)
    if values is None:
        return None
    from convcalc import commands
    from convcalc.errors import ConvcalcError, MalformedInputError, OutputError
    from convcalc.output import report_error, to_file, wants_json

    try:
        with to_file(values.pop("output_file", None)):
            if argv[0] == "net":
                return commands.net(**values)
            if argv[0] == "trace":
                commands.trace(**values)
            else:
                commands.shape(**values)
            return 0
    except OutputError as error:
        report_error(str(error), error.exit_code, False, to_stderr=True)
        return error.exit_code
    except MalformedInputError:
        return None  # typer reports it after its usage lines
    except ConvcalcError as error:  # an invalid layer: exit 1, no usage lines in either path
        report_error(str(error), error.exit_code, wants_json(argv))
        return error.exit_code
    except Exception:  # noqa: BLE001 - typer's path runs it again and reports a bug as a bug
        return None


if __name__ == "__main__":
    main()
