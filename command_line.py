"""What the three entry points share on the command line: --help, --helpshort and --helpfull
answer with exit status 0 (absl's own exit with 1, as for an error).

    app.run(main, flags_parser=command_line.parse_flags)
"""

from absl import app

SHORT_HELP = ("--help", "-help", "--helpshort", "-helpshort", "-?")
FULL_HELP = ("--helpfull", "-helpfull")


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parser (a misspelt flag or value: a message and exit status 1), except that a
    request for help prints it and exits with status 0."""
    for argument in argv[1:]:
        if argument == "--":
            break
        if argument in SHORT_HELP + FULL_HELP:
            app.usage(shorthelp=argument in SHORT_HELP, writeto_stdout=True, exitcode=0)
    return app.parse_flags_with_usage(argv)
